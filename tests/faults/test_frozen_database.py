"""The database stops answering without closing its connections (SIGSTOP: a server stuck on a
disk or behind a network black hole look the same to us), mid-load, and carries on later.

aiomysql has no read timeout: without `database_timeout_seconds` every request, frame and
message batch would wait for the thaw (or forever). With it, while the database is frozen,
sends and REST requests are answered 503 with `retry_after_ms` within a bound, /readyz says
503, sockets stay open; after the thaw the same process serves again. A batch whose answer did
not come back may still have been committed (by the frozen server once it carries on): its
senders heard 503, which PROTOCOL §1 says means "perhaps stored, resend with the same
client_msg_id", and their resends are answered with the stored messages. The checker finds
nothing acknowledged lost, nothing stored twice, no seq gap, every follower's pushes in seq
order and none missing (those of a batch committed while its writer had given up included)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
import pymysql

from storage.procedures import APPEND_ONE
from tests.faults.answer_loss import AnswerLosingRelay
from tests.faults.checker import Checker
from tests.faults.client import call
from tests.faults.hubbub import NO_RATE_LIMIT
from tests.faults.load import followers, senders
from tests.faults.world import World, build

TIMEOUT = 1.0  # the server's database_timeout_seconds
FREEZE_SECONDS = 4.0
# A send may wait for the batch ahead of it to time out, then for its own (and a batch that
# met a resent client_msg_id just before the freeze retries its sends one by one); a request
# for the full pool, then for its statement; a margin for the two loaded cores.
ANSWER_WITHIN = 3 * TIMEOUT + 1.0
RECOVERY_SECONDS = 15.0


async def timed(session: aiohttp.ClientSession, url: str, path: str, token: str | None = None) -> tuple[int, float, float]:
    """(status, seconds it took, monotonic time of the answer); the envelope's code must match."""
    started = time.monotonic()
    status, body = await call(session, url, "GET", path, token)
    assert body["code"] == status, body
    if status == 503:
        assert isinstance(body["data"]["retry_after_ms"], int), body
    now = time.monotonic()
    return status, now - started, now


async def probe(session: aiohttp.ClientSession, url: str, world: World, until: float) -> tuple[list, list]:
    """/readyz and a REST read, one after the other, until `until`."""
    ready, reads = [], []
    account = world.accounts[0]
    while time.monotonic() < until:
        ready.append(await timed(session, url, "/readyz"))
        reads.append(await timed(session, url, f"/api/conversations/{world.groups[0]}/messages?limit=5", account.token))
    return ready, reads


async def test_database_frozen_mid_load(farm, session):
    server = farm.start({**NO_RATE_LIMIT, "HUBBUB_DATABASE_TIMEOUT_SECONDS": str(TIMEOUT)})
    checker = Checker([server.url])
    world = await build(session, server.url, checker, users=4, groups=2, directs=4)
    deadline = time.monotonic() + 90
    readers = followers(session, checker, world)
    for reader in readers:
        await reader.open(deadline)
        for conversation in reader.conversations:
            checker.follow(reader.dialer.client, conversation)
    load = senders(session, checker, world, per_user=2, count=150, window=2, interval=0.01)
    running = asyncio.gather(*(sender.run(deadline) for sender in load))
    while checker.acked_count() < 200:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)

    farm.mariadb.freeze()
    frozen = time.monotonic()
    ready_frozen, reads_frozen = await probe(session, server.url, world, frozen + FREEZE_SECONDS)
    farm.mariadb.thaw()
    thawed = time.monotonic()
    ready_again = None
    while time.monotonic() - thawed < RECOVERY_SECONDS:
        ready_again = await timed(session, server.url, "/readyz")
        if ready_again[0] == 200:
            break
        await asyncio.sleep(0.1)
    await running
    for reader in readers:
        await reader.settle(time.monotonic() + 10)
    report = await checker.verify()

    replies = [reply for sender in load for reply in sender.stats.replies]
    # Answers that came while frozen or that had waited on the frozen database.
    during = [(code, seconds) for code, seconds, at in replies if frozen <= at <= thawed + ANSWER_WITHIN]
    codes = Counter(code for code, _ in during)
    slowest = max((seconds for _, seconds in during), default=0.0)
    slowest_by_code = {code: round(max(s for c, s in during if c == code), 2) for code in codes}
    first_ack = min((at for code, _, at in replies if code in (200, 201) and at > thawed), default=None)
    resent_stored = sum(sender.stats.codes[200] for sender in load)
    reads = Counter(status for status, _, _ in reads_frozen)
    print(
        report.summary(),
        f"\nfrozen {FREEZE_SECONDS}s, database_timeout_seconds {TIMEOUT}: send replies {dict(codes)}, slowest {slowest_by_code}s;"
        f" REST reads {dict(reads)}, slowest {max(s for _, s, _ in reads_frozen):.2f}s;"
        f" /readyz {[(status, round(s, 2)) for status, s, _ in ready_frozen]};"
        f"\nafter the thaw: /readyz {ready_again and ready_again[0]} after {ready_again and ready_again[2] - thawed:.2f}s,"
        f" first ack after {first_ack and first_ack - thawed:.2f}s; resends answered with the stored message {resent_stored}",
    )
    assert codes[503] > 0, f"no send was answered 503 while the database was frozen: {dict(codes)}"
    assert set(codes) <= {503, 200, 201}, f"replies during the freeze: {dict(codes)}"
    assert slowest <= ANSWER_WITHIN, f"a send waited {slowest:.2f}s for the frozen database"
    assert reads[503] > 0 and set(reads) <= {200, 503}, dict(reads)
    assert all(seconds <= ANSWER_WITHIN for _, seconds, _ in reads_frozen), [round(s, 2) for _, s, _ in reads_frozen]
    assert all(status == 503 and seconds <= ANSWER_WITHIN for status, seconds, _ in ready_frozen), ready_frozen
    assert ready_again is not None and ready_again[0] == 200, f"/readyz after the thaw: {ready_again}"
    # The sockets stayed open through it all: no sender had to reconnect, every frame got its reply.
    assert [(sender.stats.reconnects, sender.stats.unreplied) for sender in load] == [(0, 0)] * len(load)
    assert all(len(reader.links) == 1 and not reader.link.closed for reader in readers)
    assert server.running(), "the server process died"
    assert all(sender.done for sender in load), [sender.stats for sender in load if not sender.done]
    report.assert_clean()


async def _quiet_group(farm, session, server) -> tuple[Checker, World, list]:
    """A group of three, its members following it, three messages already sent."""
    checker = Checker([server.url])
    world = await build(session, server.url, checker, users=3, groups=1)
    deadline = time.monotonic() + 60
    readers = followers(session, checker, world)
    for reader in readers:
        await reader.open(deadline)
        checker.follow(reader.dialer.client, world.groups[0])
    warm = senders(session, checker, world, per_user=1, count=3)
    await asyncio.gather(*(sender.run(deadline) for sender in warm))
    return checker, world, readers


async def _send(checker: Checker, link, out) -> dict:
    """`out` sent on `link` (a first try or a resend), the reply noted by the checker."""
    checker.sent(link.label, out.client_msg_id)
    reply = await link.request("send_message", {"conversation_id": out.conversation_id, "content": out.content, "client_msg_id": out.client_msg_id})
    checker.replied(link.label, out.client_msg_id, reply["code"], reply["data"])
    return reply


async def _until_pushed_to_all(readers: list, client_msg_id: str) -> dict[str, int]:
    """The pushes of `client_msg_id` per follower once each has one, or RECOVERY_SECONDS on."""
    since = time.monotonic()
    while time.monotonic() - since < RECOVERY_SECONDS and 0 in _pushed(readers, client_msg_id).values():
        await asyncio.sleep(0.05)
    return _pushed(readers, client_msg_id)


def _pushed(readers: list, client_msg_id: str) -> dict[str, int]:
    """How many pushes of `client_msg_id` each follower got."""
    return {reader.dialer.client: sum(m["client_msg_id"] == client_msg_id for m, _ in reader.link.arrivals) for reader in readers}


async def test_batch_committed_after_its_answer_was_lost(farm, session):
    """The network loses the answer to a batch's CALL, which the database ran and committed:
    the server gives up on it (503, "perhaps stored") and drops its connection. No message
    follows in the conversation, so no later seq shows the gap: the members must still get its
    push, the sending socket too, and the sender's resend the stored message."""
    relay = AnswerLosingRelay(farm.mariadb.port)
    await relay.start()
    try:
        server = farm.start({**NO_RATE_LIMIT, "HUBBUB_DATABASE_TIMEOUT_SECONDS": str(TIMEOUT)}, database_port=relay.port)
        checker, world, readers = await _quiet_group(farm, session, server)
        sender = senders(session, checker, world, per_user=1, count=1)[0]
        link = await sender.dialer.connect(time.monotonic() + 30)
        out = sender.pending[0]
        relay.lose_answer_to(f"CALL {APPEND_ONE}(".encode())  # a batch of one message
        started = time.monotonic()
        reply = await _send(checker, link, out)
        waited = time.monotonic() - started
        assert relay.lost.is_set(), "the send did not go through the batch CALL: the scenario tested nothing"

        pushed = await _until_pushed_to_all(readers, out.client_msg_id)
        told_sender = sum(m["client_msg_id"] == out.client_msg_id for m, _ in link.arrivals)
        resent = await _send(checker, link, out)
        await link.close()
        report = await checker.verify()
    finally:
        await relay.close()
    print(report.summary(), f"\nfirst answer {reply['code']} after {waited:.2f}s; pushes per follower {pushed}; resend {resent['code']}")
    assert reply["code"] == 503 and isinstance(reply["data"]["retry_after_ms"], int), reply
    assert waited <= ANSWER_WITHIN, waited
    assert resent["code"] == 200, f"the resend of a committed message was not answered with it: {resent}"
    assert set(pushed.values()) == {1}, f"the stored message's pushes per follower: {pushed}"
    assert told_sender == 1, "the sending socket, whose reply said 503, was not pushed the stored message once (PROTOCOL §1)"
    report.assert_clean()


async def test_batch_given_up_while_waiting_on_a_lock(farm, session):
    """A batch's CALL waits on a row lock held by another client for longer than the timeout:
    the server gives up on it (503) and ends its server thread. MariaDB lets the thread's
    transaction carry on once the lock goes, and it may commit: whichever way it ends, the
    members must get the message once, from the server's settling of the lost batch when it
    was committed (no message follows to show the gap), and the resend must be answered with
    the stored message then, or store it now."""
    server = farm.start({**NO_RATE_LIMIT, "HUBBUB_DATABASE_TIMEOUT_SECONDS": str(TIMEOUT)})
    checker, world, readers = await _quiet_group(farm, session, server)
    conversation = world.groups[0]

    def connect():
        return pymysql.connect(host="127.0.0.1", port=farm.mariadb.port, user="root", password="", database=farm.database, autocommit=True)

    def lock_waits(watcher) -> int:
        with watcher.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'")
            return cursor.fetchone()[0]

    def stored(watcher, client_msg_id: str) -> int:
        with watcher.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM messages WHERE client_msg_id = %s", (client_msg_id,))
            return cursor.fetchone()[0]

    locker, watcher = await asyncio.to_thread(connect), await asyncio.to_thread(connect)
    try:
        await asyncio.to_thread(locker.begin)
        await asyncio.to_thread(locker.cursor().execute, f"SELECT id FROM conversations WHERE id = {conversation} FOR UPDATE")
        sender = senders(session, checker, world, per_user=1, count=1)[0]
        link = await sender.dialer.connect(time.monotonic() + 30)
        out = sender.pending[0]
        started = time.monotonic()
        reply = await _send(checker, link, out)
        waited = time.monotonic() - started
        # The given-up CALL and the server's settling both wait for the lock (or the CALL is gone).
        settling = time.monotonic() + 5
        while await asyncio.to_thread(lock_waits, watcher) < 2 and time.monotonic() < settling:
            await asyncio.sleep(0.05)
    finally:
        await asyncio.to_thread(locker.commit)
        await asyncio.to_thread(locker.close)
    released = time.monotonic()
    while time.monotonic() - released < RECOVERY_SECONDS and await asyncio.to_thread(lock_waits, watcher):
        await asyncio.sleep(0.05)
    committed = await asyncio.to_thread(stored, watcher, out.client_msg_id)
    await asyncio.to_thread(watcher.close)
    pushed_before_resend = await _until_pushed_to_all(readers, out.client_msg_id) if committed else _pushed(readers, out.client_msg_id)
    told_sender = sum(m["client_msg_id"] == out.client_msg_id for m, _ in link.arrivals)

    resent = await _send(checker, link, out)
    await _until_pushed_to_all(readers, out.client_msg_id)
    await asyncio.sleep(0.5)  # room for a second push, were there one
    pushed = _pushed(readers, out.client_msg_id)
    await link.close()
    report = await checker.verify()
    print(
        report.summary(),
        f"\nfirst answer {reply['code']} after {waited:.2f}s; committed after the lock went: {committed};"
        f" pushes per follower before the resend {pushed_before_resend}, after {pushed}; resend {resent['code']}",
    )
    assert reply["code"] == 503 and isinstance(reply["data"]["retry_after_ms"], int), reply
    assert waited <= ANSWER_WITHIN, waited
    if committed:
        assert set(pushed_before_resend.values()) == {1}, f"a batch committed after it was given up on was not pushed: {pushed_before_resend}"
        assert told_sender == 1, "the sending socket, whose reply said 503, was not pushed the stored message once (PROTOCOL §1)"
        assert resent["code"] == 200, resent
    else:
        assert set(pushed_before_resend.values()) == {0}, pushed_before_resend
        assert resent["code"] == 201, resent
    assert set(pushed.values()) == {1}, f"pushes per follower: {pushed}"
    report.assert_clean()
