"""A procedure of its own for a group commit of one message.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05

MySQL/MariaDB only: `hubbub_append_one_v1` (storage.procedures.APPEND_ONE) stores a batch of one
message, the usual batch at ordinary load, without expanding a JSON document. Nothing changes on
SQLite, whose group commit runs its statements one by one.
"""

from collections.abc import Sequence

from alembic import op

from storage.procedures import APPEND_ONE_DDL, DROP_APPEND_ONE_DDL

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "mysql":
        op.execute(APPEND_ONE_DDL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "mysql":
        op.execute(DROP_APPEND_ONE_DDL)
