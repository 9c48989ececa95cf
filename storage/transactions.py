"""Transactions the database rolled back for a conflict with another, run again.

InnoDB resolves a deadlock by rolling one of its transactions back whole (MySQL/MariaDB error
1213), and gives up a lock wait after innodb_lock_wait_timeout (1205); its documentation asks
applications to issue such a transaction again. SQLite has one writer at a time and raises
neither."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

# MySQL/MariaDB's ER_LOCK_DEADLOCK and ER_LOCK_WAIT_TIMEOUT.
_CONFLICTS = (1213, 1205)
# How many times a transaction rolled back for a conflict is run again before its caller hears
# 503: a third conflict in a row is an overload, not bad luck.
CONFLICT_RETRIES = 2

T = TypeVar("T")


def conflicted(exc: BaseException) -> bool:
    """Whether `exc` is a deadlock or a lock wait timeout of MySQL/MariaDB, its connection still
    usable: the transaction that met it was (or, leaving its `begin()` block, is) rolled back
    and may be run again. A lost connection is no conflict: its COMMIT may have been done."""
    return (
        isinstance(exc, DBAPIError)
        and not exc.connection_invalidated
        and bool(getattr(exc.orig, "args", None))
        and exc.orig.args[0] in _CONFLICTS
    )


async def in_transaction(db: AsyncEngine, work: Callable[[AsyncConnection], Awaitable[T]], what: str) -> T:
    """`work(conn)` in a transaction of its own, committed; run again from the start, in a new
    transaction, when the database rolled it back for a conflict (at most CONFLICT_RETRIES
    times). `work` must do nothing outside the database that a second run would repeat (push
    after this returns). `what` names the transaction in the log."""
    conflicts = 0
    while True:
        try:
            async with db.begin() as conn:
                return await work(conn)
        except DBAPIError as exc:
            if not conflicted(exc) or conflicts == CONFLICT_RETRIES:
                raise
            conflicts += 1
            log.info("%s was rolled back (%s); running it again", what, exc.orig.args[0])
