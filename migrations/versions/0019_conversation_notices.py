"""Conversation notices.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05

`conversation_notices`: what happened to a group besides its messages (created, members added,
removed or leaving, renamed, roles, a new owner), kept so that history shows it among the
messages on every device. No seq of its own: it sits after the message `after_seq`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables import MYSQL_TABLE_OPTIONS, Id, Millis

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_notices",
        sa.Column("id", Id, nullable=False, autoincrement=True),
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("after_seq", sa.BigInteger(), nullable=False, comment="the conversation's last_seq when it happened"),
        sa.Column("kind", sa.String(16), nullable=False, comment="created, added, removed, left, renamed, role, owner"),
        sa.Column("actor_id", Id, nullable=False),
        sa.Column("subject_id", Id, nullable=True, comment="the member added, removed, promoted..."),
        sa.Column("data", sa.Text(), nullable=True, comment="JSON: the new name, the new role"),
        sa.Column("created_at", Millis, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_notices")),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name=op.f("fk_conversation_notices_conversation_id_conversations"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_conversation_notices_actor_id_users")),
        sa.ForeignKeyConstraint(["subject_id"], ["users.id"], name=op.f("fk_conversation_notices_subject_id_users")),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_conversation_notices_page", "conversation_notices", ["conversation_id", "after_seq", "id"])


def downgrade() -> None:
    op.drop_table("conversation_notices")
