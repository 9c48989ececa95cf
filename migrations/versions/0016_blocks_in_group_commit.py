"""The group commit refuses blocked senders.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05

MySQL/MariaDB only: the group commit's procedure becomes version 3, which refuses a sender whom
the other member of a direct conversation blocked, under the conversation's lock (see
storage.procedures). SQLite's group commit checks the same in its own statements.
"""

from collections.abc import Sequence

from alembic import op

from storage.procedures import APPEND_BATCH_V2_DDL, APPEND_BATCH_V3_DDL, DROP_APPEND_BATCH_V2_DDL, DROP_APPEND_BATCH_V3_DDL

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "mysql":
        op.execute(APPEND_BATCH_V3_DDL)
        op.execute(DROP_APPEND_BATCH_V2_DDL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "mysql":
        op.execute(APPEND_BATCH_V2_DDL)
        op.execute(DROP_APPEND_BATCH_V3_DDL)
