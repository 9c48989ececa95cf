"""The persistence floor: group commit. Senders queue their row and wait; one writer task
takes everything queued, stores it with ONE multi-row INSERT and ONE commit, then wakes every
sender with its id. So the cost of a commit (the redo-log fsync) is shared by the whole batch,
and nothing is acknowledged before it is durable.

The table has the same columns and secondary indexes as Hubbub's `messages` (without the
foreign keys, which would need users and conversations), so index maintenance costs the same."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiomysql
from sqlalchemy.engine import make_url

MAX_BATCH = 1000

SCHEMA = """
CREATE TABLE IF NOT EXISTS peer_messages (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    sender_id BIGINT UNSIGNED NOT NULL,
    receiver_id BIGINT UNSIGNED NULL,
    content TEXT NOT NULL,
    msg_type TINYINT NOT NULL DEFAULT 1,
    status TINYINT NOT NULL DEFAULT 1,
    created_at DATETIME(3) NOT NULL,
    conversation_id BIGINT UNSIGNED NOT NULL,
    seq BIGINT NOT NULL,
    client_msg_id VARCHAR(64) NULL,
    file_id BIGINT UNSIGNED NULL,
    UNIQUE KEY uq_conv_seq (conversation_id, seq),
    UNIQUE KEY uq_sender_client (sender_id, client_msg_id),
    KEY idx_sender_receiver (sender_id, receiver_id),
    KEY idx_created (created_at),
    KEY ix_conv_status_seq (conversation_id, status, seq),
    KEY ix_file (file_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
"""

INSERT = (
    "INSERT INTO peer_messages (sender_id, receiver_id, content, msg_type, status, created_at, conversation_id, seq, client_msg_id)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


class BatchWriter:
    def __init__(self, database_url: str) -> None:
        self._url = make_url(database_url)
        self._pending: list[tuple[tuple, asyncio.Future]] = []
        self._wake = asyncio.Event()
        self._conn: aiomysql.Connection | None = None
        self.batches = 0

    async def lifetime(self, _app) -> None:
        """aiohttp cleanup context: connect and create the table, run, then stop the writer."""
        url = self._url
        self._conn = await aiomysql.connect(
            host=url.host or "127.0.0.1", port=url.port or 3306, user=url.username, password=url.password or "",
            db=url.database, charset="utf8mb4", autocommit=False,
        )
        async with self._conn.cursor() as cur:
            await cur.execute(SCHEMA)
        await self._conn.commit()
        task = asyncio.create_task(self._run())
        yield
        task.cancel()
        self._conn.close()

    async def write(self, vo: dict) -> int:
        """Queue one message; returns its id once the batch holding it has committed."""
        created = datetime.fromtimestamp(vo["created_at"] / 1000, UTC).replace(tzinfo=None)
        row = (vo["sender_id"], vo["receiver_id"], vo["content"], vo["msg_type"], vo["status"], created,
               vo["conversation_id"], vo["seq"], vo["client_msg_id"])
        future = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        self._wake.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                try:
                    async with self._conn.cursor() as cur:
                        # aiomysql turns executemany of an INSERT ... VALUES into one multi-row INSERT.
                        await cur.executemany(INSERT, [row for row, _ in batch])
                        first_id = cur.lastrowid
                    await self._conn.commit()
                except Exception as exc:  # noqa: BLE001 - every waiting sender gets the failure
                    await self._conn.rollback()
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                self.batches += 1
                # One multi-row INSERT gets consecutive auto-increment ids (innodb_autoinc_lock_mode <= 1
                # guarantees it for a simple insert), the first being LAST_INSERT_ID().
                for offset, (_, future) in enumerate(batch):
                    if not future.done():
                        future.set_result(first_id + offset)
