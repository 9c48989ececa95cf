"""Reconnect catch-up racing live pushes. Followers drop their socket again and again while
messages keep coming; each new socket asks `history after=` the highest seq the follower holds
while new pushes already arrive on it. What each follower got, pushes and history pages
together, must be every message with no hole (PROTOCOL §4: resuming with `after=` misses
nothing), and no socket may get a seq twice or out of order."""

from __future__ import annotations

import asyncio
import random
import time

from tests.faults.checker import Checker
from tests.faults.hubbub import NO_RATE_LIMIT
from tests.faults.load import Follower, followers, senders
from tests.faults.world import build

RECONNECTS = 12


async def bounce(follower: Follower, stop: asyncio.Event, deadline: float, rng: random.Random) -> None:
    """Reconnect and catch up at random moments until the senders are done."""
    for _ in range(RECONNECTS):
        if stop.is_set():
            return
        await asyncio.sleep(rng.uniform(0.02, 0.25))
        await follower.open(deadline)


async def test_catch_up_races_live_pushes(farm, session):
    server = farm.start(NO_RATE_LIMIT)
    checker = Checker([server.url])
    world = await build(session, server.url, checker, users=6, groups=2, directs=6)
    deadline = time.monotonic() + 60
    readers = followers(session, checker, world)
    for reader in readers:
        for conversation in reader.conversations:
            checker.follow(reader.dialer.client, conversation)
        await reader.open(deadline)
    load = senders(session, checker, world, per_user=1, count=150, window=2, interval=0.005)
    stop = asyncio.Event()
    rng = random.Random(11)
    bouncing = asyncio.gather(*(bounce(reader, stop, deadline, rng) for reader in readers))
    await asyncio.gather(*(sender.run(deadline) for sender in load))
    stop.set()
    await bouncing
    for reader in readers:
        await reader.settle(deadline)
        await reader.close()
    report = await checker.verify()
    links = sum(len(reader.links) for reader in readers)
    print(report.summary(), f"\n{links} follower sockets")
    assert all(sender.done for sender in load), [sender.stats for sender in load if not sender.done]
    assert links >= len(readers) * 4, "too few reconnects happened during the load"
    report.assert_clean()
