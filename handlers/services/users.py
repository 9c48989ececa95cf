"""Profiles and the user directory."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.errors import NotFound
from handlers.objects import me_vo, user_vo
from handlers.push import Pusher
from storage import users as user_store


class UserService:
    def __init__(self, db: AsyncEngine, pusher: Pusher) -> None:
        self._db = db
        self._pusher = pusher

    async def me(self, user_id: int) -> dict:
        async with self._db.connect() as conn:
            row = await user_store.get_user(conn, user_id)
        return me_vo(row, self._pusher.is_online(user_id))

    async def update_me(self, user_id: int, changes: dict[str, Any]) -> dict:
        async with self._db.begin() as conn:
            row = await user_store.update_profile(conn, user_id, changes)
        return me_vo(row, self._pusher.is_online(user_id))

    async def get(self, user_id: int) -> dict:
        async with self._db.connect() as conn:
            row = await user_store.get_user(conn, user_id)
        if row is None:
            raise NotFound("no such user")
        return user_vo(row, self._pusher.is_online(row.id))

    async def search(self, *, prefix: str | None, after: int | None, limit: int) -> list[dict]:
        async with self._db.connect() as conn:
            rows = await user_store.list_users(conn, prefix=prefix, after=after, limit=limit)
        return [user_vo(row, self._pusher.is_online(row.id)) for row in rows]
