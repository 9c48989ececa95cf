"""A socket that stops reading, beside a control socket in the same group.

The control socket must get every message, in order and without waiting for the slow one
(a broadcast never waits for a slow reader, server/tracker.py). The slow one fills its own
outgoing queue and is closed: 1013, or, as it read nothing at all for over a second after
that, cut (PROTOCOL §4). It then reconnects and catches up with `history after=` the highest
seq it got, missing nothing."""

from __future__ import annotations

import asyncio
import time

from tests.faults.checker import Checker
from tests.faults.client import Dialer
from tests.faults.hubbub import NO_RATE_LIMIT
from tests.faults.load import Follower, Sender, outgoing
from tests.faults.rawws import RawSocket
from tests.faults.world import build

QUEUE_MAX = 32
SENDERS = 2
MESSAGES = 250  # per sender
# 16 KB pushes: the server's kernel send buffer alone can take 4 MB of them (Linux's default
# tcp_wmem maximum) before the server sees the slow socket back up.
CONTENT_CHARS = 4000
CONTROL_LAG = 1.0  # seconds from a send to the control socket having its push


async def test_slow_consumer_beside_a_control_socket(farm, session):
    server = farm.start({**NO_RATE_LIMIT, "HUBBUB_WS_SEND_QUEUE_MAX": str(QUEUE_MAX)})
    checker = Checker([server.url])
    world = await build(session, server.url, checker, users=3, groups=1)
    sender_account, control_account, slow_account = world.accounts
    total = SENDERS * MESSAGES
    (group,) = world.groups
    deadline = time.monotonic() + 60

    control = Follower(Dialer(session, checker.urls, control_account, checker, "control"), [group], checker)
    await control.open(deadline)
    checker.follow("control", group)
    slow = await RawSocket.connect(server.url, slow_account.token)
    checker.follow("slow", group)

    load = [
        Sender(Dialer(session, checker.urls, sender_account, checker, f"sender{n}"), outgoing(f"sender{n}", [group], MESSAGES, CONTENT_CHARS), checker, window=4)
        for n in range(SENDERS)
    ]
    await asyncio.gather(*(sender.run(deadline) for sender in load))
    await control.settle(deadline)

    # Only now does the slow one read: what the server had sent it before closing it.
    frames = await slow.drain_messages(timeout=5)
    got = [frame["data"] for frame in frames if frame.get("type") == "message.new"]
    for message in got:
        checker.pushed("slow.1", "slow", message)
    slow.close()
    catch_up = Follower(Dialer(session, checker.urls, slow_account, checker, "slow"), [group], checker)
    catch_up.highest[group] = max((m["seq"] for m in got), default=0)
    await catch_up.open(deadline)
    await catch_up.close()

    acks = checker.acks()
    arrivals = {message["seq"]: at for message, at in control.link.arrivals}
    sent_at = {cmid: at for sender in load for cmid, at in sender.stats.sent_at.items()}
    lags = sorted(arrivals.get(ack["seq"], float("inf")) - sent_at[cmid] for cmid, ack in acks.items())
    await control.close()
    report = await checker.verify()
    print(report.summary(), f"\nslow socket: {len(got)} pushes, close code {slow.close_code}; control lag max {lags[-1]:.3f}s")
    assert all(sender.done for sender in load), [sender.stats for sender in load]
    assert len(got) < total, "the slow socket was sent everything: it never fell behind, the scenario tested nothing"
    assert slow.close_code in (1013, None), f"slow socket closed with {slow.close_code}"
    assert "send queue full" in server.log_text(), "the server did not close the slow socket for its full queue"
    assert lags[-1] <= CONTROL_LAG, f"the control socket waited {lags[-1]:.2f}s for a push"
    report.assert_clean()
