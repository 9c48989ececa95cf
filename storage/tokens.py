"""Revoked tokens: one at a time (logout), or all of a user's at once (their token generation)."""

from datetime import datetime

from sqlalchemy import Row, and_, delete, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.clock import utc_now
from storage.tables import revoked_tokens, users


async def revoke(conn: AsyncConnection, jti: str, expires_at: datetime) -> None:
    try:
        async with conn.begin_nested():
            await conn.execute(revoked_tokens.insert().values(jti=jti, expires_at=expires_at))
    except IntegrityError:
        pass  # already revoked: logout twice is harmless


async def user_for_token(conn: AsyncConnection, user_id: int, jti: str, generation: int) -> Row | None:
    """The token's user, None when the user is gone, with `token_valid`: the token was neither
    revoked alone (logout) nor with all the user's others (another generation, unless it is the
    token kept by a password change). One round trip."""
    current = or_(users.c.token_generation == generation, users.c.kept_token_jti == jti)
    valid = and_(current, ~exists().where(revoked_tokens.c.jti == jti))
    return (await conn.execute(select(users, valid.label("token_valid")).where(users.c.id == user_id))).first()


async def revoke_all(conn: AsyncConnection, user_id: int) -> bool:
    """Revoke every token of the user, those issued from now on excepted; False: no such user."""
    result = await conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(token_generation=users.c.token_generation + 1, kept_token_jti=None, updated_at=utc_now())
    )
    return result.rowcount == 1


async def revoke_all_but(conn: AsyncConnection, user_id: int, jti: str, generation: int) -> bool:
    """Revoke every token of the user but the one with id `jti` and generation `generation` (a
    password change's caller): the next generation, with `jti` kept valid whatever its
    generation. False, and nothing done, when that token is no longer valid itself (revoked
    since it was checked: keeping it would bring it back) or the user is disabled."""
    still_valid = and_(
        users.c.status == 1,
        or_(users.c.token_generation == generation, users.c.kept_token_jti == jti),
        ~exists().where(revoked_tokens.c.jti == jti),
    )
    result = await conn.execute(
        users.update()
        .where(users.c.id == user_id, still_valid)
        .values(token_generation=users.c.token_generation + 1, kept_token_jti=jti, updated_at=utc_now())
    )
    return result.rowcount == 1


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
