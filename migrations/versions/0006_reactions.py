"""Reactions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

An emoji reaction per user per emoji per message (`message_reactions`). The emoji column
compares byte for byte on MySQL/MariaDB, where utf8mb4_unicode_ci gives most emoji one weight.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from storage.tables import MYSQL_TABLE_OPTIONS, Id, Millis

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_reactions",
        sa.Column("message_id", Id, nullable=False),
        sa.Column("emoji", sa.String(64).with_variant(mysql.VARCHAR(64, collation="utf8mb4_bin"), "mysql", "mariadb"), nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("created_at", Millis, nullable=False),
        sa.PrimaryKeyConstraint("message_id", "emoji", "user_id", name=op.f("pk_message_reactions")),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name=op.f("fk_message_reactions_message_id_messages"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_message_reactions_user_id_users")),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name=op.f("fk_message_reactions_conversation_id_conversations"), ondelete="CASCADE"
        ),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index(op.f("ix_message_reactions_conversation_id"), "message_reactions", ["conversation_id"])


def downgrade() -> None:
    op.drop_table("message_reactions")
