"""Uploads and downloads. The type is sniffed from the bytes, never taken from the client; the
client's file name is kept only as cleaned-up metadata."""

from __future__ import annotations

import json
import re
import unicodedata
from urllib.parse import unquote
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

import puremagic
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from handlers.errors import Forbidden, NotFound, PayloadTooLarge, ValidationFailed
from settings import Settings
from storage import files as file_store
from storage.blobs import BlobStore, BlobTooLarge
from storage.clock import to_millis
from storage.tables import MSG_IMAGE
from storage.transactions import in_transaction

SNIFF_BYTES = 8192
UNKNOWN_TYPE = "application/octet-stream"
# Raster images a browser shows without running anything; SVG is left out on purpose.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"})
_UNSAFE_NAME_CHARS = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|]')


def file_vo(row) -> dict:
    return {"id": row.id, "name": row.name, "size": row.size, "mime": row.mime, "url": file_store.file_url(row.id), "created_at": to_millis(row.created_at)}


def file_reference(row) -> str:
    """The content of an image or file message (PROTOCOL §2), from what the server stored."""
    return json.dumps({"file_id": row.id, "name": row.name, "size": row.size, "mime": row.mime}, ensure_ascii=False)


def clean_name(raw: str | None) -> str:
    """A display name only: no path, no control or shell-special characters, at most 255.
    Some clients (aiohttp's among them) percent-encode the name; browsers send it raw."""
    name = unicodedata.normalize("NFC", unquote(raw or ""))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME_CHARS.sub("_", name).strip(" .")
    return name[:255] or "file"


def sniff(head: bytes) -> str:
    try:
        return puremagic.from_string(head, mime=True) or UNKNOWN_TYPE
    except (puremagic.PureError, ValueError):
        return UNKNOWN_TYPE


@dataclass(frozen=True, slots=True)
class Download:
    name: str
    mime: str
    size: int
    inline: bool
    chunks: AsyncIterator[bytes]


class _Sniffing:
    """Passes a stream through while keeping its first bytes for type detection."""

    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        self._chunks = chunks
        self.head = b""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            if len(self.head) < SNIFF_BYTES:
                self.head += chunk[: SNIFF_BYTES - len(self.head)]
            yield chunk


class FileService:
    def __init__(self, db: AsyncEngine, settings: Settings, blobs: BlobStore) -> None:
        self._db = db
        self._settings = settings
        self._blobs = blobs

    async def upload(self, owner_id: int, filename: str | None, chunks: AsyncIterable[bytes]) -> dict:
        sniffing = _Sniffing(chunks)
        try:
            key, size = await self._blobs.write(sniffing, self._settings.upload_max_bytes)
        except BlobTooLarge:
            raise PayloadTooLarge(f"files are limited to {self._settings.upload_max_bytes} bytes") from None
        try:
            row = await in_transaction(
                self._db,
                lambda conn: file_store.insert_file(conn, owner_id=owner_id, name=clean_name(filename), size=size, mime=sniff(sniffing.head), storage_key=key),
                "a file's record",
            )
        except BaseException:
            await self._blobs.delete(key)
            raise
        return file_vo(row)

    async def download(self, user_id: int, file_id: int) -> Download:
        async with self._db.connect() as conn:
            row = await file_store.get_file(conn, file_id)
            if row is None or not await file_store.may_read(conn, row, user_id):
                raise NotFound("no such file")
        return Download(row.name, row.mime, row.size, row.mime in INLINE_TYPES, self._blobs.read(row.storage_key))


def referenced_file_id(content: str) -> int:
    """The `file_id` of an image or file message's content; 422 when it is not a reference."""
    try:
        file_id = json.loads(content)["file_id"]
        if not isinstance(file_id, int) or isinstance(file_id, bool):
            raise TypeError
    except (ValueError, TypeError, KeyError):
        raise ValidationFailed({"content": ['must be the JSON of a file reference {"file_id", "name", "size", "mime"}']}) from None
    return file_id


async def shareable_file(conn: AsyncConnection, user_id: int, content: str, msg_type: int):
    """The file an image or file message refers to, when `user_id` may share it; its stored row."""
    row = await file_store.get_file(conn, referenced_file_id(content))
    if row is None or not await file_store.may_read(conn, row, user_id):
        raise Forbidden("that file cannot be shared by you")
    if msg_type == MSG_IMAGE and row.mime not in INLINE_TYPES:
        raise ValidationFailed({"msg_type": [f"an image message needs an image file, this one is {row.mime}"]})
    return row
