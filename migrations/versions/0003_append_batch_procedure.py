"""The group commit's stored procedure.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05

MySQL/MariaDB only: `storage.procedures.APPEND_BATCH_V1` stores and commits a batch of text
messages in one round trip (issue #12). SQLite has no stored procedures; its group commit runs
statement by statement. The procedure runs with its caller's privileges (SQL SECURITY
INVOKER); creating it needs CREATE ROUTINE.
"""

from collections.abc import Sequence

from alembic import op

from storage.procedures import APPEND_BATCH_V1_DDL, DROP_APPEND_BATCH_V1_DDL

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "mysql":
        op.execute(APPEND_BATCH_V1_DDL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "mysql":
        op.execute(DROP_APPEND_BATCH_V1_DDL)
