"""The same checker against a cluster: three `hubbub serve` processes on one database sharing a
private nats-server, with senders and followers spread over them (issue 13). Under plain load,
with a node killed (SIGKILL) in the middle, and with NATS killed and brought back in the
middle, nothing acknowledged may be lost, nothing stored or pushed twice, and every socket must
hear each conversation in seq order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import NATS_SERVER, NatsServer
from tests.faults.checker import Checker
from tests.faults.hubbub import NO_RATE_LIMIT, HubbubServer
from tests.faults.load import followers, senders
from tests.faults.world import build

pytestmark = pytest.mark.skipif(not Path(NATS_SERVER).exists(), reason="nats-server is not installed (tests/run.sh installs it)")

# Longer than a repair (0.25 s) and a tail check (1 s): what crossed or missed the bus has
# reached every socket by then.
CROSS_NODE_SETTLE_SECONDS = 2.0


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats.log")
    server.start_blocking()
    yield server
    server.stop()


def start_nodes(farm, nats: NatsServer, count: int = 3) -> list[HubbubServer]:
    settings = {
        **NO_RATE_LIMIT,
        "HUBBUB_BUS_URL": nats.url,
        "HUBBUB_BUS_HEARTBEAT_SECONDS": "0.5",
        "HUBBUB_BUS_NODE_TIMEOUT_SECONDS": "3",
    }
    return [farm.start(settings) for _ in range(count)]


async def until(predicate, deadline: float, what: str) -> None:
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def run_load(session, nodes, fault=None, *, strict: bool = True):
    checker = Checker([node.url for node in nodes])
    world = await build(session, nodes[0].url, checker, users=6, groups=3, directs=6)
    deadline = time.monotonic() + 90
    readers = followers(session, checker, world)
    for reader in readers:
        await reader.open(deadline)
    load = senders(session, checker, world, per_user=2, count=120, window=4, strict=strict)
    running = asyncio.gather(*(sender.run(deadline) for sender in load))
    if fault is not None:
        total = sum(sender.total for sender in load)
        await until(lambda: checker.acked_count() >= total // 3, deadline, "a third of the load")
        await fault()
        await until(lambda: checker.acked_count() >= 2 * total // 3, deadline, "two thirds of the load")
    await running
    await asyncio.sleep(CROSS_NODE_SETTLE_SECONDS)
    for reader in readers:
        await reader.settle(deadline)
        await reader.close()
    report = await checker.verify()
    print(report.summary())
    assert all(sender.done for sender in load), [sender.stats for sender in load if not sender.done]
    report.assert_clean()


async def test_three_nodes_under_load(farm, nats, session):
    await run_load(session, start_nodes(farm, nats))


async def test_a_node_killed_under_load(farm, nats, session):
    nodes = start_nodes(farm, nats)

    async def kill_one() -> None:
        nodes[2].kill()  # its clients reconnect to the others and resend by client_msg_id
        await asyncio.sleep(1)
        nodes[2].start()

    await run_load(session, nodes, kill_one, strict=False)


async def test_nats_killed_and_restarted_under_load(farm, nats, session):
    nodes = start_nodes(farm, nats)

    async def outage() -> None:
        nats.stop()
        await asyncio.sleep(1.5)
        await nats.start()

    await run_load(session, nodes, outage)
