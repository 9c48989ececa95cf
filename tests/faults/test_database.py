"""The database goes away under the server.

Stopped and restarted mid-load: while it is down, sends are answered 503 with
`data.retry_after_ms` (PROTOCOL §1) at once, not after a hang, /readyz says 503, and once it is
back the same server process serves again, with nothing acknowledged lost.

Idle pooled connections closed by the database (its `wait_timeout`) or killed (`KILL`): the
next requests must be served as if nothing happened, never a 500 (nor a 503: the database is
up)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp

from tests.faults.checker import Checker
from tests.faults.client import Dialer, call
from tests.faults.hubbub import NO_RATE_LIMIT
from tests.faults.load import Sender, outgoing, senders
from tests.faults.world import World, build

OUTAGE_SECONDS = 3.0
FAST_ANSWER = 2.0  # seconds: an outage is answered at once, not after a connect timeout
RECOVERY_SECONDS = 15.0


async def timed_health(session: aiohttp.ClientSession, url: str) -> tuple[int, float]:
    started = time.monotonic()
    status, body = await call(session, url, "GET", "/readyz")
    assert body["code"] == status, body
    return status, time.monotonic() - started


async def test_database_restarted_mid_load(farm, session):
    server = farm.start(NO_RATE_LIMIT)
    checker = Checker([server.url])
    world = await build(session, server.url, checker, users=4, groups=2, directs=4)
    deadline = time.monotonic() + 60
    load = senders(session, checker, world, per_user=2, count=150, window=2, interval=0.01)
    running = asyncio.gather(*(sender.run(deadline) for sender in load))
    while checker.acked_count() < 200:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)

    farm.mariadb.stop()
    down = time.monotonic()
    health_down = []
    while time.monotonic() - down < OUTAGE_SECONDS:
        health_down.append(await timed_health(session, server.url))
        await asyncio.sleep(0.2)
    farm.mariadb.start()
    up = time.monotonic()
    health_up = None
    while time.monotonic() - up < RECOVERY_SECONDS:
        health_up = await timed_health(session, server.url)
        if health_up[0] == 200:
            break
        await asyncio.sleep(0.1)
    await running
    report = await checker.verify()

    replies = [reply for sender in load for reply in sender.stats.replies]
    during = [(code, seconds) for code, seconds, at in replies if down <= at <= up]
    slow = [(code, round(seconds, 2)) for code, seconds in during if seconds > FAST_ANSWER]
    codes = Counter(code for code, _ in during)
    print(report.summary(), f"\nduring the outage: replies {dict(codes)}, slow {slow[:5]}; /readyz {health_down[:3]}...; back: {health_up}")
    assert codes[503] > 0, f"no send was answered 503 while the database was down: {dict(codes)}"
    assert set(codes) <= {503, 200, 201}, f"replies during the outage: {dict(codes)}"
    assert not slow, f"{len(slow)} replies took over {FAST_ANSWER}s during the outage: {slow[:10]}"
    assert all(status == 503 and seconds <= FAST_ANSWER for status, seconds in health_down[1:]), health_down
    assert health_up is not None and health_up[0] == 200, f"/readyz after the database came back: {health_up}"
    assert server.running(), "the server process died"
    assert all(sender.done for sender in load), [sender.stats for sender in load if not sender.done]
    report.assert_clean()


async def burst(session: aiohttp.ClientSession, url: str, world: World, checker: Checker, tag: str) -> Counter:
    """REST reads and writes and socket sends at once, enough to use several pooled
    connections: the status or reply code of each."""
    calls = []
    for n, account in enumerate(world.accounts):
        for conversation in world.conversations_of(n):
            calls.append(call(session, url, "GET", f"/api/conversations/{conversation}/messages", account.token, params={"limit": "5"}))
            calls.append(call(session, url, "POST", f"/api/conversations/{conversation}/messages", account.token, json={"content": f"{tag} rest"}))
        calls.append(call(session, url, "GET", "/api/conversations", account.token))
    answers = await asyncio.gather(*calls)
    codes = Counter(status for status, _ in answers)
    socket_senders = [
        Sender(Dialer(session, checker.urls, account, checker, f"{tag}{n}"), outgoing(f"{tag}{n}", world.conversations_of(n), 4), checker, window=4)
        for n, account in enumerate(world.accounts)
    ]
    await asyncio.gather(*(sender.run(time.monotonic() + 20) for sender in socket_senders))
    for sender in socket_senders:
        codes.update(sender.stats.codes)
    return codes


async def test_idle_connections_closed_or_killed_by_database(farm, session):
    server = farm.start(NO_RATE_LIMIT)
    checker = Checker([server.url])
    world = await build(session, server.url, checker, users=4, groups=2, directs=4)
    warm = await burst(session, server.url, world, checker, "warm")

    # Killed: every connection the server holds, all idle in its pool now. The ones it opens
    # instead get the short wait_timeout set first.
    farm.mariadb.sql("SET GLOBAL wait_timeout = 2")
    pool = farm.mariadb.sql(f"SELECT id FROM information_schema.PROCESSLIST WHERE DB = '{farm.database}'")
    for (thread_id,) in pool:
        farm.mariadb.sql(f"KILL {thread_id}")
    after_kill = await burst(session, server.url, world, checker, "kill")

    await asyncio.sleep(3.5)  # past wait_timeout: the database closes every idle connection
    after_timeout = await burst(session, server.url, world, checker, "timeout")
    health = await timed_health(session, server.url)
    report = await checker.verify()
    print(report.summary(), f"\nwarm {dict(warm)}; after KILL of {len(pool)} {dict(after_kill)}; after wait_timeout {dict(after_timeout)}")
    assert set(warm) <= {200, 201}, dict(warm)
    assert pool, "the server held no connection to kill"
    assert set(after_kill) <= {200, 201}, f"after KILL of {len(pool)} pooled connections: {dict(after_kill)}"
    assert set(after_timeout) <= {200, 201}, f"after wait_timeout closed the idle connections: {dict(after_timeout)}"
    assert health[0] == 200
    report.assert_clean()
