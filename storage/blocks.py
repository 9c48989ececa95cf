"""Who blocked whom (`user_blocks`)."""

from sqlalchemy import ColumnElement, Row, bindparam, delete, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.clock import utc_now
from storage.tables import user_blocks, users


async def block(conn: AsyncConnection, blocker_id: int, blocked_id: int) -> bool:
    """True when this made the block; False when it was there already (harmless)."""
    try:
        async with conn.begin_nested():
            await conn.execute(user_blocks.insert().values(blocker_id=blocker_id, blocked_id=blocked_id, created_at=utc_now()))
    except IntegrityError:
        return False
    return True


async def unblock(conn: AsyncConnection, blocker_id: int, blocked_id: int) -> bool:
    """True when there was a block to remove."""
    result = await conn.execute(delete(user_blocks).where(user_blocks.c.blocker_id == blocker_id, user_blocks.c.blocked_id == blocked_id))
    return result.rowcount > 0


async def is_blocked(conn: AsyncConnection, blocker_id: int, blocked_id: int) -> bool:
    """One primary-key lookup."""
    query = select(user_blocks.c.blocker_id).where(user_blocks.c.blocker_id == blocker_id, user_blocks.c.blocked_id == blocked_id)
    return (await conn.scalar(query)) is not None


# Built once: every typing notice runs it.
_BLOCKED_BY = select(user_blocks.c.blocker_id, user_blocks.c.blocked_id).where(
    user_blocks.c.blocker_id.in_(bindparam("blocker_ids", expanding=True))
)


async def blocked_by(conn: AsyncConnection, blocker_ids: list[int]) -> dict[int, set[int]]:
    """{blocker: the users they blocked}, for those of `blocker_ids` who blocked anyone."""
    found: dict[int, set[int]] = {}
    for row in await conn.execute(_BLOCKED_BY, {"blocker_ids": blocker_ids}):
        found.setdefault(row.blocker_id, set()).add(row.blocked_id)
    return found


# An alias: a select of `users` may join `user_blocks` itself (list_blocked does).
_VIEWER_BLOCKS = user_blocks.alias("viewer_blocks")


def blocked_viewer(viewer_id: int) -> ColumnElement[bool]:
    """A column for a select of `users`: whether that user blocked `viewer_id`, who must then
    see them offline (PROTOCOL §3 "Presence and blocks")."""
    return exists().where(_VIEWER_BLOCKS.c.blocker_id == users.c.id, _VIEWER_BLOCKS.c.blocked_id == viewer_id).correlate(users).label("blocked_viewer")


async def users_seen_by(conn: AsyncConnection, viewer_id: int, user_ids: list[int]) -> list[Row]:
    """These users' rows with `blocked_viewer`, by id. One statement."""
    return list(await conn.execute(select(users, blocked_viewer(viewer_id)).where(users.c.id.in_(user_ids)).order_by(users.c.id)))


# Built once: the views of a direct conversation run it (its creation by a first message among them).
_PAIR = bindparam("pair", expanding=True)
_PAIR_SEEN = select(
    users,
    # No one blocks oneself: a block of a pair member by a pair member is one of the other.
    exists()
    .where(user_blocks.c.blocker_id == users.c.id, user_blocks.c.blocked_id.in_(_PAIR), user_blocks.c.blocked_id != users.c.id)
    .label("blocked_peer"),
).where(users.c.id.in_(_PAIR))


async def pair_seen_by_each_other(conn: AsyncConnection, user_id: int, other_id: int) -> list[Row]:
    """Both users' rows with `blocked_peer`: whether that user blocked the other one, who must
    then see them offline. One statement."""
    return list(await conn.execute(_PAIR_SEEN, {"pair": [user_id, other_id]}))


async def list_blocked(conn: AsyncConnection, blocker_id: int) -> list[Row]:
    """The users `blocker_id` blocked, with `blocked_at` and `blocked_viewer` (they may have
    blocked `blocker_id` too), latest first."""
    query = (
        select(users, user_blocks.c.created_at.label("blocked_at"), blocked_viewer(blocker_id))
        .join(user_blocks, user_blocks.c.blocked_id == users.c.id)
        .where(user_blocks.c.blocker_id == blocker_id)
        .order_by(user_blocks.c.created_at.desc(), users.c.id.desc())
    )
    return list(await conn.execute(query))
