"""What an administrator does to accounts (the `hubbub user|token|conversation` commands), on
the database alone. Closing the sockets of a user whose tokens were revoked is the caller's:
the servers hold them (`server.admin_cli`)."""

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from handlers.errors import NotFound
from handlers.objects import conversation_type, direct_peer_id
from handlers.services.auth import AuthService
from handlers.services.passwords import hash_password
from settings import Settings
from storage import conversations as conversation_store
from storage import sessions as session_store
from storage import tokens as token_store
from storage import two_factor as totp_store
from storage import users as user_store
from storage.clock import utc_now
from storage.transactions import in_transaction

STATUS_ENABLED = 1
STATUS_DISABLED = 0


class AccountAdmin:
    def __init__(self, db: AsyncEngine, settings: Settings) -> None:
        self._db = db
        self._settings = settings

    async def create(self, *, username: str, email: str, password: str, nickname: str | None) -> dict:
        """As registration does it (MeVO; 409 when the username or email is taken)."""
        return await AuthService(self._db, self._settings).register(username=username, email=email, password=password, nickname=nickname)

    async def disable(self, username: str) -> Row:
        """The user can no longer log in, and every token of theirs is revoked: enabling them
        again does not bring an old session back."""
        async def write(conn: AsyncConnection) -> Row:
            user = await _user(conn, username)
            await user_store.set_status(conn, user.id, STATUS_DISABLED)
            await token_store.revoke_all(conn, user.id)
            return await user_store.get_user(conn, user.id)

        return await in_transaction(self._db, write, "a user's disabling")

    async def enable(self, username: str) -> Row:
        async def write(conn: AsyncConnection) -> Row:
            user = await _user(conn, username)
            await user_store.set_status(conn, user.id, STATUS_ENABLED)
            return await user_store.get_user(conn, user.id)

        return await in_transaction(self._db, write, "a user's enabling")

    async def reset_password(self, username: str, password: str) -> Row:
        """A new password, and every token revoked: whoever knew the old one is logged out."""
        password_hash = await hash_password(password, self._settings.bcrypt_rounds)

        async def write(conn: AsyncConnection) -> Row:
            user = await _user(conn, username)
            await user_store.set_password_hash(conn, user.id, password_hash)
            await token_store.revoke_all(conn, user.id)
            return user

        return await in_transaction(self._db, write, "a password's reset")

    async def revoke_tokens(self, username: str) -> Row:
        """Every token the user holds now stops working; logging in again makes a valid one."""
        async def write(conn: AsyncConnection) -> Row:
            user = await _user(conn, username)
            await token_store.revoke_all(conn, user.id)
            return user

        return await in_transaction(self._db, write, "a revocation of tokens")

    async def sessions(self, username: str) -> tuple[Row, list[Row]]:
        """The user and their live sessions, most recently seen first."""
        async with self._db.connect() as conn:
            user = await _user(conn, username)
            return user, await session_store.list_live(conn, user.id, utc_now())

    async def revoke_session(self, username: str, session_id: int) -> Row:
        """One live session of the user stops working; 404 when it is not one of theirs."""
        async def write(conn: AsyncConnection) -> Row:
            user = await _user(conn, username)
            if not await session_store.revoke(conn, session_id, user.id, utc_now()):
                raise NotFound(f"user {username!r} has no live session {session_id}")
            return user

        return await in_transaction(self._db, write, "a session's revocation")

    async def reset_two_factor(self, username: str) -> Row:
        """Two-factor off (a user who lost their authenticator and their recovery codes): the
        password alone logs in again, and the user may enrol anew."""
        async def write(conn: AsyncConnection) -> Row:
            user = await _user(conn, username)
            await totp_store.clear(conn, user.id)
            return user

        return await in_transaction(self._db, write, "a reset of two-factor")

    async def users(self, *, prefix: str | None, after: int | None, limit: int) -> list[Row]:
        async with self._db.connect() as conn:
            return await user_store.list_users(conn, prefix=prefix, after=after, limit=limit)

    async def conversations(self, username: str) -> list[dict]:
        """The user's conversations, latest activity first: {id, type, name, peer (a username
        for a direct one), last_seq, unread_count, updated_at (naive UTC)}."""
        async with self._db.connect() as conn:
            user = await _user(conn, username)
            rows = await conversation_store.list_for_user(conn, user.id)
            peer_ids = [peer for peer in (direct_peer_id(row, user.id) for row in rows) if peer is not None]
            peers = {row.id: row.username for row in await user_store.get_users(conn, peer_ids)} if peer_ids else {}
        return [
            {
                "id": row.id,
                "type": conversation_type(row),
                "name": row.name,
                "peer": peers.get(direct_peer_id(row, user.id)),
                "last_seq": row.last_seq,
                "unread_count": row.unread_count,
                "updated_at": row.updated_at,
            }
            for row in rows
        ]


async def _user(conn: AsyncConnection, username: str) -> Row:
    user = await user_store.find_for_login(conn, username=username, email=None)
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user
