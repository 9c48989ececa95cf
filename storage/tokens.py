"""Revoked (logged-out) tokens."""

from datetime import datetime

from sqlalchemy import Row, and_, delete, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import revoked_tokens, users


async def revoke(conn: AsyncConnection, jti: str, expires_at: datetime) -> None:
    try:
        async with conn.begin_nested():
            await conn.execute(revoked_tokens.insert().values(jti=jti, expires_at=expires_at))
    except IntegrityError:
        pass  # already revoked: logout twice is harmless


async def user_for_token(conn: AsyncConnection, user_id: int, jti: str) -> Row | None:
    """The token's user, or None when the token was revoked or the user is gone: one round trip."""
    not_revoked = ~exists().where(revoked_tokens.c.jti == jti)
    return (await conn.execute(select(users).where(and_(users.c.id == user_id, not_revoked)))).first()


async def revoked_among(conn: AsyncConnection, jtis: list[str]) -> set[str]:
    return set(await conn.scalars(select(revoked_tokens.c.jti).where(revoked_tokens.c.jti.in_(jtis))))


async def purge_expired(conn: AsyncConnection, now: datetime) -> int:
    result = await conn.execute(delete(revoked_tokens).where(revoked_tokens.c.expires_at < now))
    return result.rowcount
