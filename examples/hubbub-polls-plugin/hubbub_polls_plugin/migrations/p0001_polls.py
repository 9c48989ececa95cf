"""plugin_polls, plugin_poll_options, plugin_poll_votes: a poll per message, its options, one vote per user

Revision ID: p0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "p0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No foreign keys to the server's tables (its migrations do not know these): a poll is
    # keyed by its message's id, and the plugin's subscriber removes it with the message.
    op.create_table(
        "plugin_polls",
        sa.Column("message_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.current_timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("message_id"),
    )
    op.create_index("ix_plugin_polls_conversation_id", "plugin_polls", ["conversation_id"])
    op.create_table(
        "plugin_poll_options",
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("text", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("message_id", "position"),
    )
    op.create_table(
        "plugin_poll_votes",
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", "user_id"),
    )


def downgrade() -> None:
    op.drop_table("plugin_poll_votes")
    op.drop_table("plugin_poll_options")
    op.drop_index("ix_plugin_polls_conversation_id", table_name="plugin_polls")
    op.drop_table("plugin_polls")
