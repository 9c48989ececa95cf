"""What /readyz checks: whether this process should be sent new clients now.

The database is asked over a connection of its own, opened for the check and closed after it,
so the answer is about the database now: a pool holding a connection the server has since
closed does not make the check fail, and a pool of live connections does not hide a database
that stopped accepting new ones. The schema must be at the newest revision this code knows,
and so must every enabled plugin's (in its own version table; `serve` migrates none of them
outside the embedded database), and the process must not be shutting down: on SIGTERM readiness fails first, so that a load
balancer stops sending new sockets before they are closed with 1001."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from migrations import alembic_config
from migrations.plugins import PluginMigrations, plugin_config
from server.errors import database_unavailable


class NotReady(Exception):
    """The reason is the message; it names no host, user or driver."""


class Readiness:
    def __init__(self, database_url: str, plugins: Iterable[PluginMigrations] = (), timeout_seconds: float = 3.0) -> None:
        """A database that has not answered within `timeout_seconds` (`database_timeout_seconds`)
        is unavailable, whether it refused or stopped answering."""
        self.draining = False
        self._timeout = timeout_seconds
        self._probe = create_async_engine(database_url, poolclass=NullPool)
        self._heads = frozenset(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())
        # version table → (plugin, its newest revisions)
        self._plugin_heads = {
            plugin.version_table: (plugin.name, frozenset(ScriptDirectory.from_config(plugin_config(database_url, plugin)).get_heads())) for plugin in plugins
        }

    async def check(self) -> None:
        """Raises NotReady naming what is wrong."""
        if self.draining:
            raise NotReady("shutting down")
        try:
            versions = await asyncio.wait_for(self._schema_versions(), self._timeout)
            plugin_versions = {table: await asyncio.wait_for(self._schema_versions(table), self._timeout) for table in self._plugin_heads}
        except TimeoutError:
            raise NotReady("database unavailable") from None
        except Exception as exc:
            if database_unavailable(exc):
                raise NotReady("database unavailable") from None
            raise  # a fault of ours stays a logged 500, not an outage
        if versions != self._heads:
            raise NotReady("database schema is not at the newest revision: run `hubbub migrate`")
        for table, (plugin, heads) in self._plugin_heads.items():
            if plugin_versions[table] != heads:
                raise NotReady(f"the schema of plugin {plugin} is not at its newest revision: run `hubbub migrate`")

    async def _schema_versions(self, version_table: str = "alembic_version") -> frozenset[str]:
        """`version_table` is alembic_version or a plugin's (a checked prefix: no quoting needed)."""
        async with self._probe.connect() as conn:
            if not await conn.run_sync(lambda sync_conn: inspect(sync_conn).has_table(version_table)):
                return frozenset()  # never migrated
            return frozenset(await conn.scalars(text(f"SELECT version_num FROM {version_table}")))

    async def close(self) -> None:
        await self._probe.dispose()
