"""storage.kept_connection: one connection kept between a task's reads, in autocommit."""

import pytest
from sqlalchemy import func, select, text

from storage import users as user_store
from storage.kept_connection import KeptConnection
from storage.tables import users

COUNT_USERS = select(func.count()).select_from(users)


async def count_users(conn) -> int:
    return await conn.scalar(COUNT_USERS)


async def driver_of(conn):
    return conn.sync_connection.connection.dbapi_connection


async def add_user(engine, name: str) -> None:
    async with engine.begin() as conn:
        await user_store.insert_user(conn, username=name, email=f"{name}@example.com", password_hash="x", nickname=None)


async def test_reads_share_a_connection_and_see_every_commit(engine):
    kept = KeptConnection(engine)
    assert await kept.read(count_users) == 0
    first = await kept.read(driver_of)
    assert engine.pool.checkedout() == 1
    await add_user(engine, "alice")
    assert await kept.read(count_users) == 1
    assert await kept.read(driver_of) is first
    await kept.close()
    assert engine.pool.checkedout() == 0


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_sqlite_reads_keep_no_connection(engine, backend):
    kept = KeptConnection(engine)
    assert await kept.read(count_users) == 0
    await add_user(engine, "alice")  # a writer is not held up by a kept reader
    assert await kept.read(count_users) == 1
    await kept.close()


async def test_nothing_is_held_between_reads(engine):
    """No transaction stays open on the kept connection, so it holds no metadata lock that
    would make a migration's ALTER TABLE wait for it."""
    kept = KeptConnection(engine)
    await kept.read(count_users)
    async with engine.connect() as other:
        await other.execute(text("SET SESSION lock_wait_timeout = 2"))
        await other.execute(text("ALTER TABLE users COMMENT = 'altered while a read connection is kept'"))
    await kept.close()


async def test_a_read_that_failed_does_not_keep_its_connection(engine):
    kept = KeptConnection(engine)
    with pytest.raises(Exception):
        await kept.read(lambda conn: conn.execute(text("SELECT no_such_column FROM users")))
    assert engine.pool.checkedout() == 0
    assert await kept.read(count_users) == 0
    await kept.close()
    assert engine.pool.checkedout() == 0


async def test_a_kept_connection_killed_meanwhile_is_replaced_and_the_read_made_again(engine):
    """The server ended it (KILL, a restart) a moment ago, before its goodbye reached us: the
    reader never hears of it, as no checkout from the pool would show it."""
    kept = KeptConnection(engine)
    thread_id = await kept.read(lambda conn: conn.scalar(text("SELECT CONNECTION_ID()")))
    await add_user(engine, "alice")
    async with engine.connect() as other:
        await other.execute(text(f"KILL CONNECTION {int(thread_id)}"))
    assert await kept.read(count_users) == 1
    assert await kept.read(lambda conn: conn.scalar(text("SELECT CONNECTION_ID()"))) != thread_id
    await kept.close()
    assert engine.pool.checkedout() == 0


async def test_two_readers_at_once_then_one_connection_is_kept(engine):
    kept = KeptConnection(engine)

    async def nested(conn):
        inner = await kept.read(driver_of)
        assert inner is not await driver_of(conn)
        assert engine.pool.checkedout() == 2

    await kept.read(nested)
    assert engine.pool.checkedout() == 1
    await kept.close()
    assert engine.pool.checkedout() == 0
