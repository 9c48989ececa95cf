"""Revoked tokens: one at a time (logout), or all of a user's at once (their token generation
and their sessions). A token names its session (`storage.sessions`); one issued before sessions
existed names none, and is checked by its own id and generation alone."""

from datetime import datetime

from sqlalchemy import Row, and_, bindparam, delete, exists, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import sessions as session_store
from storage.clock import utc_now
from storage.tables import Millis, auth_sessions, revoked_tokens, users


async def revoke(conn: AsyncConnection, jti: str, expires_at: datetime) -> None:
    try:
        async with conn.begin_nested():
            await conn.execute(revoked_tokens.insert().values(jti=jti, expires_at=expires_at))
    except IntegrityError:
        pass  # already revoked: logout twice is harmless


# What authenticating a request needs of its user: fetching whole rows (a dozen columns, three
# datetimes to convert) was most of a session lookup's CPU in a reconnect storm.
_USER_FOR_AUTH = (users.c.id, users.c.status, users.c.deleted_at)

# Built once: every REST request and socket handshake runs it, and building a statement costs
# more CPU than executing it (the compiled form is cached by SQLAlchemy either way).
_USER_FOR_TOKEN = select(
    *_USER_FOR_AUTH,
    and_(
        or_(users.c.token_generation == bindparam("generation"), users.c.kept_token_jti == bindparam("jti")),
        ~exists().where(revoked_tokens.c.jti == bindparam("jti")),
    ).label("token_valid"),
    literal(None, Millis).label("session_seen_at"),
).where(users.c.id == bindparam("user_id"))

_USERS_OF_SESSIONS = (
    select(
        *_USER_FOR_AUTH,
        auth_sessions.c.id.label("session_id"),
        and_(auth_sessions.c.revoked_at.is_(None), auth_sessions.c.expires_at > bindparam("now")).label("token_valid"),
        auth_sessions.c.last_seen_at.label("session_seen_at"),
    )
    .select_from(users.join(auth_sessions, auth_sessions.c.user_id == users.c.id))
    .where(auth_sessions.c.id.in_(bindparam("session_ids", expanding=True)))
)


async def users_of_sessions(conn: AsyncConnection, session_ids: list[int], now: datetime) -> dict[int, Row]:
    """{session_id: its user's id, status and deleted_at, with `token_valid` (the session is
    live at `now`) and `session_seen_at`}, for those of `session_ids` that exist: what `user_for_token` answers for
    a token of a session, for many sessions in one round trip."""
    return {row.session_id: row for row in await conn.execute(_USERS_OF_SESSIONS, {"session_ids": session_ids, "now": now})}


async def user_for_token(conn: AsyncConnection, user_id: int, jti: str, generation: int) -> Row | None:
    """The id, status and deleted_at of the user of a token without a session, None when the
    user is gone, with `token_valid`: the token was neither revoked alone (logout) nor with all
    the user's others (another generation, unless it is the token kept by a password change).
    One round trip, by primary keys. A token of a session is checked by its session (`users_of_sessions`)."""
    return (await conn.execute(_USER_FOR_TOKEN, {"user_id": user_id, "jti": jti, "generation": generation})).first()


async def revoke_all(conn: AsyncConnection, user_id: int) -> bool:
    """Revoke every token and session of the user, those issued from now on excepted; False: no
    such user."""
    now = utc_now()
    result = await conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(token_generation=users.c.token_generation + 1, kept_token_jti=None, updated_at=now)
    )
    if result.rowcount != 1:
        return False
    await session_store.revoke_all(conn, user_id, now)
    return True


async def revoke_all_but(conn: AsyncConnection, user_id: int, jti: str, generation: int, session_id: int | None = None) -> bool:
    """Revoke every token and session of the user but the caller's (a password change, a logout
    everywhere else): session `session_id`, or for a token without a session the one with id
    `jti` and generation `generation`, kept valid whatever its generation. Tokens without a
    session move to the next generation. False, and nothing done, when the caller's token or
    session is no longer valid itself (revoked since it was checked: keeping it would bring it
    back) or the user is disabled."""
    now = utc_now()
    if session_id is None:
        caller_valid = and_(
            or_(users.c.token_generation == generation, users.c.kept_token_jti == jti),
            ~exists().where(revoked_tokens.c.jti == jti),
        )
    else:
        caller_valid = exists().where(
            auth_sessions.c.id == session_id,
            auth_sessions.c.user_id == user_id,
            auth_sessions.c.revoked_at.is_(None),
            auth_sessions.c.expires_at > now,
        )
    result = await conn.execute(
        users.update()
        .where(users.c.id == user_id, users.c.status == 1, caller_valid)
        .values(token_generation=users.c.token_generation + 1, kept_token_jti=jti if session_id is None else None, updated_at=now)
    )
    if result.rowcount != 1:
        return False
    await session_store.revoke_all(conn, user_id, now, but=session_id)
    return True


async def sessions_ended(conn: AsyncConnection, user_ids: list[int]) -> dict[int, tuple[int, str | None] | None]:
    """Of these users, those whose tokens may have been revoked all at once or who are disabled:
    {user_id: (their token generation, the id of the token a password change kept or None), or
    None when disabled}. A user left out has all their tokens of generation 0, the one every
    token starts in, and is enabled. One round trip."""
    query = select(users.c.id, users.c.status, users.c.token_generation, users.c.kept_token_jti).where(
        users.c.id.in_(user_ids), or_(users.c.status != 1, users.c.token_generation != 0)
    )
    return {row.id: ((row.token_generation, row.kept_token_jti) if row.status == 1 else None) for row in await conn.execute(query)}


async def revoked_among(conn: AsyncConnection, jtis: list[str]) -> set[str]:
    return set(await conn.scalars(select(revoked_tokens.c.jti).where(revoked_tokens.c.jti.in_(jtis))))


async def purge_expired(conn: AsyncConnection, now: datetime) -> int:
    result = await conn.execute(delete(revoked_tokens).where(revoked_tokens.c.expires_at < now))
    return result.rowcount
