"""Account deletion.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-09

A deleted account keeps its row (its messages name it as sender), anonymised and disabled, with
`users.deleted_at` set; its username moves to `retired_usernames` until `retired_until`, so that
nobody registers it meanwhile and passes for the deleted user.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables import MYSQL_TABLE_OPTIONS, Millis, case_insensitive

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("deleted_at", Millis, nullable=True, comment="set when the user deleted the account"))
    op.create_table(
        "retired_usernames",
        sa.Column("username", case_insensitive(32), nullable=False),
        sa.Column("retired_until", Millis, nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_retired_usernames")),
        **MYSQL_TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("retired_usernames")
    op.drop_column("users", "deleted_at")
