"""Queries on `files`, and who may read one."""

from sqlalchemy import Row, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.clock import utc_now
from storage.tables import STATUS_RECALLED, conversation_members, files, messages


async def insert_file(conn: AsyncConnection, *, owner_id: int, name: str, size: int, mime: str, storage_key: str) -> Row:
    result = await conn.execute(
        files.insert().values(owner_id=owner_id, name=name, size=size, mime=mime, storage_key=storage_key, created_at=utc_now())
    )
    return await get_file(conn, result.inserted_primary_key[0])


async def get_file(conn: AsyncConnection, file_id: int) -> Row | None:
    return (await conn.execute(select(files).where(files.c.id == file_id))).first()


async def may_read(conn: AsyncConnection, file: Row, user_id: int) -> bool:
    """The uploader, and members of a conversation where a message still carries the file
    (a recalled message no longer shares it)."""
    if file.owner_id == user_id:
        return True
    shared_with_user = exists().where(
        messages.c.file_id == file.id,
        messages.c.status != STATUS_RECALLED,
        conversation_members.c.conversation_id == messages.c.conversation_id,
        conversation_members.c.user_id == user_id,
    )
    return bool((await conn.execute(select(shared_with_user))).scalar())
