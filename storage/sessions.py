"""Sessions per device (one per login) and their refresh tokens, kept as SHA-256 hashes.

A session is live while it is neither revoked nor past `expires_at` (the current refresh
token's expiry). Every function takes the caller's connection: the caller owns the transaction."""

from datetime import datetime

from sqlalchemy import Row, and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import auth_sessions, refresh_tokens, users


def _live(now: datetime):
    return and_(auth_sessions.c.revoked_at.is_(None), auth_sessions.c.expires_at > now)


async def create(conn: AsyncConnection, *, user_id: int, device: str, refresh_hash: str, now: datetime, expires_at: datetime) -> int:
    result = await conn.execute(
        auth_sessions.insert().values(user_id=user_id, device=device, created_at=now, last_seen_at=now, expires_at=expires_at)
    )
    session_id = result.inserted_primary_key[0]
    await conn.execute(refresh_tokens.insert().values(token_hash=refresh_hash, session_id=session_id))
    return session_id


async def list_live(conn: AsyncConnection, user_id: int, now: datetime) -> list[Row]:
    """The user's live sessions, most recently seen first."""
    query = (
        select(auth_sessions)
        .where(auth_sessions.c.user_id == user_id, _live(now))
        .order_by(auth_sessions.c.last_seen_at.desc(), auth_sessions.c.id.desc())
    )
    return list(await conn.execute(query))


async def revoke(conn: AsyncConnection, session_id: int, user_id: int, now: datetime) -> bool:
    """Revoke one live session of this user; False when there is none (another user's, unknown,
    already ended)."""
    result = await conn.execute(
        update(auth_sessions)
        .where(auth_sessions.c.id == session_id, auth_sessions.c.user_id == user_id, _live(now))
        .values(revoked_at=now)
    )
    return result.rowcount == 1


async def revoke_all(conn: AsyncConnection, user_id: int, now: datetime, *, but: int | None = None) -> list[int]:
    """Revoke every live session of the user but session `but`; their ids (for closing sockets).
    Locks the user's session rows: one user has a handful."""
    query = select(auth_sessions.c.id).where(auth_sessions.c.user_id == user_id, _live(now))
    if but is not None:
        query = query.where(auth_sessions.c.id != but)
    ids = list(await conn.scalars(query.with_for_update()))
    if ids:
        await conn.execute(update(auth_sessions).where(auth_sessions.c.id.in_(ids)).values(revoked_at=now))
    return ids


async def is_live(conn: AsyncConnection, session_id: int, user_id: int, now: datetime) -> bool:
    query = select(auth_sessions.c.id).where(auth_sessions.c.id == session_id, auth_sessions.c.user_id == user_id, _live(now))
    return (await conn.scalar(query)) is not None


async def touch(conn: AsyncConnection, session_id: int, now: datetime) -> None:
    await conn.execute(update(auth_sessions).where(auth_sessions.c.id == session_id).values(last_seen_at=now))


async def find_refresh(conn: AsyncConnection, refresh_hash: str) -> Row | None:
    """The refresh token with this hash, its session and its user's status and token generation:
    one primary-key lookup and two joins on primary keys."""
    query = (
        select(
            refresh_tokens.c.rotated_at,
            auth_sessions.c.id.label("session_id"),
            auth_sessions.c.user_id,
            auth_sessions.c.revoked_at,
            auth_sessions.c.expires_at,
            users.c.status,
            users.c.token_generation,
        )
        .select_from(refresh_tokens.join(auth_sessions).join(users, users.c.id == auth_sessions.c.user_id))
        .where(refresh_tokens.c.token_hash == refresh_hash)
    )
    return (await conn.execute(query)).first()


async def rotate(conn: AsyncConnection, *, old_hash: str, new_hash: str, session_id: int, now: datetime, expires_at: datetime) -> bool:
    """Retire the current refresh token `old_hash` for `new_hash` and move the session's expiry
    on. False, and nothing done, when `old_hash` is no longer current (a concurrent refresh with
    the same token won): the caller treats that as a reuse."""
    retired = await conn.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.token_hash == old_hash, refresh_tokens.c.rotated_at.is_(None))
        .values(rotated_at=now)
    )
    if retired.rowcount != 1:
        return False
    await conn.execute(refresh_tokens.insert().values(token_hash=new_hash, session_id=session_id))
    await conn.execute(
        update(auth_sessions).where(auth_sessions.c.id == session_id).values(last_seen_at=now, expires_at=expires_at)
    )
    return True


async def ended_among(conn: AsyncConnection, session_ids: list[int], now: datetime) -> set[int]:
    """Those of `session_ids` that are revoked, expired or gone."""
    live = set(await conn.scalars(select(auth_sessions.c.id).where(auth_sessions.c.id.in_(session_ids), _live(now))))
    return set(session_ids) - live


async def purge(conn: AsyncConnection, now: datetime, rotated_before: datetime) -> int:
    """Forget the sessions that ended (their tokens fail alike without a row), and refresh
    tokens rotated before `rotated_before`: presented again they are merely unknown then,
    instead of revoking their session. How many sessions went."""
    ended = or_(auth_sessions.c.revoked_at.is_not(None), auth_sessions.c.expires_at <= now)
    ended_ids = select(auth_sessions.c.id).where(ended).scalar_subquery()
    await conn.execute(delete(refresh_tokens).where(or_(refresh_tokens.c.session_id.in_(ended_ids), refresh_tokens.c.rotated_at < rotated_before)))
    result = await conn.execute(delete(auth_sessions).where(ended))
    return result.rowcount
