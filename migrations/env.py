"""Alembic's environment: runs the revisions on the database named by the config's
`sqlalchemy.url` (see `migrations.alembic_config`), through the same async drivers as the
server."""

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from storage.tables import metadata

config = context.config
target_metadata = metadata
database_url = config.get_main_option("sqlalchemy.url")

configure_options = {
    "target_metadata": target_metadata,
    "compare_type": True,
    # SQLite's ALTER TABLE can do little more than add a column; batch mode rebuilds the table.
    "render_as_batch": make_url(database_url).get_backend_name() == "sqlite",
}


def run_migrations_offline() -> None:
    """Writes the SQL out instead of running it: `command.upgrade(config, "head", sql=True)`."""
    context.configure(url=database_url, literal_binds=True, **configure_options)
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, **configure_options)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    connectable = create_async_engine(database_url, poolclass=pool.NullPool)
    async with connectable.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await connectable.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_async_migrations())
