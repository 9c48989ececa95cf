"""Alembic's environment for one plugin's schema: the plugin's own revisions (its
`version_locations`), recorded in a version table of its own (`alembic_version_<prefix>`), on
the server's database through the server's async drivers. See migrations.plugins."""

from alembic import context

from migrations.async_env import run_migrations

run_migrations(version_table=context.config.get_main_option("version_table"))
