"""Plain load, no fault: many sockets sending pipelined into shared groups keep the writer's
batches in flight side by side. Every socket must see each conversation's pushes in seq order
(PROTOCOL §4, decided: "message.new reaches each socket in seq order")."""

from __future__ import annotations

import asyncio
import time

from tests.faults.checker import Checker
from tests.faults.hubbub import NO_RATE_LIMIT
from tests.faults.load import followers, senders
from tests.faults.world import build


async def test_pushes_in_seq_order_under_load(farm, session):
    server = farm.start(NO_RATE_LIMIT)
    checker = Checker([server.url])
    world = await build(session, server.url, checker, users=8, groups=4, directs=8)
    deadline = time.monotonic() + 60
    readers = followers(session, checker, world)
    for reader in readers:
        await reader.open(deadline)
    load = senders(session, checker, world, per_user=2, count=200, window=8)
    await asyncio.gather(*(sender.run(deadline) for sender in load))
    for reader in readers:
        await reader.settle(deadline)
        await reader.close()
    report = await checker.verify()
    print(report.summary())
    assert all(sender.done for sender in load), [sender.stats for sender in load if not sender.done]
    report.assert_clean()
