"""The database as the log of committed messages: what the server's seq-ordered delivery reads
when a push did not arrive (a repair), when it first meets a conversation, and when it catches
up after the bus lost messages."""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.events import MESSAGE_NEW
from handlers.push import OrderedPush
from handlers.services.message_views import message_vos
from storage import conversations as conversation_store
from storage import messages as message_store
from storage.tables import CONVERSATION_DIRECT


class CommittedMessages:
    """Implements `server.sequencer.Backfill`."""

    def __init__(self, db: AsyncEngine) -> None:
        self._db = db

    async def first_owed(self, conversation_id: int, below_seq: int, horizon: datetime) -> int:
        async with self._db.connect() as conn:
            return await message_store.newest_seq_at_or_before(conn, conversation_id, below_seq, horizon) + 1

    async def committed(self, conversation_id: int, from_seq: int, to_seq: int) -> list[OrderedPush]:
        """`message.new` to today's members: a repair cannot know who was a member at commit
        time, and a member removed since then must not be told more."""
        async with self._db.connect() as conn:
            conversation = await conversation_store.get_conversation(conn, conversation_id)
            if conversation is None:
                return []
            rows = await message_store.seq_range(conn, conversation_id, from_seq, to_seq)
            vos = await message_vos(conn, rows)
            if conversation.type == CONVERSATION_DIRECT:
                audience = [conversation.direct_low_id, conversation.direct_high_id]
            else:
                audience = await conversation_store.member_ids(conn, conversation_id)
        return [OrderedPush(conversation_id, vo["seq"], audience, ((MESSAGE_NEW, vo),)) for vo in vos]

    async def last_seqs(self, conversation_ids: list[int]) -> dict[int, int]:
        async with self._db.connect() as conn:
            return await conversation_store.last_seqs(conn, conversation_ids)

    async def changed_since(self, moment: datetime) -> dict[int, int]:
        async with self._db.connect() as conn:
            return await conversation_store.last_seqs_changed_since(conn, moment)
