"""Mentions.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

The members a message mentions (`message_mentions`, written with the message) and a group's
`mentions_all` setting: 1, every member may mention @all; 0, the owner only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables import MYSQL_TABLE_OPTIONS, Id, TinyInt

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "conversations",
        sa.Column("mentions_all", TinyInt, nullable=False, server_default="1", comment="1: every member may @all; 0: the owner only"),
    )
    op.create_table(
        "message_mentions",
        sa.Column("message_id", Id, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", "user_id", name=op.f("pk_message_mentions")),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name=op.f("fk_message_mentions_message_id_messages"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_message_mentions_user_id_users")),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name=op.f("fk_message_mentions_conversation_id_conversations"), ondelete="CASCADE"
        ),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index(op.f("ix_message_mentions_user_conversation_seq"), "message_mentions", ["user_id", "conversation_id", "seq"])
    op.create_index(op.f("ix_message_mentions_conversation_id"), "message_mentions", ["conversation_id"])


def downgrade() -> None:
    op.drop_table("message_mentions")
    op.drop_column("conversations", "mentions_all")
