"""What /readyz checks: whether this process should be sent new clients now.

The database is asked over a connection of its own, opened for the check and closed after it,
so the answer is about the database now: a pool holding a connection the server has since
closed does not make the check fail, and a pool of live connections does not hide a database
that stopped accepting new ones. The schema must be at the newest revision this code knows,
and the process must not be shutting down: on SIGTERM readiness fails first, so that a load
balancer stops sending new sockets before they are closed with 1001."""

from __future__ import annotations

import asyncio

from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from migrations import alembic_config
from server.errors import database_unavailable

CHECK_TIMEOUT_SECONDS = 3.0


class NotReady(Exception):
    """The reason is the message; it names no host, user or driver."""


class Readiness:
    def __init__(self, database_url: str) -> None:
        self.draining = False
        self._probe = create_async_engine(database_url, poolclass=NullPool)
        self._heads = frozenset(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())

    async def check(self) -> None:
        """Raises NotReady naming what is wrong."""
        if self.draining:
            raise NotReady("shutting down")
        try:
            versions = await asyncio.wait_for(self._schema_versions(), CHECK_TIMEOUT_SECONDS)
        except TimeoutError:
            raise NotReady("database unavailable") from None
        except Exception as exc:
            if database_unavailable(exc):
                raise NotReady("database unavailable") from None
            raise  # a fault of ours stays a logged 500, not an outage
        if versions != self._heads:
            raise NotReady("database schema is not at the newest revision: run `hubbub migrate`")

    async def _schema_versions(self) -> frozenset[str]:
        async with self._probe.connect() as conn:
            if not await conn.run_sync(lambda sync_conn: inspect(sync_conn).has_table("alembic_version")):
                return frozenset()  # never migrated
            return frozenset(await conn.scalars(text("SELECT version_num FROM alembic_version")))

    async def close(self) -> None:
        await self._probe.dispose()
