"""Alembic's environment: runs the revisions on the database named by the config's
`sqlalchemy.url` (see `migrations.alembic_config`), through the same async drivers as the
server."""

from migrations.async_env import run_migrations
from storage.tables import metadata

run_migrations(target_metadata=metadata, compare_type=True)
