"""A user's TOTP secret and recovery codes (hashed by the caller)."""

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import recovery_codes, users


async def set_pending(conn: AsyncConnection, user_id: int, secret: str) -> None:
    """A new secret, not in force until confirmed (`enable`)."""
    await conn.execute(update(users).where(users.c.id == user_id).values(totp_secret=secret, totp_enabled_at=None, totp_last_step=None))


async def enable(conn: AsyncConnection, user_id: int, now: datetime, step: int, code_hashes: list[str]) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(totp_enabled_at=now, totp_last_step=step))
    await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
    await conn.execute(recovery_codes.insert(), [{"user_id": user_id, "code_hash": code_hash} for code_hash in code_hashes])


async def accept_step(conn: AsyncConnection, user_id: int, step: int) -> bool:
    """Record that the code of time step `step` was used; False when it or a later one was
    already (a code works once, and an older one never after a newer)."""
    result = await conn.execute(
        update(users)
        .where(users.c.id == user_id, (users.c.totp_last_step.is_(None)) | (users.c.totp_last_step < step))
        .values(totp_last_step=step)
    )
    return result.rowcount == 1


async def use_recovery_code(conn: AsyncConnection, user_id: int, code_hash: str, now: datetime) -> bool:
    """Spend an unused recovery code; False when there is none such."""
    result = await conn.execute(
        update(recovery_codes)
        .where(recovery_codes.c.user_id == user_id, recovery_codes.c.code_hash == code_hash, recovery_codes.c.used_at.is_(None))
        .values(used_at=now)
    )
    return result.rowcount == 1


async def recovery_codes_left(conn: AsyncConnection, user_id: int) -> int:
    query = select(func.count()).select_from(recovery_codes).where(recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None))
    return await conn.scalar(query)


async def clear(conn: AsyncConnection, user_id: int) -> bool:
    """Two-factor off, recovery codes gone; False: no such user."""
    await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
    result = await conn.execute(update(users).where(users.c.id == user_id).values(totp_secret=None, totp_enabled_at=None, totp_last_step=None))
    return result.rowcount == 1
