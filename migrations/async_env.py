"""What an alembic env.py of this project does, the server's (migrations/env.py) and a plugin's
(migrations/plugin_env/env.py) alike: run the revisions on the database named by the config's
`sqlalchemy.url` through the server's async drivers, or write their SQL out in offline mode."""

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine


def run_migrations(**configure_options: Any) -> None:
    """Runs the revisions with `context.configure(**configure_options)`; called by an env.py."""
    database_url = context.config.get_main_option("sqlalchemy.url")
    # SQLite's ALTER TABLE can do little more than add a column; batch mode rebuilds the table.
    options = {**configure_options, "render_as_batch": make_url(database_url).get_backend_name() == "sqlite"}
    if context.is_offline_mode():
        _run_offline(database_url, options)
    else:
        asyncio.run(_run_online(database_url, options))


def _run_offline(database_url: str, options: dict[str, Any]) -> None:
    """Writes the SQL out instead of running it: `command.upgrade(config, "head", sql=True)`."""
    context.configure(url=database_url, literal_binds=True, **options)
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection, options: dict[str, Any]) -> None:
    context.configure(connection=connection, **options)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(database_url: str, options: dict[str, Any]) -> None:
    connectable = create_async_engine(database_url, poolclass=pool.NullPool)
    async with connectable.connect() as connection:
        await connection.run_sync(_run_on, options)
    await connectable.dispose()
