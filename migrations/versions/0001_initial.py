"""The initial schema.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Seed 000's users and messages, conversations and their members, files, revoked tokens.

The types and server defaults are the helpers of storage.tables, so that each dialect gets the
very DDL the models describe (BIGINT UNSIGNED, TINYINT, DATETIME(3), CURRENT_TIMESTAMP(3) ON
UPDATE ... on MySQL; INTEGER ids and NOCASE names on SQLite). That makes those helpers part of
history: changing one means a new revision, not a different meaning for this one. Names are
spelled out and wrapped in op.f() for the same reason: a later change to the naming convention
must not rename what this revision creates.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables import MYSQL_TABLE_OPTIONS, Id, Millis, TinyInt, case_insensitive, now_ms, now_ms_on_update

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("username", case_insensitive(32), nullable=False),
        sa.Column("email", case_insensitive(128), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("nickname", sa.String(64), nullable=True),
        sa.Column("avatar", sa.String(255), nullable=True),
        sa.Column("status", TinyInt, server_default="1", nullable=True, comment="1 normal, 0 disabled"),
        sa.Column("created_at", Millis, server_default=now_ms(), nullable=False),
        sa.Column("updated_at", Millis, server_default=now_ms_on_update(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "conversations",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("type", TinyInt, nullable=False, comment="1 direct, 2 group"),
        sa.Column("name", sa.String(64), nullable=True),
        sa.Column("owner_id", Id, nullable=True),
        sa.Column("direct_low_id", Id, nullable=True),
        sa.Column("direct_high_id", Id, nullable=True),
        sa.Column("last_seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("recall_window_seconds", sa.Integer(), nullable=True, comment="NULL: the server's setting"),
        sa.Column("created_at", Millis, server_default=now_ms(), nullable=False),
        sa.Column("updated_at", Millis, server_default=now_ms(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint("direct_low_id", "direct_high_id", name=op.f("uq_conversations_direct_low_id_direct_high_id")),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_conversations_owner_id_users")),
        sa.ForeignKeyConstraint(["direct_low_id"], ["users.id"], name=op.f("fk_conversations_direct_low_id_users")),
        sa.ForeignKeyConstraint(["direct_high_id"], ["users.id"], name=op.f("fk_conversations_direct_high_id_users")),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "files",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("owner_id", Id, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mime", sa.String(127), nullable=False),
        sa.Column("storage_key", sa.String(128), nullable=False),
        sa.Column("created_at", Millis, server_default=now_ms(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_files_owner_id_users")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_files_storage_key")),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index(op.f("ix_files_owner_id"), "files", ["owner_id"])
    op.create_table(
        "conversation_members",
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("role", TinyInt, server_default="1", nullable=False, comment="1 member, 2 owner"),
        sa.Column("last_read_seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("joined_at", Millis, server_default=now_ms(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "user_id", name=op.f("pk_conversation_members")),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_members_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_conversation_members_user_id_users")),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index(op.f("ix_conversation_members_user_id"), "conversation_members", ["user_id"])
    op.create_table(
        "messages",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("sender_id", Id, nullable=False),
        sa.Column("receiver_id", Id, nullable=True, comment="the peer of a direct message; NULL in a group"),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("msg_type", TinyInt, server_default="1", nullable=False, comment="1 text, 2 image, 3 file"),
        sa.Column("status", TinyInt, server_default="1", nullable=False, comment="1 unread, 2 read, 3 recalled"),
        sa.Column("created_at", Millis, server_default=now_ms(), nullable=False),
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("client_msg_id", sa.String(64), nullable=True),
        sa.Column("file_id", Id, nullable=True, comment="the file an image or file message carries"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("conversation_id", "seq", name=op.f("uq_messages_conversation_id_seq")),
        sa.UniqueConstraint("sender_id", "client_msg_id", name=op.f("uq_messages_sender_id_client_msg_id")),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_messages_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"], name=op.f("fk_messages_file_id_files")),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("idx_sender_receiver", "messages", ["sender_id", "receiver_id"])
    op.create_index("idx_created", "messages", ["created_at"])
    op.create_index(
        op.f("ix_messages_conversation_id_messages_status_messages_seq"),
        "messages",
        ["conversation_id", "status", "seq"],
    )
    op.create_index(op.f("ix_messages_file_id"), "messages", ["file_id"])
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(36), nullable=False),
        sa.Column("expires_at", Millis, nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_revoked_tokens")),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index(op.f("ix_revoked_tokens_expires_at"), "revoked_tokens", ["expires_at"])


def downgrade() -> None:
    # Each table takes its indexes along. Dropping an index first would fail on MySQL wherever
    # it is the one a foreign key relies on.
    for table in ("revoked_tokens", "messages", "conversation_members", "files", "conversations", "users"):
        op.drop_table(table)
