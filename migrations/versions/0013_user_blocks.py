"""Blocking.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-09

A user blocks another (`user_blocks`, keyed by the pair, so that the check on a direct send is
one primary-key lookup): the blocked user can no longer start or write in a direct conversation
with the blocker, nor see the blocker's presence or typing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables import MYSQL_TABLE_OPTIONS, Id, Millis

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_blocks",
        sa.Column("blocker_id", Id, nullable=False),
        sa.Column("blocked_id", Id, nullable=False),
        sa.Column("created_at", Millis, nullable=False),
        sa.PrimaryKeyConstraint("blocker_id", "blocked_id", name=op.f("pk_user_blocks")),
        sa.ForeignKeyConstraint(["blocker_id"], ["users.id"], name=op.f("fk_user_blocks_blocker_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["blocked_id"], ["users.id"], name=op.f("fk_user_blocks_blocked_id_users"), ondelete="CASCADE"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index(op.f("ix_user_blocks_blocked_id"), "user_blocks", ["blocked_id"])


def downgrade() -> None:
    op.drop_table("user_blocks")
