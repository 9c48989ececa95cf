"""`message_search` without foreign keys.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05

The checks of its foreign keys took shared locks on the `messages` and `conversations` rows of
every search row the indexer wrote, in its batch's order, while the group commit takes
exclusive locks on those rows in conversation id order: an InnoDB deadlock (1213) that rolled a
whole batch of sends back, answered 503 (bench/FINDINGS.md, "Deadlock"). Nothing relied on the
cascades: deleting a conversation, and emptying a deleted account's messages, delete their
terms themselves (storage.conversations, storage.account_deletion), and the indexer removes terms
it wrote for a message deleted or recalled meanwhile (storage.search.index_messages).

On SQLite the table is rebuilt without them (batch mode), which drops its triggers: they are
made again, and the FTS5 table, keyed by message id, stays as it is.
"""

from collections.abc import Sequence

from alembic import op

from storage.tables import SQLITE_SEARCH_DDL

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FOREIGN_KEYS = (
    ("fk_message_search_message_id_messages", "messages", "message_id"),
    ("fk_message_search_conversation_id_conversations", "conversations", "conversation_id"),
)
# The triggers that keep SQLite's FTS5 table in step (the first statement makes the table).
_SQLITE_TRIGGERS = SQLITE_SEARCH_DDL[1:]


def upgrade() -> None:
    if op.get_bind().dialect.name == "mysql":
        for name, _, _ in _FOREIGN_KEYS:
            op.drop_constraint(op.f(name), "message_search", type_="foreignkey")
        return
    with op.batch_alter_table("message_search") as batch:
        for name, _, _ in _FOREIGN_KEYS:
            batch.drop_constraint(op.f(name), type_="foreignkey")
    for statement in _SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    # Terms whose message is gone (a race the foreign key settled before) would fail the check.
    op.execute("DELETE FROM message_search WHERE NOT EXISTS (SELECT 1 FROM messages WHERE messages.id = message_search.message_id)")
    if op.get_bind().dialect.name == "mysql":
        for name, table, column in _FOREIGN_KEYS:
            op.create_foreign_key(op.f(name), "message_search", table, [column], ["id"], ondelete="CASCADE")
        return
    with op.batch_alter_table("message_search") as batch:
        for name, table, column in _FOREIGN_KEYS:
            batch.create_foreign_key(op.f(name), table, [column], ["id"], ondelete="CASCADE")
    for statement in _SQLITE_TRIGGERS:
        op.execute(statement)
