"""Message search.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

`message_search`: the search terms of each message (storage.search_terms), indexed by a
FULLTEXT index on MySQL/MariaDB and by the FTS5 table `message_search_fts` (with its triggers)
on SQLite. On MySQL/MariaDB the group commit's procedure becomes version 2, which writes the
terms with the messages. The messages already stored are indexed here (recalled ones are not).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import MEDIUMTEXT

from storage.procedures import APPEND_BATCH_V1_DDL, APPEND_BATCH_V2_DDL, DROP_APPEND_BATCH_V1_DDL, DROP_APPEND_BATCH_V2_DDL
from storage.search_terms import message_terms, searchable_text
from storage.tables import DROP_SQLITE_SEARCH_DDL, MYSQL_TABLE_OPTIONS, SQLITE_SEARCH_DDL, STATUS_RECALLED, Id

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BACKFILL_CHUNK = 1000


def upgrade() -> None:
    op.create_table(
        "message_search",
        sa.Column("message_id", Id, nullable=False, autoincrement=False),
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("terms", sa.Text().with_variant(MEDIUMTEXT(), "mysql", "mariadb"), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_search")),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name=op.f("fk_message_search_message_id_messages"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name=op.f("fk_message_search_conversation_id_conversations"), ondelete="CASCADE"
        ),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index(op.f("ix_message_search_conversation_id"), "message_search", ["conversation_id"])
    if op.get_bind().dialect.name == "mysql":
        op.create_index("ft_message_search_terms", "message_search", ["terms"], mysql_prefix="FULLTEXT")
        op.execute(APPEND_BATCH_V2_DDL)
        op.execute(DROP_APPEND_BATCH_V1_DDL)
    else:
        for statement in SQLITE_SEARCH_DDL:
            op.execute(statement)
    _index_stored_messages()


def _index_stored_messages() -> None:
    bind = op.get_bind()
    messages = sa.table(
        "messages", sa.column("id"), sa.column("conversation_id"), sa.column("msg_type"), sa.column("content"), sa.column("status")
    )
    search = sa.table("message_search", sa.column("message_id"), sa.column("conversation_id"), sa.column("terms"))
    after = 0
    while True:
        rows = bind.execute(
            sa.select(messages.c.id, messages.c.conversation_id, messages.c.msg_type, messages.c.content)
            .where(messages.c.id > after, messages.c.status != STATUS_RECALLED)
            .order_by(messages.c.id)
            .limit(_BACKFILL_CHUNK)
        ).all()
        if not rows:
            return
        indexed = [
            {"message_id": row.id, "conversation_id": row.conversation_id, "terms": terms}
            for row in rows
            if (terms := message_terms(row.conversation_id, searchable_text(row.msg_type, row.content)))
        ]
        if indexed:
            bind.execute(search.insert(), indexed)
        after = rows[-1].id


def downgrade() -> None:
    if op.get_bind().dialect.name == "mysql":
        op.execute(APPEND_BATCH_V1_DDL)
        op.execute(DROP_APPEND_BATCH_V2_DDL)
    else:
        op.execute(DROP_SQLITE_SEARCH_DDL)
    op.drop_table("message_search")
