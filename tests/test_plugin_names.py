"""Plugin names carry the plugin's prefix (issue 17 part 5): a frame type or event outside the
plugin's own prefix, in the server's namespace or in another plugin's, stops startup naming
the plugin, unless the settings accept that name as it is; an event a plugin pushes without
having declared it is checked when pushed."""

import asyncio
import logging

import pytest
from marshmallow import Schema, fields

from handlers.api import LifecycleContext, PluginRequest, PluginRoutes, RequestContext, Subscriber
from handlers.base import Context, Handler
from handlers.lifecycle import Lifecycle, NamedSubscriber
from handlers.naming import NamingError
from handlers.registry import registry_from_settings
from handlers.routes import NamedRoutes
from server.app import create_app
from tests.chat import UserFactory


def handler(type_name: str, events: tuple[str, ...] = ()) -> type[Handler]:
    async def handle(self, ctx: Context, data: dict) -> None:
        return None

    return type("Plugin", (Handler,), {"type": type_name, "events": {event: Schema for event in events}, "handle": handle})


def app_with(settings, *plugins: tuple[str, type[Handler]]):
    registry = registry_from_settings(settings)
    for origin, handler_class in plugins:
        registry.add(handler_class, origin=origin)
    return create_app(settings, registry=registry)


def test_prefixed_names_of_one_plugin_are_accepted(settings):
    app_with(settings, ("pins-plugin", handler("pins.pin", ("pins.changed",))), ("pins-plugin", handler("pins.unpin")), ("polls-plugin", handler("polls.vote")))


@pytest.mark.parametrize(
    ("plugins", "words"),
    [
        ([("acme-plugin", handler("wave"))], ["frame type 'wave'", "acme-plugin", "prefix"]),
        ([("acme-plugin", handler("message.pin"))], ["'message.pin'", "acme-plugin", "server's own prefix 'message'"]),
        ([("acme-plugin", handler("send_message.v2"))], ["'send_message.v2'", "server's own prefix"]),
        ([("acme-plugin", handler("acme.pin", ("pinned",)))], ["event 'pinned'", "acme-plugin"]),
        ([("acme-plugin", handler("acme.pin", ("message.pinned",)))], ["event 'message.pinned'", "server's own prefix 'message'"]),
        ([("acme-plugin", handler("acme.pin", ("pins.changed",)))], ["event 'pins.changed'", "prefix 'acme'"]),
        ([("acme-plugin", handler("acme.pin")), ("acme-plugin", handler("pins.pin"))], ["'pins.pin'", "prefix 'acme'", "one plugin, one prefix"]),
        ([("acme-one", handler("acme.pin")), ("acme-two", handler("acme.unpin"))], ["'acme.unpin'", "acme-two", "prefix 'acme' of acme-one"]),
    ],
)
def test_a_name_that_is_not_the_plugins_own_stops_startup_naming_it(settings, plugins, words):
    with pytest.raises(NamingError) as refused:
        app_with(settings, *plugins)
    for word in words:
        assert word in str(refused.value)


def test_the_settings_can_accept_given_names_unprefixed(settings):
    settings = settings.replace(plugin_names_unprefixed=("wave", "waved"))
    app_with(settings, ("acme-plugin", handler("wave", ("waved",))))
    with pytest.raises(NamingError):
        app_with(settings, ("acme-plugin", handler("wave", ("other",))))


def test_a_built_in_replaced_by_the_settings_keeps_its_name(settings):
    settings = settings.replace(handlers_override=("ping",), handlers_disabled=())
    registry = registry_from_settings(settings.replace(handlers_disabled=("ping",)))
    registry.add(handler("ping"), origin="acme-plugin")
    create_app(settings, registry=registry)
    # A disabled built-in's name stays the server's: a plugin cannot take it without the override.
    registry = registry_from_settings(settings.replace(handlers_disabled=("ping",)))
    registry.add(handler("ping.v2"), origin="acme-plugin")
    with pytest.raises(NamingError):
        create_app(settings, registry=registry)


def test_a_prefix_is_a_plain_lower_case_word(settings):
    from handlers.naming import PluginName, check_plugin_names

    for bad in ("Pins", "pins-plugin", "1pins", "pins plugin", ""):
        with pytest.raises(NamingError, match="lower-case letters"):
            check_plugin_names([PluginName("acme-plugin", "migration", bad)], ())
    assert check_plugin_names([PluginName("acme-plugin", "migration", "pins_2")], ()) == {"acme-plugin": "pins_2"}


# --- at run time: what a plugin pushes carries its prefix too (handlers.plugin_push) ---------


class PushSchema(Schema):
    how = fields.String(required=True)
    event = fields.String(required=True)
    conversation_id = fields.Integer(load_default=None)


class Pushing(Handler):
    """Pushes `event` (declared nowhere) the way `how` says: to the caller's socket, to users,
    or to a conversation."""

    type = "acme.push"
    schema = PushSchema

    async def handle(self, ctx: Context, data: dict) -> dict:
        if data["how"] == "socket":
            ctx.socket.push(data["event"], {"n": 1})
        elif data["how"] == "users":
            ctx.push_to_users([ctx.user_id], data["event"], {"n": 1})
        else:
            await ctx.push_to_conversation(data["conversation_id"], data["event"], {"n": 1}, skip_own_socket=True)
        return {"pushed": data["event"]}


async def pushing_client(aiohttp_client, settings, **kwargs):
    registry = registry_from_settings(settings)
    registry.add(Pushing, origin="acme-plugin")
    return await aiohttp_client(create_app(settings, registry=registry, **kwargs))


async def test_a_handler_pushing_a_name_not_its_own_fails_and_reaches_nobody(aiohttp_client, settings, engine, caplog):
    client = await pushing_client(aiohttp_client, settings)
    factory = UserFactory(client)
    alice, bob = await factory.make("alice"), await factory.make("bob")
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [bob.id]})
    a, b = await alice.connect(), await bob.connect()
    for how in ("socket", "users", "conversation"):
        for event in ("message.pinned", "pins.changed", "acme"):
            with caplog.at_level(logging.ERROR):
                reply = await a.request("acme.push", {"how": how, "event": event, "conversation_id": group["id"]})
            assert reply["code"] == 500, (how, event)
            assert any(f"event {event!r} pushed by acme-plugin" in (record.exc_text or "") for record in caplog.records), (how, event)
            caplog.clear()
    await a.no_event("message.pinned")
    await b.no_event("message.pinned")
    await b.no_event("pins.changed")
    # Its own prefix, and one of the server's events (as a plugin replacing a built-in sends), go out.
    assert (await a.request("acme.push", {"how": "conversation", "event": "acme.pinned", "conversation_id": group["id"]}))["code"] == 200
    assert (await b.event("acme.pinned"))["data"] == {"n": 1}
    await a.no_event("acme.pinned")  # skip_own_socket still knows the caller's socket
    assert (await a.request("acme.push", {"how": "socket", "event": "typing"}))["code"] == 200
    assert (await a.event("typing"))["data"] == {"n": 1}


async def test_a_name_the_settings_accept_may_be_pushed_unprefixed(aiohttp_client, settings, engine):
    client = await pushing_client(aiohttp_client, settings.replace(plugin_names_unprefixed=("pinned",)))
    alice = await UserFactory(client).make("alice")
    a = await alice.connect()
    assert (await a.request("acme.push", {"how": "users", "event": "pinned"}))["code"] == 200
    assert (await a.event("pinned"))["data"] == {"n": 1}
    assert (await a.request("acme.push", {"how": "users", "event": "message.pinned"}))["code"] == 500


async def test_a_subscriber_or_route_pushing_a_name_not_its_own_fails_and_reaches_nobody(aiohttp_client, settings, engine, caplog):
    subscriber = Subscriber()

    @subscriber.on("message.stored")
    async def announce(ctx: LifecycleContext, message: dict) -> None:
        ctx.push.to_users([message["sender_id"]], "message.pinned", {"id": message["id"]})

    routes = PluginRoutes()

    @routes.post("/announce", summary="Pushes")
    async def announce_route(ctx: RequestContext, request: PluginRequest) -> None:
        ctx.push.to_users([ctx.user_id], "message.pinned", {})

    lifecycle = Lifecycle([NamedSubscriber("acme", "acme-plugin", subscriber)], 5)
    client = await pushing_client(aiohttp_client, settings, lifecycle=lifecycle, plugin_routes=[NamedRoutes("acme", "acme-plugin", routes)])
    factory = UserFactory(client)
    alice, bob = await factory.make("alice"), await factory.make("bob")
    a = await alice.connect()
    with caplog.at_level(logging.ERROR):
        assert (await alice.call("POST", "/api/messages", json={"receiver_id": bob.id, "content": "hi"}))[0] == 201
        assert (await alice.call("POST", "/api/plugins/acme/announce"))[0] == 500
        for _ in range(100):
            if any("subscriber" in record.getMessage() and "failed" in record.getMessage() for record in caplog.records):
                break
            await asyncio.sleep(0.02)
    failures = {record.getMessage(): record.exc_text or "" for record in caplog.records}
    assert any("lifecycle subscriber" in line and "acme-plugin" in line and "'message.pinned' pushed by acme-plugin" in exc for line, exc in failures.items())
    assert any("route POST /announce" in line and "'message.pinned' pushed by acme-plugin" in exc for line, exc in failures.items())
    await a.no_event("message.pinned")
