"""The handler registry (issue 3 Part 3): built-ins come through the same entry points as
plugins, in name order; a duplicate or badly named type is a startup error, never a silent
override."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from types import SimpleNamespace

import pytest

from handlers.base import Context, Handler
from handlers.ping import PingHandler
from handlers.registry import ENTRY_POINT_GROUP, HandlerRegistry, RegistryError, load_entry_points, registry_from_settings
from server.app import create_app

BUILT_INS = {
    "add_reaction",
    "conversation_settings",
    "edit_message",
    "forward_message",
    "history",
    "mark_read",
    "message_readers",
    "ping",
    "recall",
    "remove_reaction",
    "send_message",
    "set_member_role",
    "transfer_owner",
    "typing",
}


class PluginPing(Handler):
    type = "ping"

    async def handle(self, ctx: Context, data: dict) -> str:
        return "not the real ping"


class Echo(Handler):
    type = "acme.echo"

    async def handle(self, ctx: Context, data: dict) -> dict:
        return data


class Alpha(Handler):
    type = "alpha"


class Beta(Handler):
    type = "beta"


class Gamma(Handler):
    type = "gamma"


class NotAHandler:
    type = "stray"


class FakePoint:
    """An entry point as importlib.metadata gives it, from a named distribution."""

    def __init__(self, name: str, target, dist: str | None = "acme-plugin") -> None:
        self.name = name
        self.value = f"{getattr(target, '__module__', 'x')}:{getattr(target, '__qualname__', 'x')}"
        self.group = ENTRY_POINT_GROUP
        self.dist = SimpleNamespace(name=dist) if dist is not None else None
        self._target = target

    def load(self):
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def test_built_ins_come_from_the_hubbub_entry_points(settings):
    registry = registry_from_settings(settings)
    assert registry.types() == {name: "hubbub" for name in BUILT_INS}
    assert isinstance(registry.get("ping").handler, PingHandler)
    assert registry.get("nope") is None


def test_entry_points_of_the_installed_distribution_are_the_built_ins():
    from importlib.metadata import entry_points

    points = {p.name: p for p in entry_points(group=ENTRY_POINT_GROUP) if p.dist is not None and p.dist.name == "hubbub"}
    assert set(points) == BUILT_INS
    for name, point in points.items():
        assert point.load().type == name


def test_duplicate_type_is_an_error_naming_both_origins():
    registry = HandlerRegistry()
    registry.add(PingHandler, origin="hubbub")
    with pytest.raises(RegistryError) as failure:
        registry.add(PluginPing, origin="acme-plugin")
    message = str(failure.value)
    assert "'ping'" in message and "hubbub" in message and "acme-plugin" in message
    # The first registration stands: no silent override.
    assert isinstance(registry.get("ping").handler, PingHandler)
    assert registry.types() == {"ping": "hubbub"}


def test_a_plugin_entry_point_duplicating_a_built_in_fails_startup():
    registry = HandlerRegistry()
    load_entry_points(registry)
    with pytest.raises(RegistryError) as failure:
        load_entry_points(registry, [FakePoint("ping", PluginPing, dist="acme-plugin")])
    assert "hubbub" in str(failure.value) and "acme-plugin" in str(failure.value)
    assert isinstance(registry.get("ping").handler, PingHandler)


def test_duplicate_among_plugins_names_both():
    registry = HandlerRegistry()
    with pytest.raises(RegistryError) as failure:
        load_entry_points(registry, [FakePoint("acme.echo", Echo, dist="acme-one"), FakePoint("acme.echo", Echo, dist="acme-two")])
    assert "acme-one" in str(failure.value) and "acme-two" in str(failure.value)


@pytest.mark.parametrize("bad", ["Ping", "PING", "1ping", "", "_ping", ".ping", "ping-pong", "ping pong", "ping\n", "pïng", None, 5])
def test_bad_type_names_are_refused(bad):
    handler_class = type("Bad", (Handler,), {} if bad is None else {"type": bad})
    registry = HandlerRegistry()
    with pytest.raises(RegistryError) as failure:
        registry.add(handler_class, origin="acme-plugin")
    assert "acme-plugin" in str(failure.value)
    assert registry.types() == {}


@pytest.mark.parametrize("good", ["a", "ping2", "acme.echo", "acme_chat.v2.send"])
def test_good_type_names_are_accepted(good):
    registry = HandlerRegistry()
    registry.add(type("Good", (Handler,), {"type": good}), origin="acme-plugin")
    assert registry.types() == {good: "acme-plugin"}


def test_entry_points_are_loaded_in_name_order():
    order: list[str] = []

    class Recording(HandlerRegistry):
        def add(self, handler_class, origin="direct"):
            order.append(handler_class.type)
            super().add(handler_class, origin)

    load_entry_points(Recording(), [FakePoint("gamma", Gamma), FakePoint("alpha", Alpha), FakePoint("beta", Beta)])
    assert order == ["alpha", "beta", "gamma"]

    # The real group too (installed plugins included): sorted by name, every built-in there.
    order.clear()
    load_entry_points(Recording())
    assert order == sorted(order) and BUILT_INS <= set(order)


def test_entry_point_without_distribution_is_named_by_its_value():
    registry = HandlerRegistry()
    load_entry_points(registry, [FakePoint("acme.echo", Echo, dist=None)])
    assert registry.types() == {"acme.echo": f"{Echo.__module__}:{Echo.__qualname__}"}


def test_entry_point_that_fails_to_import_names_its_origin():
    with pytest.raises(RegistryError) as failure:
        load_entry_points(HandlerRegistry(), [FakePoint("acme.echo", ImportError("no module named acme"), dist="acme-plugin")])
    assert "acme-plugin" in str(failure.value) and "acme.echo" in str(failure.value)


def test_entry_point_that_is_not_a_handler_is_refused():
    with pytest.raises(RegistryError) as failure:
        load_entry_points(HandlerRegistry(), [FakePoint("stray", NotAHandler)])
    assert "acme-plugin" in str(failure.value)
    with pytest.raises(RegistryError):
        load_entry_points(HandlerRegistry(), [FakePoint("stray", lambda: None)])


def test_entry_point_name_must_match_the_declared_type():
    with pytest.raises(RegistryError) as failure:
        load_entry_points(HandlerRegistry(), [FakePoint("echo", Echo)])
    assert "'echo'" in str(failure.value) and "'acme.echo'" in str(failure.value)


def test_entry_point_objects_from_importlib_work():
    point = EntryPoint(name="acme.echo", value=f"{Echo.__module__}:Echo", group=ENTRY_POINT_GROUP)
    registry = HandlerRegistry()
    load_entry_points(registry, [point])
    assert isinstance(registry.get("acme.echo").handler, Echo)


def test_app_uses_the_registry_it_is_given(settings):
    registry = registry_from_settings(settings)
    registry.add(Echo, origin="tests")
    app = create_app(settings, registry=registry)
    from server.keys import REGISTRY

    assert app[REGISTRY].types()["acme.echo"] == "tests"
    assert create_app(settings)[REGISTRY].types() == {name: "hubbub" for name in BUILT_INS}
