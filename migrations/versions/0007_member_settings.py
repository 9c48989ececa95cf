"""Per-member conversation settings.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

Each member's own mute, pin and archive of a conversation, on its `conversation_members` row.
Archiving keeps the conversation's last_seq of that moment: a later message ends it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables import TinyInt

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("conversation_members", sa.Column("muted", TinyInt, nullable=False, server_default="0"))
    op.add_column("conversation_members", sa.Column("pinned", TinyInt, nullable=False, server_default="0"))
    op.add_column(
        "conversation_members",
        sa.Column("archived_seq", sa.BigInteger(), nullable=True, comment="archived while last_seq <= it; NULL: not archived"),
    )


def downgrade() -> None:
    for column in ("archived_seq", "pinned", "muted"):
        op.drop_column("conversation_members", column)
