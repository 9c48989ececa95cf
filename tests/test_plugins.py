"""The plugin API (issue 5): discovery through entry points, settings, safety, pre-send hooks,
and the example plugin under examples/, installed with pip and used through a real socket."""

import asyncio
import importlib
import importlib.metadata
import logging
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from handlers.base import Context, Handler
from handlers.hooks import HookError, NamedHook, PreSendHooks, load_hooks
from handlers.registry import ENTRY_POINT_GROUP, RegistryError, registry_from_settings
from server.app import create_app
from storage.tables import messages
from tests.chat import UserFactory

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hubbub-example-plugin"
EXAMPLE_DIST = "hubbub-example-plugin"


@pytest.fixture(scope="session")
def example_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Installs the example plugin into this environment, as a user would (pip, not import).

    From a fresh copy of its source: setuptools leaves a build/ folder in the tree it builds,
    and a stale one brought back files the plugin no longer has. Uninstalled afterwards unless
    it was installed before, so that a test run leaves the developer's environment as it found
    it (a plain `hubbub serve` autoloads whatever plugin is installed)."""
    was_installed = _is_installed(EXAMPLE_DIST)
    source = tmp_path_factory.mktemp("example-plugin") / EXAMPLE.name
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", "--no-deps", "--force-reinstall", str(source)], check=True)
    importlib.invalidate_caches()
    yield importlib.metadata.version(EXAMPLE_DIST)
    if not was_installed:
        subprocess.run([*pip, "uninstall", "--quiet", "--yes", EXAMPLE_DIST], check=True)
        importlib.invalidate_caches()


def _is_installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.fixture
def plugin_settings(settings, example_plugin):
    return settings.replace(plugins_autoload=True)


@pytest.fixture
async def plugin_client(aiohttp_client, plugin_settings, engine):
    return await aiohttp_client(create_app(plugin_settings))


def builtin_points():
    return [point for point in entry_points(group=ENTRY_POINT_GROUP) if point.dist.name == "hubbub"]


# --- discovery and settings ---------------------------------------------------------------


def test_the_example_plugin_is_found_through_its_entry_points(plugin_settings):
    registry = registry_from_settings(plugin_settings)
    assert registry.types()["pins.pin"] == EXAMPLE_DIST
    assert registry.types()["send_message"] == "hubbub"
    assert [(hook.name, hook.origin) for hook in load_hooks(plugin_settings)] == [("profanity", EXAMPLE_DIST)]
    # The module came from the installed distribution, not from the source tree.
    assert "site-packages" in importlib.import_module("hubbub_example_plugin").__file__


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
    # A plugin type clashing with a built-in is a startup error like a failed import.
    code = (
        "import sys; from importlib.metadata import EntryPoint;"
        "import handlers.registry as r;"
        "real = r.entry_points;"
        "r.entry_points = lambda group: [*real(group=group), EntryPoint('typing', 'tests.test_plugins:ClashingTyping', group)];"
        "from server.cli import main; sys.exit(main(['serve', '--port', '0']))"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent.parent)
    assert result.returncode == 2, result.stderr
    assert "cannot load a plugin" in result.stderr and "'typing'" in result.stderr
    assert "Traceback" not in result.stderr


class ClashingTyping(Handler):
    type = "typing"


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


@pytest.fixture
async def unsafe_client(aiohttp_client, settings, engine):
    registry = registry_from_settings(settings)
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


async def test_a_slow_or_broken_hook_fails_the_send_cleanly(aiohttp_client, settings, engine):
    async def slow(message):
        await asyncio.sleep(30)

    async def broken(message):
        raise KeyError("hook bug")

    for hook, code in ((slow, 504), (broken, 500)):
        hooks = PreSendHooks([NamedHook("test", "acme-plugin", hook)], timeout_seconds=0.3)
        client = await aiohttp_client(create_app(settings, hooks=hooks))
        factory = UserFactory(client)
        alice, bob = await factory.make(f"alice{code}"), await factory.make(f"bob{code}")
        socket = await alice.connect()
        assert (await socket.request("send_message", {"receiver_id": bob.id, "content": "x"}))["code"] == code
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


async def test_the_startup_log_lists_every_type_and_hook_with_its_origin(aiohttp_client, plugin_settings, engine, caplog):
    with caplog.at_level(logging.INFO, logger="server.app"):
        await aiohttp_client(create_app(plugin_settings))
    lines = {record.getMessage() for record in caplog.records if record.name == "server.app"}
    assert f"socket frame type pins.pin from {EXAMPLE_DIST}" in lines
    assert "socket frame type send_message from hubbub" in lines
    assert f"message hook profanity from {EXAMPLE_DIST}" in lines
