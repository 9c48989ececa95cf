"""Forwards and moderation.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08

A forwarded message keeps where it came from (`forwarded_sender_id`, `forwarded_message_id`:
no foreign key, the original may be deleted with its conversation), and a recalled message who
recalled it when that was not its sender but a group's owner or admin (`recalled_by`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables import Id

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("forwarded_sender_id", Id, nullable=True, comment="a forwarded message's original sender"))
    op.add_column("messages", sa.Column("forwarded_message_id", Id, nullable=True, comment="the message a forwarded one copies"))
    op.add_column("messages", sa.Column("recalled_by", Id, nullable=True, comment="a moderator who recalled another member's message"))


def downgrade() -> None:
    op.drop_column("messages", "recalled_by")
    op.drop_column("messages", "forwarded_message_id")
    op.drop_column("messages", "forwarded_sender_id")
