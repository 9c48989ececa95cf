"""The schema's history: alembic revisions in `versions/`, run by the async `env.py`.

There is no alembic.ini; `alembic_config` builds the configuration for a database URL, so the
whole alembic API is at hand without one. Writing the next revision, for instance:

    from alembic import command
    command.revision(alembic_config(url), "add x", autogenerate=True, rev_id="0002")
"""

from pathlib import Path

from alembic import command
from alembic.config import Config

SCRIPT_LOCATION = Path(__file__).parent


def alembic_config(database_url: str) -> Config:
    """An alembic configuration whose env.py migrates the database at `database_url`."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    # Config values go through configparser interpolation, which would choke on the `%` of a
    # URL-encoded password.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database at `database_url` up to `revision`.

    env.py runs its own event loop (asyncio.run), so this cannot be called from a thread whose
    loop is running: async code calls it in a worker thread, `await asyncio.to_thread(upgrade, url)`.
    """
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Migrate the database at `database_url` down to `revision` ("base": nothing left).

    Like `upgrade`, it runs its own event loop: from async code, call it in a worker thread.
    """
    command.downgrade(alembic_config(database_url), revision)
