"""Where uploaded bytes live. The server talks to `BlobStore` only, so an S3-compatible store
can replace the local directory without touching the rest."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Protocol

CHUNK_BYTES = 64 * 1024


class BlobTooLarge(Exception):
    """The stream went past the size limit; nothing was kept."""


class BlobStore(Protocol):
    async def write(self, chunks: AsyncIterable[bytes], max_bytes: int) -> tuple[str, int]:
        """Store a stream under a new server-made key; returns (key, size).
        Raises BlobTooLarge as soon as more than `max_bytes` arrive."""

    def read(self, key: str) -> AsyncIterator[bytes]: ...

    async def delete(self, key: str) -> None: ...


class LocalBlobStore:
    """Files in one directory, named by random keys; the file system calls run in the executor."""

    def __init__(self, directory: str) -> None:
        self._directory = Path(directory)

    async def write(self, chunks: AsyncIterable[bytes], max_bytes: int) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: self._directory.mkdir(parents=True, exist_ok=True))
        key = secrets.token_hex(16)
        path = self._path(key)
        handle = await loop.run_in_executor(None, open, path, "xb")
        size = 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise BlobTooLarge()
                await loop.run_in_executor(None, handle.write, chunk)
        except BaseException:
            await loop.run_in_executor(None, _close_and_remove, handle, path)
            raise
        await loop.run_in_executor(None, handle.close)
        return key, size

    async def read(self, key: str) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        handle = await loop.run_in_executor(None, open, self._path(key), "rb")
        try:
            while chunk := await loop.run_in_executor(None, handle.read, CHUNK_BYTES):
                yield chunk
        finally:
            await loop.run_in_executor(None, handle.close)

    async def delete(self, key: str) -> None:
        await asyncio.get_running_loop().run_in_executor(None, _remove, self._path(key))

    def _path(self, key: str) -> Path:
        if not key.isalnum():
            raise ValueError("bad blob key")
        return self._directory / key


def _close_and_remove(handle, path: Path) -> None:
    handle.close()
    _remove(path)


def _remove(path: Path) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
