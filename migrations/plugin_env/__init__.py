"""Alembic's environment for plugin schemas (migrations.plugins)."""
