"""A bare WebSocket client over a plain TCP socket, for clients that stop reading.

aiohttp's client keeps reading into its own buffer whatever the caller does, and the kernel
would buffer megabytes more; this one has a tiny receive buffer and reads only when asked, so a
server sees its writes back up after a few kilobytes, as with a phone that went to sleep."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct

RECEIVE_BUFFER = 4096
OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA


class RawSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.close_code: int | None = None

    @classmethod
    async def connect(cls, url: str, token: str, path: str = "/ws") -> RawSocket:
        """Handshake with `Authorization: Bearer token` at `url` (http://127.0.0.1:port)."""
        host, port = url.removeprefix("http://").split(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        # A small stream buffer too: asyncio stops reading the socket once it holds this much.
        reader, writer = await asyncio.open_connection(sock=sock, limit=RECEIVE_BUFFER)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
            ).encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            writer.close()
            raise ConnectionError(f"handshake refused: {head[:200]!r}")
        return cls(reader, writer)

    def send_frame(self, opcode: int, payload: bytes) -> None:
        """One masked client frame (RFC 6455 §5.2)."""
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(head + mask + masked)

    def send_json(self, frame: dict) -> None:
        self.send_frame(OP_TEXT, json.dumps(frame).encode())

    async def receive(self) -> tuple[int, bytes]:
        """The next whole message (opcode, payload); pings are answered. A close frame sets
        `close_code`; a connection that ends without one raises ConnectionError."""
        while True:
            try:
                first, second = await self.reader.readexactly(2)
                length = second & 0x7F
                if length == 126:
                    (length,) = struct.unpack("!H", await self.reader.readexactly(2))
                elif length == 127:
                    (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
                payload = await self.reader.readexactly(length)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                raise ConnectionError("connection ended without a close frame") from exc
            opcode = first & 0x0F
            if opcode == OP_PING:
                self.send_frame(OP_PONG, payload)
                continue
            if opcode == OP_CLOSE:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            return opcode, payload

    async def drain_messages(self, timeout: float) -> list[dict]:
        """Read everything until the close frame, the end of the connection or `timeout`:
        the JSON messages read before that."""
        messages: list[dict] = []
        try:
            async with asyncio.timeout(timeout):
                while True:
                    opcode, payload = await self.receive()
                    if opcode == OP_CLOSE:
                        return messages
                    if opcode == OP_TEXT:
                        messages.append(json.loads(payload))
        except (ConnectionError, TimeoutError):
            return messages

    def close(self) -> None:
        self.writer.close()
