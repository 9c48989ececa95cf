"""Plugin schemas. A plugin names a package holding its alembic revisions in the entry point
group `hubbub.migrations`, the entry named by the plugin's prefix:

    [project.entry-points."hubbub.migrations"]
    pins = "hubbub_pins.migrations"

Each plugin's revisions form a line of their own, recorded in a version table of their own,
`alembic_version_<prefix>`, beside the server's `alembic_version`. Why not a branch of the
server's history: the server's single head (tests/test_migrations.py) stays the server's; a
plugin can be installed, upgraded or removed without the server's history naming it (alembic
refuses to run at all when a revision recorded in its version table has no script, which a
shared table would do the day a plugin is uninstalled); and a plugin author writes ordinary
alembic revisions without knowing the server's revision ids. A plugin's tables must not
reference the server's with foreign keys: the server's migrations do not know about them.

`hubbub migrate` runs the server's migrations and then every enabled plugin's; `hubbub serve`
never does in production (only the embedded SQLite database migrates itself, as the server's
own schema does)."""

from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from alembic import command
from alembic.config import Config

from handlers.plugin_entry_points import load_enabled
from settings import Settings

ENTRY_POINT_GROUP = "hubbub.migrations"
PLUGIN_ENV = Path(__file__).parent / "plugin_env"


class PluginMigrationError(Exception):
    """A plugin's migrations cannot be found; the message names the entry point and its distribution."""


@dataclass(frozen=True, slots=True)
class PluginMigrations:
    name: str  # the plugin's prefix
    origin: str
    versions: Path

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.name}"


def load_plugin_migrations(settings: Settings, points: Iterable[EntryPoint] | None = None) -> list[PluginMigrations]:
    """The migrations of the plugins the settings enable (`plugins_autoload`, `plugins_enabled`), in name order."""
    points = entry_points(group=ENTRY_POINT_GROUP) if points is None else points
    found = []
    for entry in load_enabled(points, settings, kind="migrations", error=PluginMigrationError):
        locations = list(getattr(entry.value, "__path__", ()))
        if len(locations) != 1:
            raise PluginMigrationError(f"migrations {entry.name!r} from {entry.origin}: {entry.point.value!r} is not a package holding revision files")
        found.append(PluginMigrations(entry.name, entry.origin, Path(locations[0])))
    return found


def plugin_config(database_url: str, plugin: PluginMigrations) -> Config:
    config = Config()
    config.set_main_option("script_location", str(PLUGIN_ENV))
    config.set_main_option("path_separator", "os")  # a path holding a space stays one path
    config.set_main_option("version_locations", str(plugin.versions))
    config.set_main_option("version_table", plugin.version_table)
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_plugin(database_url: str, plugin: PluginMigrations, revision: str = "head") -> None:
    """Like `migrations.upgrade` (its own event loop: from async code, call it in a thread)."""
    command.upgrade(plugin_config(database_url, plugin), revision)


def downgrade_plugin(database_url: str, plugin: PluginMigrations, revision: str) -> None:
    command.downgrade(plugin_config(database_url, plugin), revision)


def upgrade_plugins(database_url: str, plugins: Iterable[PluginMigrations]) -> None:
    for plugin in plugins:
        upgrade_plugin(database_url, plugin)
