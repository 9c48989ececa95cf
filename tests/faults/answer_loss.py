"""A TCP relay between a server and its database that can lose one command's answer.

The network eating a reply is the case where the database has done what it was asked (a
COMMIT included) and the server, hearing nothing, has to give up and answer its clients
"perhaps stored". A lock or a frozen process can only approximate it: whoever releases the
lock races the server's clean-up of the transaction. Here the command reaches the database
and runs to its end; only what comes back is dropped, on that connection, from then on."""

from __future__ import annotations

import asyncio
import contextlib


class AnswerLosingRelay:
    """Relays 127.0.0.1:`port` to the database at 127.0.0.1:`target_port`. After `lose_answer_to(marker)`,
    the first connection whose client sends bytes containing `marker` gets nothing back from
    the database any more; every other connection, and later ones, are relayed as they are."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.lost = asyncio.Event()
        self._marker: bytes | None = None
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def lose_answer_to(self, marker: bytes) -> None:
        self._marker = marker

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for pump in self._pumps:
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            db_reader, db_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.close()
            return
        deaf = asyncio.Event()  # set once this connection's answers are to be lost
        pumps = {
            asyncio.create_task(self._pump(client_reader, db_writer, watch=deaf)),
            asyncio.create_task(self._pump(db_reader, client_writer, deaf=deaf)),
        }
        self._pumps |= pumps
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            self._pumps -= pumps
            for writer in (client_writer, db_writer):
                writer.close()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, watch: asyncio.Event | None = None, deaf: asyncio.Event | None = None
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                if watch is not None and self._marker is not None and self._marker in data:
                    self._marker = None
                    watch.set()
                    self.lost.set()
                if deaf is not None and deaf.is_set():
                    continue
                writer.write(data)
                await writer.drain()
