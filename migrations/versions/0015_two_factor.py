"""Two-factor authentication (TOTP).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-09

A user's TOTP secret (`users.totp_secret`: pending until confirmed, enabled from
`totp_enabled_at`), the time step of the last code accepted (`totp_last_step`: a code works
once), and their recovery codes, kept as SHA-256 hashes (`recovery_codes`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables import MYSQL_TABLE_OPTIONS, Id, Millis

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("totp_secret", sa.String(64), nullable=True, comment="base32; pending until totp_enabled_at"))
    op.add_column("users", sa.Column("totp_enabled_at", Millis, nullable=True))
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger(), nullable=True, comment="the time step of the last code accepted"))
    op.create_table(
        "recovery_codes",
        sa.Column("user_id", Id, nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False, comment="SHA-256 of the user id and the code, hex"),
        sa.Column("used_at", Millis, nullable=True),
        sa.PrimaryKeyConstraint("user_id", "code_hash", name=op.f("pk_recovery_codes")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_recovery_codes_user_id_users"), ondelete="CASCADE"),
        **MYSQL_TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("recovery_codes")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("totp_last_step")
        batch.drop_column("totp_enabled_at")
        batch.drop_column("totp_secret")
