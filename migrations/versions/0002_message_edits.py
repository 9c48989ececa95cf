"""Message edits.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

A group's own edit window, the edit time and change seq of a message, the versions an edit
replaced (message_edits) and one row per change to a sent message (message_changes), which
catch-up by change seq reads.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables import MYSQL_TABLE_OPTIONS, Id, Millis

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("edit_window_seconds", sa.Integer(), nullable=True, comment="NULL: the server's setting"))
    op.add_column("conversations", sa.Column("last_change_seq", sa.BigInteger(), server_default="0", nullable=False))
    op.add_column("messages", sa.Column("edited_at", Millis, nullable=True))
    op.add_column(
        "messages",
        sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False, comment="the conversation's change seq of its latest change"),
    )
    op.create_table(
        "message_edits",
        sa.Column("message_id", Id, nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False, comment="1 is the original"),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", Millis, nullable=False, comment="when this version was written"),
        sa.PrimaryKeyConstraint("message_id", "version", name=op.f("pk_message_edits")),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name=op.f("fk_message_edits_message_id_messages"), ondelete="CASCADE"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "message_changes",
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("change_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", Id, nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "change_seq", name=op.f("pk_message_changes")),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name=op.f("fk_message_changes_conversation_id_conversations"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name=op.f("fk_message_changes_message_id_messages"), ondelete="CASCADE"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index(op.f("ix_message_changes_message_id"), "message_changes", ["message_id"])


def downgrade() -> None:
    for table in ("message_changes", "message_edits"):
        op.drop_table(table)
    op.drop_column("messages", "change_seq")
    op.drop_column("messages", "edited_at")
    op.drop_column("conversations", "last_change_seq")
    op.drop_column("conversations", "edit_window_seconds")
