"""Queries on `files`, and who may read one."""

from sqlalchemy import Row, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.clock import utc_now
from storage.tables import STATUS_RECALLED, conversation_members, files, messages, users


async def insert_file(conn: AsyncConnection, *, owner_id: int, name: str, size: int, mime: str, storage_key: str) -> Row:
    result = await conn.execute(
        files.insert().values(owner_id=owner_id, name=name, size=size, mime=mime, storage_key=storage_key, created_at=utc_now())
    )
    return await get_file(conn, result.inserted_primary_key[0])


def file_url(file_id: int) -> str:
    """Where a file is downloaded, and what a profile's `avatar` holds when the file is it."""
    return f"/api/files/{file_id}"


async def get_file(conn: AsyncConnection, file_id: int) -> Row | None:
    """The file with `owner_deleted_at` (when its uploader deleted the account, else None)
    and `owner_avatar`, the uploader's avatar."""
    query = (
        select(files, users.c.deleted_at.label("owner_deleted_at"), users.c.avatar.label("owner_avatar"))
        .join(users, users.c.id == files.c.owner_id)
        .where(files.c.id == file_id)
    )
    return (await conn.execute(query)).first()


async def may_read(conn: AsyncConnection, file: Row, user_id: int) -> bool:
    """The uploader, and members of a conversation where a message still carries the file
    (a recalled message no longer shares it); everyone while it is its uploader's avatar (a
    profile anyone signed in may see); nobody once the uploader deleted the account."""
    if file.owner_deleted_at is not None:
        return False
    if file.owner_id == user_id or file.owner_avatar == file_url(file.id):
        return True
    shared_with_user = exists().where(
        messages.c.file_id == file.id,
        messages.c.status != STATUS_RECALLED,
        conversation_members.c.conversation_id == messages.c.conversation_id,
        conversation_members.c.user_id == user_id,
    )
    return bool((await conn.execute(select(shared_with_user))).scalar())
