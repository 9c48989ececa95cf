"""Profiles and the user directory."""

import re
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from handlers import lifecycle as plugin_events
from handlers.errors import NotFound, ValidationFailed
from handlers.events import USER_UPDATED
from handlers.lifecycle import Lifecycle
from handlers.objects import me_vo, user_vo
from handlers.push import Pusher
from handlers.services.files import INLINE_TYPES
from storage import blocks as block_store
from storage import conversations as conversation_store
from storage import files as file_store
from storage import users as user_store
from storage.transactions import in_transaction

# What a UserVO shows besides presence: a change to one of them is told to others.
PUBLIC_FIELDS = ("username", "nickname", "avatar")
_FILE_URL = re.compile(r"/api/files/([1-9][0-9]{0,17})")


class UserService:
    def __init__(self, db: AsyncEngine, pusher: Pusher, lifecycle: Lifecycle | None = None) -> None:
        self._db = db
        self._pusher = pusher
        self._lifecycle = lifecycle if lifecycle is not None else Lifecycle()

    async def me(self, user_id: int) -> dict:
        async with self._db.connect() as conn:
            row = await user_store.get_user(conn, user_id)
        return me_vo(row, self._pusher.is_online(user_id))

    async def update_me(self, user_id: int, changes: dict[str, Any]) -> dict:
        """The caller's new profile; when it differs from the old one, everyone who shows it
        hears of it once it has committed (`user.updated`). A change to what it is already
        pushes nothing."""
        async def write(conn: AsyncConnection) -> tuple[Row, dict, tuple[list[int], list[int]] | None]:
            if changes.get("avatar") is not None:
                await _require_own_image(conn, user_id, changes["avatar"])
            before = await user_store.get_user(conn, user_id)
            row = await user_store.update_profile(conn, user_id, changes)
            changed = {field: getattr(row, field) for field in PUBLIC_FIELDS if getattr(before, field) != getattr(row, field)}
            return row, changed, await conversation_store.profile_audience(conn, user_id) if changed else None

        row, changed, audience = await in_transaction(self._db, write, "a profile's update")
        online = self._pusher.is_online(user_id)
        if audience is not None:
            self._push_profile(row, online, audience)
            self._lifecycle.emit(plugin_events.USER_UPDATED, {"user_id": user_id, "changes": changed})
        return me_vo(row, online)

    async def announce_profile(self, user_id: int) -> None:
        """Tell everyone who shows the user's profile what it is now, after the account's
        deletion anonymised it; and the plugins that the account is gone."""
        async with self._db.connect() as conn:
            row = await user_store.get_user(conn, user_id)
            audience = await conversation_store.profile_audience(conn, user_id)
        if row is not None:
            self._push_profile(row, self._pusher.is_online(user_id), audience)
        self._lifecycle.emit(plugin_events.USER_DELETED, {"user_id": user_id})

    def _push_profile(self, row: Any, online: bool, audience: tuple[list[int], list[int]]) -> None:
        """`user.updated` to the user's partners and the user's own sockets (the change came
        over REST: all of them); those the user blocked see the user offline (PROTOCOL §2
        "Presence and blocks"). Each variant is serialized once."""
        seeing, blocked = audience
        vo = user_vo(row, online)
        if online and blocked:
            self._pusher.to_users(blocked, USER_UPDATED, {**vo, "online": False})
            blocked = []
        self._pusher.to_users([*seeing, *blocked, row.id], USER_UPDATED, vo)

    async def get(self, viewer_id: int, user_id: int) -> dict:
        """One user, as `viewer_id` sees them: offline when they blocked the viewer."""
        async with self._db.connect() as conn:
            row = await user_store.get_user(conn, user_id)
            hidden = row is not None and await block_store.is_blocked(conn, user_id, viewer_id)
        if row is None:
            raise NotFound("no such user")
        return user_vo(row, self._pusher.is_online(row.id) and not hidden)

    async def search(self, viewer_id: int, *, prefix: str | None, after: int | None, limit: int) -> list[dict]:
        """The directory as `viewer_id` sees it: those who blocked the viewer show offline."""
        async with self._db.connect() as conn:
            rows = await user_store.list_users(conn, prefix=prefix, after=after, limit=limit, seen_by=viewer_id)
        return [user_vo(row, self._pusher.is_online(row.id) and not row.blocked_viewer) for row in rows]


async def _require_own_image(conn: AsyncConnection, user_id: int, avatar: str) -> None:
    """An avatar naming a file of this server (which then becomes readable by everyone signed
    in) must be an image the caller uploaded: a file of someone else, or any other kind, is 422."""
    if not avatar.startswith("/api/files/"):
        return
    match = _FILE_URL.fullmatch(avatar)
    row = await file_store.get_file(conn, int(match.group(1))) if match else None
    if row is None or row.owner_id != user_id or row.mime not in INLINE_TYPES or file_store.file_url(row.id) != avatar:
        raise ValidationFailed({"avatar": ["must be the URL of an image you uploaded (/api/files/{id})"]})
