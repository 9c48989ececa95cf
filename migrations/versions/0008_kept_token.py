"""The token that changed the password stays valid.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

A password change (POST /api/auth/password) revokes every other token of the user by bumping
`users.token_generation`; the calling token, of the old generation, stays valid because its id
is kept in `users.kept_token_jti` (until the next bump).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("kept_token_jti", sa.String(36), nullable=True, comment="a token valid whatever its generation: the one that changed the password"),
    )


def downgrade() -> None:
    op.drop_column("users", "kept_token_jti")
