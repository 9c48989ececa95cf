"""The plugin's alembic revisions (entry point group hubbub.migrations), recorded in the
server's database in the table alembic_version_pins. `hubbub migrate` runs them."""
