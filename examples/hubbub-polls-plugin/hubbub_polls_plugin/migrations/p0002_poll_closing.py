"""plugin_polls.closed_at: a poll its creator closed takes no more votes

Revision ID: p0002
Revises: p0001
"""

import sqlalchemy as sa
from alembic import op

revision = "p0002"
down_revision = "p0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plugin_polls") as batch:  # batch: SQLite cannot ALTER much in place
        batch.add_column(sa.Column("closed_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plugin_polls") as batch:
        batch.drop_column("closed_at")
