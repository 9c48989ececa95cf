"""A user's token generation.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

`hubbub token revoke --user` and `hubbub user disable` revoke every token of a user at once by
bumping `users.token_generation`; a token names the generation it was issued in. Existing
tokens carry none, which counts as 0, the column's default: upgrading logs nobody out.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("token_generation", sa.Integer(), nullable=False, server_default="0", comment="tokens of another generation are revoked"),
    )


def downgrade() -> None:
    op.drop_column("users", "token_generation")
