"""Queries on `users`."""

from typing import Any

from sqlalchemy import Row, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import blocks as block_store
from storage.clock import utc_now
from storage.tables import users


async def insert_user(conn: AsyncConnection, *, username: str, email: str, password_hash: str, nickname: str | None) -> Row:
    now = utc_now()
    values = dict(username=username, email=email, password_hash=password_hash, nickname=nickname, status=1, created_at=now, updated_at=now)
    result = await conn.execute(users.insert().values(**values))
    return await get_user(conn, result.inserted_primary_key[0])


async def get_user(conn: AsyncConnection, user_id: int) -> Row | None:
    return (await conn.execute(select(users).where(users.c.id == user_id))).first()


async def find_taken(conn: AsyncConnection, *, username: str, email: str) -> set[str]:
    """Which of `username` and `email` some user already has, compared as the unique indexes
    compare them (the column collation: case-insensitive, and on MySQL accent-insensitive too),
    so that a 409 always names the field the database would refuse."""
    username_taken = (users.c.username == username).label("username_taken")
    email_taken = (users.c.email == email).label("email_taken")
    rows = await conn.execute(select(username_taken, email_taken).where(or_(users.c.username == username, users.c.email == email)))
    taken = set()
    for row in rows:
        if row.username_taken:
            taken.add("username")
        if row.email_taken:
            taken.add("email")
    return taken


async def find_for_login(conn: AsyncConnection, *, username: str | None, email: str | None) -> Row | None:
    column, value = (users.c.username, username) if username is not None else (users.c.email, email)
    return (await conn.execute(select(users).where(column == value))).first()


async def update_profile(conn: AsyncConnection, user_id: int, changes: dict[str, Any]) -> Row | None:
    if changes:
        await conn.execute(users.update().where(users.c.id == user_id).values(**changes, updated_at=utc_now()))
    return await get_user(conn, user_id)


async def set_status(conn: AsyncConnection, user_id: int, status: int) -> None:
    await conn.execute(users.update().where(users.c.id == user_id).values(status=status, updated_at=utc_now()))


async def set_password_hash(conn: AsyncConnection, user_id: int, password_hash: str) -> None:
    await conn.execute(users.update().where(users.c.id == user_id).values(password_hash=password_hash, updated_at=utc_now()))


async def list_users(conn: AsyncConnection, *, prefix: str | None, after: int | None, limit: int, seen_by: int | None = None) -> list[Row]:
    """Users by id ascending; `prefix` matches the start of username or nickname. With
    `seen_by`, each row has `blocked_viewer` (storage.blocks): whether they blocked that user."""
    columns = [users] if seen_by is None else [users, block_store.blocked_viewer(seen_by)]
    query = select(*columns).order_by(users.c.id).limit(limit)
    if prefix:
        pattern = _escape_like(prefix) + "%"
        query = query.where(or_(users.c.username.like(pattern, escape="\\"), users.c.nickname.like(pattern, escape="\\")))
    if after is not None:
        query = query.where(users.c.id > after)
    return list(await conn.execute(query))


async def get_users(conn: AsyncConnection, user_ids: list[int]) -> list[Row]:
    return list(await conn.execute(select(users).where(users.c.id.in_(user_ids)).order_by(users.c.id)))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
