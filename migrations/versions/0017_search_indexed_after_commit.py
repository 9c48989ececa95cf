"""Search terms are written after the commit, off the send path.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05

MySQL/MariaDB only: the group commit's procedure becomes version 4, version 3 without the
`message_search` insert; the server's search indexer (handlers.services.search_indexer) writes
the terms of what was committed. SQLite's group commit stops writing them in its own statements.
"""

from collections.abc import Sequence

from alembic import op

from storage.procedures import APPEND_BATCH_DDL, APPEND_BATCH_V3_DDL, DROP_APPEND_BATCH_DDL, DROP_APPEND_BATCH_V3_DDL

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "mysql":
        op.execute(APPEND_BATCH_DDL)
        op.execute(DROP_APPEND_BATCH_V3_DDL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "mysql":
        op.execute(APPEND_BATCH_V3_DDL)
        op.execute(DROP_APPEND_BATCH_DDL)
