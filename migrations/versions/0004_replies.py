"""Replies.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

The message a message replies to (quotes), in the same conversation.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables import Id

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("reply_to_id", Id, nullable=True, comment="the quoted message, in the same conversation"))


def downgrade() -> None:
    op.drop_column("messages", "reply_to_id")
