"""Queries on `files`."""

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.clock import utc_now
from storage.tables import files


async def insert_file(conn: AsyncConnection, *, owner_id: int, name: str, size: int, mime: str, storage_key: str) -> Row:
    result = await conn.execute(files.insert().values(owner_id=owner_id, name=name, size=size, mime=mime, storage_key=storage_key, created_at=utc_now()))
    return await get_file(conn, result.inserted_primary_key[0])


async def get_file(conn: AsyncConnection, file_id: int) -> Row | None:
    return (await conn.execute(select(files).where(files.c.id == file_id))).first()


async def may_read(conn: AsyncConnection, file: Row, user_id: int) -> bool:
    """The uploader may always read its file; sharing it in conversations comes with file messages."""
    return file.owner_id == user_id
