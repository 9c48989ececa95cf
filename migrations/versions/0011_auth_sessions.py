"""Sessions per device and their refresh tokens.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09

Each login makes a session (`auth_sessions`): the device it came from, when it was last seen,
until when it may be refreshed, and when it was revoked. Its access tokens name it, so that
revoking it is one row. Its refresh tokens are kept as SHA-256 hashes (`refresh_tokens`), the
current one with `rotated_at` NULL: presenting a rotated one again revokes the session.
Tokens issued before sessions existed carry none and keep working until they expire.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables import MYSQL_TABLE_OPTIONS, Id, Millis

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_sessions",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("device", sa.String(128), nullable=False),
        sa.Column("created_at", Millis, nullable=False),
        sa.Column("last_seen_at", Millis, nullable=False),
        sa.Column("expires_at", Millis, nullable=False, comment="the refresh token's expiry; each refresh moves it on"),
        sa.Column("revoked_at", Millis, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_sessions")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_auth_sessions_user_id_users"), ondelete="CASCADE"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index(op.f("ix_auth_sessions_user_id"), "auth_sessions", ["user_id"])
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False, comment="SHA-256 of the token, hex"),
        sa.Column("session_id", Id, nullable=False),
        sa.Column("rotated_at", Millis, nullable=True, comment="NULL: the session's current refresh token"),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_refresh_tokens")),
        sa.ForeignKeyConstraint(
            ["session_id"], ["auth_sessions.id"], name=op.f("fk_refresh_tokens_session_id_auth_sessions"), ondelete="CASCADE"
        ),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index(op.f("ix_refresh_tokens_session_id"), "refresh_tokens", ["session_id"])


def downgrade() -> None:
    op.drop_table("refresh_tokens")
    op.drop_table("auth_sessions")
