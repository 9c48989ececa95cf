"""A server killed (SIGKILL) or stopped (SIGTERM) in the middle of the load.

SIGKILL: two servers on one database; one is killed while frames are in flight on it. Its
clients reconnect to the other and resend whatever got no reply, with the same client_msg_id
(PROTOCOL §3: a repeat is answered with the original message), then it comes back. Nothing
acknowledged may be lost and nothing stored twice.

SIGTERM: the graceful shutdown of PROTOCOL §4. Sockets that keep reading get close 1001 after
the frame in hand is replied to; frames behind it get no reply and are not handled. So a send
on a reading socket that got no reply must not have been stored. Sockets that stopped reading
(their replies and pushes back up in the server) must not hold the shutdown up."""

from __future__ import annotations

import asyncio
import time

from tests.faults.checker import Checker
from tests.faults.client import Account, Dialer
from tests.faults.hubbub import NO_RATE_LIMIT
from tests.faults.load import Outgoing, Sender, followers, outgoing, senders
from tests.faults.rawws import RawSocket
from tests.faults.world import build

SHUTDOWN_SECONDS = 1  # the server's shutdown_timeout_seconds
# The shutdown waits that long for frames in hand, and a close takes at most a second more.
EXIT_WITHIN = SHUTDOWN_SECONDS + 1 + 3


async def until(predicate, deadline: float, what: str) -> None:
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_sigkill_under_load_resend_by_client_msg_id(farm, session):
    doomed, survivor = farm.start(NO_RATE_LIMIT), farm.start(NO_RATE_LIMIT)
    checker = Checker([doomed.url, survivor.url])
    world = await build(session, survivor.url, checker, users=6, groups=3, directs=6)
    deadline = time.monotonic() + 60
    # A crash may drop the reply of a committed send: not strict, the resend sorts it out.
    load = senders(session, checker, world, per_user=2, count=150, window=4, strict=False)
    running = asyncio.gather(*(sender.run(deadline) for sender in load))
    total = sum(sender.total for sender in load)
    await until(lambda: checker.acked_count() >= total // 3, deadline, "a third of the load")
    doomed.kill()
    await until(lambda: checker.acked_count() >= 2 * total // 3, deadline, "two thirds of the load")
    doomed.start()
    await running
    report = await checker.verify()
    print(report.summary())
    unreplied = sum(sender.stats.unreplied for sender in load)
    assert unreplied > 0, "the kill caught no frame in flight: the scenario tested nothing"
    assert all(sender.done for sender in load), [sender.stats for sender in load if not sender.done]
    report.assert_clean()


async def test_sigterm_under_load_with_readers_and_non_readers(farm, session):
    server = farm.start({**NO_RATE_LIMIT, "HUBBUB_SHUTDOWN_TIMEOUT_SECONDS": str(SHUTDOWN_SECONDS)})
    checker = Checker([server.url])
    world = await build(session, server.url, checker, users=6, groups=2, directs=6)
    deadline = time.monotonic() + 60
    readers = followers(session, checker, world)
    for reader in readers:
        await reader.open(deadline)
    load = senders(session, checker, world, per_user=2, count=200, window=4)
    # Non-readers: each pipelines its sends and never reads, so its replies and the pushes
    # of everyone's messages pile up in the server behind a full socket.
    silent: list[tuple[Account, RawSocket, str, dict[str, Outgoing]]] = []
    for n, account in enumerate(world.accounts[:3]):
        label = f"silent{n}"
        raw = await RawSocket.connect(server.url, account.token)
        frames = {}
        for out in outgoing(label, world.conversations_of(n), 60, content_chars=400):
            frame_id = f"{label}-{out.index}"
            frames[frame_id] = out
            checker.sent(label, out.client_msg_id)
            raw.send_json({"type": "send_message", "id": frame_id, "data": {"conversation_id": out.conversation_id, "content": out.content, "client_msg_id": out.client_msg_id}})
        silent.append((account, raw, label, frames))
    running = asyncio.gather(*(sender.run(deadline) for sender in load))
    total = sum(sender.total for sender in load)
    await until(lambda: checker.acked_count() >= total // 3, deadline, "a third of the load")

    links = [link for link in [sender.links[-1] for sender in load] + [reader.link for reader in readers] if not link.closed]
    server.terminate()
    stopping = time.monotonic()
    codes = [await link.wait_closed(EXIT_WITHIN) for link in links]
    exit_code = await asyncio.to_thread(server.wait, EXIT_WITHIN)
    stopped_after = time.monotonic() - stopping

    # What the non-readers were sent before the end, read now; all their sends without a
    # reply are resent after the restart, like everyone else's.
    resend = []
    for account, raw, label, frames in silent:
        replied = set()
        for frame in await raw.drain_messages(timeout=2):
            if frame.get("type") == "reply" and frame.get("id") in frames:
                out = frames[frame["id"]]
                checker.replied(label, out.client_msg_id, frame["code"], frame["data"])
                if 200 <= frame["code"] < 300:
                    replied.add(frame["id"])
            elif frame.get("type") == "message.new":
                checker.pushed(label, label, frame["data"])
        raw.close()
        unanswered = [out for frame_id, out in frames.items() if frame_id not in replied]
        resend.append(Sender(Dialer(session, checker.urls, account, checker, f"{label}.resend"), unanswered, checker))

    server.start()
    await running
    await asyncio.gather(*(sender.run(deadline) for sender in resend))
    report = await checker.verify()
    print(report.summary(), f"\nexit {exit_code} after {stopped_after:.1f}s; close codes {sorted(set(map(str, codes)))}")
    assert exit_code is not None, f"the server did not exit within {EXIT_WITHIN}s of SIGTERM:\n{server.log_tail()}"
    assert codes == [1001] * len(codes), f"reading sockets closed with {codes}, the contract says 1001"
    assert all(sender.done for sender in load + resend)
    report.assert_clean()
