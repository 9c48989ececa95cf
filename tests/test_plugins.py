"""The plugin API (issue 5): discovery through entry points, settings, safety, pre-send hooks,
and the example plugins under examples/, installed with pip and used through a real socket."""

import asyncio
import importlib
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import NamedTuple

import pytest
from marshmallow import Schema, fields
from sqlalchemy import inspect, select, text

from handlers.api import PluginRoutes, Subscriber
from handlers.base import Context, Handler
from handlers.hooks import HookError, MessageRejected, NamedHook, PreSendHooks, load_hooks
from handlers.lifecycle import Lifecycle, NamedSubscriber
from handlers.registry import ENTRY_POINT_GROUP, RegistryError, registry_from_settings
from handlers.routes import NamedRoutes
from migrations.plugins import downgrade_plugin, load_plugin_migrations, upgrade_plugin
from server.app import create_app
from server.logs import JsonFormatter
from storage.engine import create_engine
from storage.tables import messages
from tests.chat import UserFactory
from tests.processes import call, serve_without_settings

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE = EXAMPLES / "hubbub-example-plugin"  # each example's folder is named as its distribution
EXAMPLE_DIST = EXAMPLE.name
POLLS = EXAMPLES / "hubbub-polls-plugin"


class ExamplePlugin(NamedTuple):
    source: Path  # its folder under examples/
    site: Path  # the folder it is installed in
    environment_before: str  # `environment_copies()` before it was

    @property
    def dist(self) -> str:
        return self.source.name


def install_example(source: Path, tmp_path_factory: pytest.TempPathFactory) -> ExamplePlugin:
    """Installs an example plugin as a user would (pip, not import), into a throwaway folder.
    Never into the environment, where a plain `hubbub serve` after the tests would autoload it
    (issue 17 part 8: the example's profanity hook would rewrite users' messages), where other
    test runs sharing the environment would find it, and where an interrupted run would leave
    it behind.

    From a fresh copy of its source: setuptools leaves a build/ folder in the tree it builds,
    and a stale one brought back files the plugin no longer has."""
    before = environment_copies(source.name)
    workspace = tmp_path_factory.mktemp(source.name)
    copy, site = workspace / source.name, workspace / "site"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", "--no-deps", "--target", str(site), str(copy)], check=True)
    return ExamplePlugin(source, site, before)


@pytest.fixture(scope="module")
def example_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExamplePlugin]:
    """The pins example (`install_example`), which only this module's tests see: first on this
    process's sys.path while they run, and on the PYTHONPATH of the processes they start
    (`with_example`)."""
    plugin = install_example(EXAMPLE, tmp_path_factory)
    site = plugin.site
    # First on the path: a copy the developer installed themselves is not the one tested.
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    yield plugin
    sys.path.remove(str(site))
    for name in [name for name in sys.modules if name.split(".")[0] == "hubbub_example_plugin"]:
        del sys.modules[name]
    importlib.invalidate_caches()


@pytest.fixture(scope="module")
def polls_plugin(tmp_path_factory: pytest.TempPathFactory) -> ExamplePlugin:
    """The polls example (`install_example`), for the processes that a test starts with it
    (`with_example`) alone: this process never loads it, so the other tests here see the pins
    example and nothing else."""
    return install_example(POLLS, tmp_path_factory)


def with_example(plugin: ExamplePlugin, env: dict[str, str]) -> dict[str, str]:
    """`env` for a process that must find an example plugin."""
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, (str(plugin.site), env.get("PYTHONPATH"))))}


def environment_copies(dist: str) -> str:
    """The folders where the environment itself (this interpreter without PYTHONPATH) has the
    distribution installed, as a printed list: asked of a process of its own, since this
    one's sys.path may hold the test copy."""
    code = f"import importlib.metadata as m; print(sorted(str(d._path) for d in m.distributions() if d.metadata['Name'] == {dist!r}))"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd="/").stdout.strip()


@pytest.fixture
def plugin_settings(settings, example_plugin):
    return settings.replace(plugins_autoload=True)


@pytest.fixture
async def plugin_client(aiohttp_client, plugin_settings, engine):
    """The server with the example plugin, its schema migrated as `hubbub migrate` would."""
    for plugin in load_plugin_migrations(plugin_settings):
        await asyncio.to_thread(upgrade_plugin, plugin_settings.database_url, plugin)
    return await aiohttp_client(create_app(plugin_settings))


def builtin_points():
    return [point for point in entry_points(group=ENTRY_POINT_GROUP) if point.dist.name == "hubbub"]


# --- discovery and settings ---------------------------------------------------------------


def test_the_example_plugin_is_found_through_its_entry_points(plugin_settings, example_plugin):
    registry = registry_from_settings(plugin_settings)
    assert registry.types()["pins.pin"] == EXAMPLE_DIST
    assert registry.types()["send_message"] == "hubbub"
    assert [(hook.name, hook.origin) for hook in load_hooks(plugin_settings)] == [("profanity", EXAMPLE_DIST)]
    # The module came from the installed distribution, not from the source tree.
    assert importlib.import_module("hubbub_example_plugin").__file__.startswith(str(example_plugin.site))


@pytest.mark.parametrize("example", ["example_plugin", "polls_plugin"])
def test_the_example_plugin_is_never_installed_into_the_environment(request, example):
    """Issue 17 part 8: the tests leave the environment as they found it. While they use an
    example plugin, the environment itself has it exactly where it had it before (nowhere,
    unless the developer installed it), so nothing is left to undo, even by a killed run."""
    plugin = request.getfixturevalue(example)
    assert environment_copies(plugin.dist) == plugin.environment_before


def test_autoload_off_loads_built_ins_and_only_named_plugins(plugin_settings):
    off = plugin_settings.replace(plugins_autoload=False)
    assert "pins.pin" not in registry_from_settings(off).types()
    assert load_hooks(off) == []
    named = off.replace(plugins_enabled=("pins.pin",))
    assert "pins.pin" in registry_from_settings(named).types()
    assert load_hooks(named) == []
    assert [hook.name for hook in load_hooks(off.replace(plugins_enabled=("profanity",)))] == ["profanity"]


def test_disabled_types_and_hooks_are_not_loaded(plugin_settings):
    settings = plugin_settings.replace(handlers_disabled=("pins.pin", "typing"), hooks_disabled=("profanity",))
    types = registry_from_settings(settings).types()
    assert "pins.pin" not in types and "typing" not in types and "ping" in types
    assert load_hooks(settings) == []


class PluginPing(Handler):
    type = "ping"

    async def handle(self, ctx: Context, data: dict) -> dict:
        return {"ts": "replaced"}


def test_a_built_in_is_replaced_only_when_the_settings_say_so(settings):
    settings = settings.replace(plugins_autoload=True)
    replacement = EntryPoint(name="ping", value=f"{__name__}:PluginPing", group=ENTRY_POINT_GROUP)
    with pytest.raises(RegistryError) as refused:
        registry_from_settings(settings, [*builtin_points(), replacement])
    assert "handlers_override" in str(refused.value) and "'ping'" in str(refused.value)
    allowed = registry_from_settings(settings.replace(handlers_override=("ping",)), [*builtin_points(), replacement])
    assert isinstance(allowed.get("ping").handler, PluginPing)
    # Two plugins still cannot both have one type, override or not.
    with pytest.raises(RegistryError):
        registry_from_settings(settings.replace(handlers_override=("ping",)), [*builtin_points(), replacement, replacement])


def test_a_plugin_that_fails_to_import_stops_startup_naming_it(settings):
    settings = settings.replace(plugins_autoload=True)
    broken = EntryPoint(name="broken.thing", value="no_such_module_anywhere:Handler", group=ENTRY_POINT_GROUP)
    with pytest.raises(RegistryError) as failure:
        registry_from_settings(settings, [*builtin_points(), broken])
    assert "'broken.thing'" in str(failure.value) and "failed to import" in str(failure.value)
    bad_hook = EntryPoint(name="bad_hook", value="no_such_module_anywhere:hook", group="hubbub.hooks")
    with pytest.raises(HookError) as failure:
        load_hooks(settings, [bad_hook])
    assert "'bad_hook'" in str(failure.value)


def test_hubbub_serve_refuses_to_start_with_a_broken_plugin(tmp_path, example_plugin):
    """The CLI exits with the plugin's name rather than a traceback."""
    env = {"HUBBUB_ENV": "testing", "HUBBUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", "HUBBUB_PLUGINS_AUTOLOAD": "true",
           "HUBBUB_HANDLERS_OVERRIDE": "[]", "PATH": "/usr/bin:/bin"}
    env = with_example(example_plugin, env)
    # A plugin type clashing with a built-in is a startup error like a failed import.
    patch = (
        "import handlers.registry as r;"
        "real = r.entry_points;"
        "r.entry_points = lambda group: [*real(group=group), EntryPoint('typing', 'tests.test_plugins:ClashingTyping', group)]"
    )
    assert "'typing'" in cli_refusal(["serve", "--port", "0"], env, patch, timeout=60)


class ClashingTyping(Handler):
    type = "typing"


def cli_refusal(args: list[str], env: dict[str, str], patch: str, timeout: float) -> str:
    """The stderr of `hubbub <args>` in a process of its own, after `patch` (Python statements,
    `EntryPoint` at hand) changed the entry points it finds: it must refuse to go on, exit 2
    and name the plugin, without a traceback."""
    code = f"import sys; from importlib.metadata import EntryPoint; {patch}; from server.cli import main; sys.exit(main({args!r}))"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).parent.parent)
    assert result.returncode == 2, result.stderr
    assert "cannot load a plugin" in result.stderr and "Traceback" not in result.stderr
    return result.stderr


# --- safety ---------------------------------------------------------------------------------


class Exploding(Handler):
    type = "acme.explode"

    async def handle(self, ctx: Context, data: dict) -> None:
        raise RuntimeError("plugin bug")


class Chatty(Handler):
    type = "acme.chat"

    async def handle(self, ctx: Context, data: dict) -> None:
        ctx.logger.warning("acme says hello")


class Sleepy(Handler):
    type = "acme.sleep"

    async def handle(self, ctx: Context, data: dict) -> None:
        await asyncio.sleep(30)


class AnnounceSchema(Schema):
    conversation_id = fields.Integer(required=True)


class Announcing(Handler):
    type = "acme.announce"
    schema = AnnounceSchema

    async def handle(self, ctx: Context, data: dict) -> dict:
        ctx.socket.push("acme.announced", {"n": 1})  # sync: queued for the socket at once
        await ctx.push_to_conversation(data["conversation_id"], "acme.announced", {"n": 2})
        return {"done": True}


@pytest.fixture
async def unsafe_client(aiohttp_client, settings, engine):
    registry = registry_from_settings(settings)
    registry.add(Announcing, origin="acme-plugin")
    registry.add(Exploding, origin="acme-plugin")
    registry.add(Sleepy, origin="acme-plugin")
    registry.add(Chatty, origin="acme-plugin")
    return await aiohttp_client(create_app(settings.replace(plugin_timeout_seconds=0.3), registry=registry))


async def test_a_plugin_exception_is_a_500_reply_logged_with_its_name(unsafe_client, caplog):
    alice, bob = await UserFactory(unsafe_client).make("alice"), await UserFactory(unsafe_client).make("bob")
    socket, other = await alice.connect(), await bob.connect()
    with caplog.at_level(logging.ERROR):
        reply = await socket.request("acme.explode")
    assert reply["code"] == 500 and "plugin bug" not in reply["message"]
    assert any("acme-plugin" in record.getMessage() for record in caplog.records)
    assert (await socket.request("ping"))["code"] == 200
    assert (await other.request("ping"))["code"] == 200


async def test_a_plugin_logs_under_its_own_name(unsafe_client, caplog):
    alice = await UserFactory(unsafe_client).make("alice")
    socket = await alice.connect()
    with caplog.at_level(logging.WARNING):
        assert (await socket.request("acme.chat"))["code"] == 200
    said = [record for record in caplog.records if record.getMessage() == "acme says hello"]
    assert [record.name for record in said] == ["hubbub.plugins.acme-plugin"]


async def test_every_json_log_line_a_plugin_causes_names_it(aiohttp_client, settings, engine, caplog):
    """Issue 17 part 6: in the JSON log format the server's lines about a plugin's fault or
    timeout (handler, hook, subscriber, route) carry `plugin`, the distribution, as the lines
    the plugin logs itself do."""

    async def broken_hook(message):
        if message.content == "break":
            raise KeyError("hook bug")

    subscriber = Subscriber()

    @subscriber.on("message.stored")
    async def failing(ctx, message: dict) -> None:
        raise RuntimeError("subscriber bug")

    routes = PluginRoutes()

    @routes.get("/boom", summary="A bug")
    async def boom(ctx, request) -> None:
        raise RuntimeError("route bug")

    registry = registry_from_settings(settings)
    for handler in (Exploding, Sleepy, Chatty):
        registry.add(handler, origin="acme-plugin")
    client = await aiohttp_client(
        create_app(
            settings.replace(plugin_timeout_seconds=0.3),
            registry=registry,
            hooks=PreSendHooks([NamedHook("broken", "acme-plugin", broken_hook)], timeout_seconds=0.3),
            lifecycle=Lifecycle([NamedSubscriber("acme", "acme-plugin", subscriber)], 0.3),
            plugin_routes=[NamedRoutes("acme", "acme-plugin", routes)],
        )
    )
    factory = UserFactory(client)
    alice, bob = await factory.make("alice"), await factory.make("bob")
    socket = await alice.connect()
    with caplog.at_level(logging.INFO):
        for frame, code in (("acme.explode", 500), ("acme.sleep", 504), ("acme.chat", 200)):
            assert (await socket.request(frame))["code"] == code
        assert (await socket.request("send_message", {"receiver_id": bob.id, "content": "break"}))["code"] == 500
        assert (await socket.request("send_message", {"receiver_id": bob.id, "content": "fine"}))["code"] == 201
        assert (await alice.call("GET", "/api/plugins/acme/boom"))[0] == 500
        for _ in range(100):
            if any(record.name == "handlers.lifecycle" for record in caplog.records):
                break
            await asyncio.sleep(0.02)
    about = [record for record in caplog.records if "acme-plugin" in record.getMessage() or record.name.startswith("hubbub.plugins.")]
    assert {record.name for record in about} == {"server.errors", "server.pipeline", "handlers.hooks", "handlers.lifecycle", "server.plugin_routes", "hubbub.plugins.acme-plugin"}
    for record in about:
        assert json.loads(JsonFormatter().format(record)).get("plugin") == "acme-plugin", record.getMessage()


async def test_a_callers_own_pushes_arrive_before_its_reply(unsafe_client):
    """PLUGINS.md §3: what a handler pushes to its caller's socket leaves before the reply."""
    alice, bob = await UserFactory(unsafe_client).make("alice"), await UserFactory(unsafe_client).make("bob")
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [bob.id]})
    socket = await alice.connect()
    await socket.send("acme.announce", {"conversation_id": group["id"]}, frame_id="x")
    frames = [await socket.receive() for _ in range(3)]
    assert [(frame["type"], frame.get("data")) for frame in frames] == [
        ("acme.announced", {"n": 1}),
        ("acme.announced", {"n": 2}),
        ("reply", {"done": True}),
    ]


async def test_a_plugin_that_takes_too_long_gets_504_and_the_socket_lives(unsafe_client):
    alice = await UserFactory(unsafe_client).make("alice")
    socket = await alice.connect()
    reply = await socket.request("acme.sleep")
    assert reply["code"] == 504
    assert (await socket.request("ping"))["code"] == 200


# --- pre-send hooks -------------------------------------------------------------------------


async def test_the_profanity_hook_rewrites_on_both_send_paths(plugin_client, engine):
    factory = UserFactory(plugin_client)
    alice, bob = await factory.make("alice"), await factory.make("bob")
    a, b = await alice.connect(), await bob.connect()
    sent = await a.request("send_message", {"receiver_id": bob.id, "content": "oh darn, Heck"})
    assert sent["code"] == 201 and sent["data"]["content"] == "oh d**n, H**k"
    assert (await b.event("message.new"))["data"]["content"] == "oh d**n, H**k"
    status, body = await bob.call("POST", "/api/messages", json={"receiver_id": alice.id, "content": "darn it"})
    assert status == 201 and body["data"]["content"] == "d**n it"
    # A resend of the original text is recognized as the same (rewritten) message.
    again = await a.request("send_message", {"receiver_id": bob.id, "content": "plain", "client_msg_id": "h1"})
    repeat = await a.request("send_message", {"receiver_id": bob.id, "content": "plain", "client_msg_id": "h1"})
    assert (again["code"], repeat["code"]) == (201, 200)


async def test_the_profanity_hook_rejects_on_both_send_paths(plugin_client, engine):
    factory = UserFactory(plugin_client)
    alice, bob = await factory.make("alice"), await factory.make("bob")
    a = await alice.connect()
    refused = await a.request("send_message", {"receiver_id": bob.id, "content": "Buy followers now"})
    assert refused["code"] == 422 and refused["data"]["errors"]["content"] == ["this message looks like spam"]
    status, body = await alice.call("POST", "/api/messages", json={"receiver_id": bob.id, "content": "buy followers"})
    assert status == 422 and body["message"] == "this message looks like spam"
    async with engine.connect() as conn:
        assert (await conn.execute(select(messages.c.id))).first() is None


async def test_a_hook_rejecting_with_403_answers_as_plugins_md_says(aiohttp_client, settings, engine):
    """PLUGINS.md §4: MessageRejected(reason, code=403) is a 403 whose message is the reason
    and whose data is null, on the socket and over REST; 422 and 403 are the only codes."""

    async def sender_muted(message):
        raise MessageRejected("you are muted here", code=403)

    client = await aiohttp_client(create_app(settings, hooks=PreSendHooks([NamedHook("mute", "acme-plugin", sender_muted)])))
    factory = UserFactory(client)
    alice, bob = await factory.make("alice"), await factory.make("bob")
    reply = await (await alice.connect()).request("send_message", {"receiver_id": bob.id, "content": "hi"})
    assert (reply["code"], reply["message"], reply["data"]) == (403, "you are muted here", None)
    assert await alice.call("POST", "/api/messages", json={"receiver_id": bob.id, "content": "hi"}) == (403, {"code": 403, "message": "you are muted here", "data": None})
    with pytest.raises(ValueError):
        MessageRejected("no", code=400)


async def test_a_slow_or_broken_hook_fails_the_send_cleanly(aiohttp_client, settings, engine, caplog):
    async def slow(message):
        await asyncio.sleep(30)

    async def broken(message):
        raise KeyError("hook bug")

    for hook, code, said in ((slow, 504, "timed out"), (broken, 500, "failed")):
        hooks = PreSendHooks([NamedHook("test", "acme-plugin", hook)], timeout_seconds=0.3)
        client = await aiohttp_client(create_app(settings, hooks=hooks))
        factory = UserFactory(client)
        alice, bob = await factory.make(f"alice{code}"), await factory.make(f"bob{code}")
        socket = await alice.connect()
        with caplog.at_level(logging.ERROR, logger="handlers.hooks"):
            assert (await socket.request("send_message", {"receiver_id": bob.id, "content": "x"}))["code"] == code
        # The log line says which plugin's hook it was.
        assert any(record.getMessage().startswith(f"message hook test from acme-plugin {said}") for record in caplog.records), said
        assert (await socket.request("ping"))["code"] == 200


async def test_hooks_do_not_see_sends_the_sender_may_not_make(aiohttp_client, settings, engine):
    seen = []

    async def spy(message):
        seen.append(message)

    client = await aiohttp_client(create_app(settings, hooks=PreSendHooks([NamedHook("spy", "acme-plugin", spy)])))
    alice = await UserFactory(client).make("alice")
    socket = await alice.connect()
    assert (await socket.request("send_message", {"conversation_id": 12345, "content": "x"}))["code"] == 404
    assert seen == []


# --- the example plugin end to end ----------------------------------------------------------


async def test_the_server_makes_no_plugin_tables_itself(aiohttp_client, plugin_settings, engine):
    client = await aiohttp_client(create_app(plugin_settings))
    alice = await UserFactory(client).make("alice")
    assert (await alice.call("GET", "/api/users/me"))[0] == 200
    async with engine.connect() as conn:
        assert "plugin_pins" not in await conn.run_sync(lambda sync: inspect(sync).get_table_names())


async def test_pins_end_to_end(plugin_client, engine):
    factory = UserFactory(plugin_client)
    alice, bob, carol = await factory.make("alice"), await factory.make("bob"), await factory.make("carol")
    async with engine.connect() as conn:
        assert "plugin_pins" in await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    a, b, c = await alice.connect(), await bob.connect(), await carol.connect()
    first = (await a.request("send_message", {"receiver_id": bob.id, "content": "pin me"}))["data"]
    second = (await a.request("send_message", {"receiver_id": bob.id, "content": "me too"}))["data"]
    conversation_id = first["conversation_id"]
    reply = await b.request("pins.pin", {"message_id": second["id"]})
    assert reply["code"] == 200 and reply["data"] == {"conversation_id": conversation_id, "pinned": [second["id"]]}
    expected = {"conversation_id": conversation_id, "message_id": second["id"], "pinned": True, "user_id": bob.id}
    assert (await a.event("pins.changed"))["data"] == expected
    await b.no_event("pins.changed")
    await c.no_event("pins.changed")
    assert (await a.request("pins.pin", {"message_id": first["id"]}))["data"]["pinned"] == [first["id"], second["id"]]
    # Pinning again is a retry: the same answer, nobody told.
    again = await a.request("pins.pin", {"message_id": first["id"]})
    assert again["data"]["pinned"] == [first["id"], second["id"]]
    assert (await b.event("pins.changed"))["data"]["message_id"] == first["id"]
    await b.no_event("pins.changed")
    unpinned = await b.request("pins.pin", {"message_id": second["id"], "pinned": False})
    assert unpinned["data"]["pinned"] == [first["id"]]
    assert (await c.request("pins.pin", {"message_id": first["id"]}))["code"] == 404
    assert (await b.request("pins.pin", {"message_id": "x"}))["code"] == 422
    await a.request("recall", {"message_id": second["id"]})
    assert (await b.request("pins.pin", {"message_id": second["id"]}))["code"] == 403
    # The built-in reactions are there beside the plugin.
    assert (await b.request("add_reaction", {"message_id": first["id"], "emoji": "👍"}))["code"] == 200
    # The REST route lists the pins; the lifecycle subscriber unpins a recalled message.
    await b.request("pins.pin", {"message_id": first["id"], "pinned": False})
    await b.request("pins.pin", {"message_id": first["id"], "note": "the plan"})
    listed = await alice.ok("GET", f"/api/plugins/pins/conversations/{conversation_id}")
    assert listed == [{"message_id": first["id"], "pinned_by": bob.id, "note": "the plan"}]
    assert (await carol.call("GET", f"/api/plugins/pins/conversations/{conversation_id}"))[0] == 404
    await a.request("recall", {"message_id": first["id"]})
    for _ in range(100):
        if not await alice.ok("GET", f"/api/plugins/pins/conversations/{conversation_id}"):
            break
        await asyncio.sleep(0.05)
    assert await alice.ok("GET", f"/api/plugins/pins/conversations/{conversation_id}") == []


async def test_the_example_describes_its_frame_types_and_event_in_the_asyncapi_document(plugin_client):
    document = await (await plugin_client.get("/api/asyncapi.json")).json()
    operations, schemas = document["operations"], document["components"]["schemas"]
    assert {operations[name]["x-origin"] for name in ("frame.pins.pin", "frame.pins.list", "event.pins.changed")} == {EXAMPLE_DIST}
    assert set(schemas["reply.pins.pin"]["required"]) == {"conversation_id", "pinned"}
    assert set(schemas["reply.pins.list"]["required"]) == {"conversation_id", "pins"}


async def test_the_startup_log_lists_every_type_and_hook_with_its_origin(aiohttp_client, plugin_settings, engine, caplog):
    with caplog.at_level(logging.INFO, logger="server.app"):
        await aiohttp_client(create_app(plugin_settings))
    lines = {record.getMessage() for record in caplog.records if record.name == "server.app"}
    assert f"socket frame type pins.pin from {EXAMPLE_DIST}" in lines
    assert f"socket frame type pins.list from {EXAMPLE_DIST}" in lines
    assert "socket frame type send_message from hubbub" in lines
    assert f"message hook profanity from {EXAMPLE_DIST}" in lines
    assert f"plugin route GET /api/plugins/pins/conversations/{{conversation_id}} from {EXAMPLE_DIST}" in lines
    assert f"lifecycle subscriber pins (conversation.deleted, message.recalled) from {EXAMPLE_DIST}" in lines


# --- plugin migrations ---------------------------------------------------------------------


async def test_a_plugins_schema_goes_from_its_first_revision_to_its_second(backend, database_url, engine, plugin_settings):
    """The example plugin's own revisions, in a version table of its own beside the server's."""
    (pins,) = [plugin for plugin in load_plugin_migrations(plugin_settings) if plugin.origin == EXAMPLE_DIST]
    assert (pins.name, pins.version_table) == ("pins", "alembic_version_pins")
    await asyncio.to_thread(upgrade_plugin, database_url, pins, "p0001")
    async with engine.begin() as conn:
        columns = {column["name"] for column in await conn.run_sync(lambda sync: inspect(sync).get_columns("plugin_pins"))}
        assert "note" not in columns
        await conn.execute(text("INSERT INTO plugin_pins (conversation_id, message_id, pinned_by) VALUES (1, 2, 3)"))
    await asyncio.to_thread(upgrade_plugin, database_url, pins)
    async with engine.connect() as conn:
        columns = {column["name"] for column in await conn.run_sync(lambda sync: inspect(sync).get_columns("plugin_pins"))}
        assert "note" in columns
        assert (await conn.execute(text("SELECT message_id, note FROM plugin_pins"))).all() == [(2, None)]
        assert (await conn.execute(text("SELECT version_num FROM alembic_version_pins"))).scalar() == "p0002"
        core = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    # The server's own history knows nothing of the plugin's, and back down leaves it alone.
    await asyncio.to_thread(downgrade_plugin, database_url, pins, "base")
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        assert "plugin_pins" not in names and "messages" in names
        assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar() == core


def test_hubbub_migrate_brings_the_plugins_schema_up(tmp_path, example_plugin):
    """`hubbub migrate` migrates the server and the plugin (on SQLite, `serve` may migrate itself,
    the embedded database; on any other, the next test, it does no DDL)."""
    database = tmp_path / "m.db"
    env = {"HUBBUB_ENV": "testing", "HUBBUB_DATABASE_URL": f"sqlite+aiosqlite:///{database}", "HUBBUB_PLUGINS_AUTOLOAD": "true", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "server.cli", "migrate"], env=with_example(example_plugin, env), capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    import sqlite3

    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version_pins").fetchone() == ("p0002",)
        assert {row[1] for row in conn.execute("PRAGMA table_info(plugin_pins)")} >= {"message_id", "note"}


async def test_hubbub_migrate_brings_both_examples_up_side_by_side(tmp_path, backend, database_url, engine, example_plugin, polls_plugin):
    """Two plugins whose revisions carry the same ids (p0001, p0002) migrate side by side, each
    in its own version table; and the polls example's revisions run on MariaDB and SQLite alike."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUBBUB_")}
    env = with_example(polls_plugin, with_example(example_plugin, {**env, "HUBBUB_DATABASE_URL": database_url, "HUBBUB_PLUGINS_AUTOLOAD": "true"}))
    result = subprocess.run([sys.executable, "-m", "server.cli", "migrate"], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    async with engine.connect() as conn:
        versions = {name: (await conn.execute(text(f"SELECT version_num FROM alembic_version_{name}"))).scalar() for name in ("pins", "polls")}
        columns = await conn.run_sync(lambda sync: {table: {column["name"] for column in inspect(sync).get_columns(table)} for table in ("plugin_pins", "plugin_polls", "plugin_poll_options", "plugin_poll_votes")})
    assert versions == {"pins": "p0002", "polls": "p0002"}
    assert {"note"} <= columns["plugin_pins"] and {"message_id", "conversation_id", "created_by", "closed_at"} <= columns["plugin_polls"]
    assert columns["plugin_poll_options"] == {"message_id", "position", "text"} and columns["plugin_poll_votes"] == {"message_id", "user_id", "position"}


async def test_on_mariadb_serve_issues_no_ddl_and_hubbub_migrate_makes_the_plugins_schema(tmp_path, example_plugin, mysql_url):
    """The production recipe. `serve` issues no DDL (any database but the embedded SQLite):
    started with the plugin on an empty database, it serves but is not ready, and makes no
    table, the plugin's no more than the server's. `hubbub migrate` makes both; then `serve` is
    ready."""
    settings = with_example(example_plugin, {"HUBBUB_DATABASE_URL": mysql_url, "HUBBUB_PLUGINS_AUTOLOAD": "true"})

    async def serve_and_ask_readyz() -> int:
        server, port = await asyncio.to_thread(serve_without_settings, tmp_path, **settings)
        try:
            status = (await asyncio.to_thread(call, port, "GET", "/readyz"))[0]
        finally:
            server.terminate()
            output = (await asyncio.to_thread(server.communicate, timeout=30))[0].decode()
        assert "plugins hubbub-example-plugin" in output  # it did load the plugin
        return status

    async def tables() -> list[str]:
        database = create_engine(mysql_url)
        try:
            async with database.connect() as conn:
                return sorted(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        finally:
            await database.dispose()

    assert await serve_and_ask_readyz() == 503
    assert await tables() == []
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUBBUB_")}
    migrated = subprocess.run([sys.executable, "-m", "server.cli", "migrate"], env={**env, **settings}, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert {"alembic_version", "alembic_version_pins", "messages", "plugin_pins"} <= set(await tables())
    assert await serve_and_ask_readyz() == 200


def test_a_handler_declaring_tables_is_told_to_use_migrations(settings):
    class OldStyle(Handler):
        type = "acme.old"
        tables = (messages,)

    registry = registry_from_settings(settings)
    with pytest.raises(RegistryError, match="hubbub.migrations"):
        registry.add(OldStyle, origin="acme-plugin")


@pytest.mark.parametrize(("example", "mode", "passed"), [("example_plugin", "STRICT", 3), ("polls_plugin", "AUTO", 2)])
def test_the_example_plugins_own_tests_pass_from_its_own_folder(tmp_path, request, example, mode, passed):
    """What a plugin author runs in the plugin's repository: its tests with the server's pytest
    plugin (pytest11 `hubbub`), in the pytest-asyncio mode its pyproject.toml chooses (the pins
    example strict, the polls example auto), nothing of this repository's tests/ in sight, and
    no other example installed."""
    plugin = request.getfixturevalue(example)
    folder = tmp_path / plugin.source.name
    shutil.copytree(plugin.source, folder, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache"))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"], cwd=folder, env=with_example(plugin, dict(os.environ)), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"rootdir: {folder}" in result.stdout and f"mode=Mode.{mode}" in result.stdout and "hubbub-" in result.stdout
    assert f"{passed} passed" in result.stdout


async def test_readiness_waits_for_the_plugins_schema(aiohttp_client, plugin_settings, engine):
    """serve does no DDL, so a plugin installed but not migrated keeps the process out of the
    load balancer, saying what to run, rather than failing its users with 500s."""
    client = await aiohttp_client(create_app(plugin_settings))
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 503 and "plugin pins" in body["message"] and "hubbub migrate" in body["message"]
    (pins,) = [plugin for plugin in load_plugin_migrations(plugin_settings) if plugin.origin == EXAMPLE_DIST]
    await asyncio.to_thread(upgrade_plugin, plugin_settings.database_url, pins, "p0001")
    assert (await client.get("/readyz")).status == 503  # one revision behind is still behind
    await asyncio.to_thread(upgrade_plugin, plugin_settings.database_url, pins)
    assert (await client.get("/readyz")).status == 200


def test_hubbub_migrate_refuses_a_plugin_migration_named_outside_its_prefix(tmp_path):
    database = tmp_path / "refused.db"
    env = {"HUBBUB_ENV": "testing", "HUBBUB_DATABASE_URL": f"sqlite+aiosqlite:///{database}", "HUBBUB_PLUGINS_AUTOLOAD": "true", "PATH": "/usr/bin:/bin"}
    patch = (
        "import migrations.plugins as m;"
        "real = m.entry_points;"
        "m.entry_points = lambda group: [EntryPoint('message', 'migrations.plugin_env', group)] if group == m.ENTRY_POINT_GROUP else real(group=group)"
    )
    assert "server's own prefix 'message'" in cli_refusal(["migrate"], env, patch, timeout=120)
    assert not database.exists() or database.stat().st_size == 0  # refused before anything was migrated
