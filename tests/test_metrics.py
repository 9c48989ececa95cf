"""/metrics (issue 16): the Prometheus text format, each figure moving when what it counts
happens, access limited by the settings, and the workers of `--workers` summed in one scrape.

The figures are process-wide and the suite's servers share one process, so tests compare a
scrape before with one after."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import time
from pathlib import Path

import aiohttp
import pyotp
import pytest
from marshmallow import Schema, fields
from prometheus_client.parser import text_string_to_metric_families

from handlers.base import Context, Handler
from handlers.registry import registry_from_settings
from server.app import create_app
from tests.chat import PASSWORD, UserFactory, online
from tests.cluster import NATS_SERVER, NatsServer, free_port, hubbub_command, node_env

Figures = dict[tuple[str, frozenset], float]


def parse(text: str) -> Figures:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(client, **kwargs) -> Figures:
    response = await client.get("/metrics", **kwargs)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(await response.text())


def value(figures: Figures, name: str, /, **labels: str) -> float:
    return figures.get((name, frozenset(labels.items())), 0.0)


async def until_gauge(client, name: str, wanted: float, timeout: float = 6.0, **labels: str) -> None:
    """Gauges are sampled every couple of seconds, not kept per event."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        figures = await scrape(client)
        if value(figures, name, **labels) == wanted:
            return
        assert asyncio.get_running_loop().time() < deadline, (name, value(figures, name, **labels), wanted)
        await asyncio.sleep(0.2)


async def test_a_chat_moves_every_figure_it_touches(client, users):
    before = await scrape(client)
    assert value(before, "hubbub_build_info", version="0.1.0", python=__import__("platform").python_version()) == 1
    alice, bob = await users.make("alice"), await users.make("bob")
    (sender,) = await online(alice)
    (receiver,) = await online(bob)
    reply = await sender.request("send_message", {"receiver_id": bob.id, "content": "hello"})
    assert reply["code"] == 201
    assert (await sender.request("send_message", {"receiver_id": bob.id, "content": ""}))["code"] == 422
    await sender.request("no.such.type")
    await receiver.event("message.new")
    response = await client.post("/api/auth/login", json={"username": "alice", "password": "wrong password"})
    assert response.status == 401
    after = await scrape(client)

    def grew(name: str, by: float = 1, **labels: str) -> None:
        assert value(after, name, **labels) - value(before, name, **labels) == by, (name, labels)

    grew("hubbub_frames_total", type="send_message", code="201")
    grew("hubbub_frames_total", type="send_message", code="422")
    grew("hubbub_frames_total", type="invalid", code="400")
    grew("hubbub_frames_total", by=2, type="ping", code="200")
    grew("hubbub_messages_committed_total")
    grew("hubbub_commit_batch_messages_count")
    grew("hubbub_commit_seconds_count")
    grew("hubbub_send_to_push_seconds_count")
    grew("hubbub_logins_total", by=2, result="ok")
    grew("hubbub_logins_total", result="failed")
    grew("hubbub_http_request_seconds_count", by=2, route="/api/auth/register", method="POST", status="201")
    grew("hubbub_http_request_seconds_count", route="/api/auth/login", method="POST", status="401")
    response = await client.get("/no/such/path")
    assert response.status == 404
    await until_gauge(client, "hubbub_sockets_open", 2)
    await until_gauge(client, "hubbub_users_online", 2)
    figures = await scrape(client)
    assert value(figures, "hubbub_http_request_seconds_count", route="unmatched", method="GET", status="404") >= 1
    assert value(figures, "hubbub_db_pool_size") == 10 and value(figures, "hubbub_db_pool_waiting") == 0
    assert value(figures, "hubbub_push_queue_frames") == 0

    closes = value(figures, "hubbub_socket_closes_total", code="1008")
    assert (await alice.call("POST", "/api/auth/logout"))[0] == 200
    await sender.ws.receive(timeout=5)
    assert value(await scrape(client), "hubbub_socket_closes_total", code="1008") == closes + 1
    await until_gauge(client, "hubbub_sockets_open", 1)


async def test_each_step_of_a_two_factor_login_is_counted(client, users):
    alice = await users.make("alice")
    secret = (await alice.ok("POST", "/api/auth/2fa/enrol", json={"password": PASSWORD}))["secret"]
    await alice.ok("POST", "/api/auth/2fa/confirm", json={"code": pyotp.TOTP(secret).now()})
    before = await scrape(client)
    response = await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status == 401
    challenge = (await response.json())["data"]["challenge"]
    code = pyotp.TOTP(secret).at(time.time() + 30)  # the current step's code was spent by the confirmation
    wrong = "000000" if code != "000000" else "111111"
    for attempt, status in ((wrong, 401), (code, 200)):
        response = await client.post("/api/auth/login/2fa", json={"challenge": challenge, "code": attempt})
        assert response.status == status, await response.text()
    after = await scrape(client)
    for result in ("two_factor", "failed", "ok"):
        assert value(after, "hubbub_logins_total", result=result) - value(before, "hubbub_logins_total", result=result) == 1, result


class FlakySchema(Schema):
    fail = fields.Boolean(load_default=False)


class Flaky(Handler):
    type = "acme.flaky"
    schema = FlakySchema

    async def handle(self, ctx: Context, data: dict) -> str:
        if data.get("fail"):
            raise RuntimeError("plugin bug")
        return "fine"


async def test_plugin_calls_are_counted_by_plugin_and_outcome(aiohttp_client, settings, engine):
    registry = registry_from_settings(settings)
    registry.add(Flaky, origin="acme-plugin")
    client = await aiohttp_client(create_app(settings, registry=registry))
    user = await UserFactory(client).make("carol")
    (socket,) = await online(user)
    before = await scrape(client)
    assert (await socket.request("acme.flaky"))["code"] == 200
    assert (await socket.request("acme.flaky", {"fail": True}))["code"] == 500
    after = await scrape(client)
    for outcome in ("ok", "error"):
        labels = {"plugin": "acme-plugin", "kind": "handler", "name": "acme.flaky", "outcome": outcome}
        assert value(after, "hubbub_plugin_calls_total", **labels) - value(before, "hubbub_plugin_calls_total", **labels) == 1


async def test_metrics_are_refused_outside_the_allowed_networks_without_the_token(aiohttp_client, settings, engine):
    client = await aiohttp_client(create_app(settings.replace(metrics_allowed_networks=("10.0.0.0/8",), metrics_token="scrape-secret")))
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = await client.get("/metrics", headers=headers)
        assert response.status == 403
        assert (await response.json())["code"] == 403
    await scrape(client, headers={"Authorization": "Bearer scrape-secret"})


async def test_loopback_may_scrape_by_default(client):
    assert value(await scrape(client), "hubbub_build_info", version="0.1.0", python=__import__("platform").python_version()) == 1


@pytest.mark.skipif(not Path(NATS_SERVER).exists(), reason="nats-server is not installed (tests/run.sh installs it)")
async def test_workers_are_summed_whichever_answers_the_scrape(engine, database_url, tmp_path):
    """`--workers 2`: the kernel spreads connections over both; every scrape, whichever worker
    answers it, counts the logins both served and the sockets both hold."""
    nats = NatsServer(tmp_path / "nats.log")
    await nats.start()
    port = free_port()
    log = tmp_path / "workers.log"
    env = node_env(database_url, nats.url, tmp_path / "uploads")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with log.open("wb") as out:
        proc = subprocess.Popen([*hubbub_command(), "serve", "--port", str(port), "--workers", "2"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
            for _ in range(100):
                if log.read_text().count("cluster bus connected") >= 2:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(log.read_text())
            factory = UserFactory(session)
            people = [await factory.make(f"user{index}") for index in range(6)]
            sockets = [socket for person in people for socket in await online(person, 2)]
            for _ in range(20):
                # A new connection each time, so that the kernel may hand it to either worker.
                async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}", connector=aiohttp.TCPConnector(force_close=True)) as once:
                    response = await once.get("/metrics")
                    figures = parse(await response.text())
                assert value(figures, "hubbub_logins_total", result="ok") == 6
                assert value(figures, "hubbub_http_request_seconds_count", route="/api/auth/register", method="POST", status="201") == 6
                if value(figures, "hubbub_sockets_open") == len(sockets):
                    break
                await asyncio.sleep(0.3)
            else:
                raise AssertionError(f"sockets never summed to {len(sockets)}: {value(figures, 'hubbub_sockets_open')}")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, log.read_text()
        nats.stop()


async def test_the_grafana_dashboard_charts_every_figure_and_only_those(client):
    dashboard = json.loads((Path(__file__).parents[1] / "docs" / "grafana-dashboard.json").read_text())
    charted = {
        re.sub(r"_(bucket|sum|count|total)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"hubbub_[a-z_]+", target["expr"])
    }
    served = {family.name for family in text_string_to_metric_families(await (await client.get("/metrics")).text()) if family.name.startswith("hubbub_")}
    assert charted == served
