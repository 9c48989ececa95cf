"""Lifecycle events for plugins (issue 17 part 3), through a real server: each event reaches a
subscriber once, after its commit, with its payload; a slow subscriber delays no reply and no
push; a failing or timed-out one is logged under its plugin's name and changes nothing else."""

import asyncio
import logging
import time

from sqlalchemy import select

from handlers.lifecycle import LIFECYCLE_EVENTS, Lifecycle, LifecycleContext, NamedSubscriber, Subscriber
from server.app import create_app
from storage.tables import ROLE_ADMIN, ROLE_MEMBER, conversation_members, conversations, messages, users
from tests.chat import PASSWORD, UserFactory


def recording_subscriber() -> tuple[Subscriber, list[tuple[str, dict]]]:
    seen: list[tuple[str, dict]] = []
    subscriber = Subscriber()
    for event in LIFECYCLE_EVENTS:

        async def record(ctx: LifecycleContext, payload: dict, event: str = event) -> None:
            seen.append((event, payload))

        subscriber.on(event)(record)
    return subscriber, seen


async def until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not seen in time"
        await asyncio.sleep(0.02)


async def client_with(aiohttp_client, settings, subscriber: Subscriber, timeout: float = 5.0):
    lifecycle = Lifecycle([NamedSubscriber("acme", "acme-plugin", subscriber)], timeout)
    return await aiohttp_client(create_app(settings.replace(plugin_timeout_seconds=timeout), lifecycle=lifecycle))


async def test_a_subscriber_hears_each_event_once_with_its_payload(aiohttp_client, settings, engine):
    subscriber, seen = recording_subscriber()
    client = await client_with(aiohttp_client, settings, subscriber)
    factory = UserFactory(client)
    alice, bob, carol = await factory.make("alice"), await factory.make("bob"), await factory.make("carol")

    def of(event: str) -> list[dict]:
        return [payload for name, payload in seen if name == event]

    socket = await alice.connect()
    await until(lambda: of("user.connected"))
    assert of("user.connected") == [{"user_id": alice.id}]
    second = await alice.connect()  # not the first socket: nothing new
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [bob.id]})
    await until(lambda: of("conversation.created"))
    assert of("conversation.created") == [{"conversation_id": group["id"], "type": "group", "member_ids": sorted([alice.id, bob.id])}]

    sent = await socket.request("send_message", {"conversation_id": group["id"], "content": "hello"})
    await until(lambda: of("message.stored"))
    assert of("message.stored") == [sent["data"]]
    edited = await socket.request("edit_message", {"message_id": sent["data"]["id"], "content": "hello!"})
    await until(lambda: of("message.edited"))
    assert of("message.edited") == [edited["data"]]
    await socket.request("recall", {"message_id": sent["data"]["id"]})
    await until(lambda: of("message.recalled"))
    recalled = of("message.recalled")
    assert len(recalled) == 1 and recalled[0]["message_id"] == sent["data"]["id"] and recalled[0]["sender_id"] == alice.id
    assert recalled[0]["conversation_id"] == group["id"] and recalled[0]["seq"] == sent["data"]["seq"]

    await alice.ok("PATCH", f"/api/conversations/{group['id']}", json={"name": "renamed"})
    await until(lambda: of("conversation.updated"))
    assert of("conversation.updated") == [{"conversation_id": group["id"], "changes": {"name": "renamed"}}]
    await alice.ok("POST", f"/api/conversations/{group['id']}/members", json={"user_ids": [carol.id]})
    await until(lambda: of("member.added"))
    assert of("member.added") == [{"conversation_id": group["id"], "user_id": carol.id}]
    await alice.call("DELETE", f"/api/conversations/{group['id']}/members/{carol.id}")
    await until(lambda: of("member.removed"))
    assert of("member.removed") == [{"conversation_id": group["id"], "user_id": carol.id}]
    await alice.call("DELETE", f"/api/conversations/{group['id']}")
    await until(lambda: of("conversation.deleted"))
    assert of("conversation.deleted") == [{"conversation_id": group["id"], "member_ids": sorted([alice.id, bob.id])}]

    await socket.close()
    await asyncio.sleep(0.2)
    assert of("user.disconnected") == []  # another socket of alice is open
    await second.close()
    await until(lambda: of("user.disconnected"))
    assert of("user.disconnected") == [{"user_id": alice.id}]
    # A refused action is no event.
    assert (await (await bob.connect()).request("recall", {"message_id": sent["data"]["id"]}))["code"] in (403, 404)
    await asyncio.sleep(0.2)
    counts = {event: len(of(event)) for event in LIFECYCLE_EVENTS}
    # Nobody's role or the owner changed here (the roles' events have tests of their own below).
    # Nobody's profile changed and no account was deleted either (tested below).
    quiet = {"member.role_changed": 0, "conversation.owner_changed": 0, "user.updated": 0, "user.deleted": 0}
    assert counts == {**{event: 1 for event in LIFECYCLE_EVENTS}, "user.connected": 2, **quiet}


async def test_a_subscriber_runs_after_the_commit(aiohttp_client, settings, engine):
    found = []
    subscriber = Subscriber()

    @subscriber.on("message.stored")
    async def look(ctx: LifecycleContext, message: dict) -> None:
        # Another connection: it sees only what was committed.
        async with ctx.db.connect() as conn:
            found.append((await conn.execute(select(messages.c.content).where(messages.c.id == message["id"]))).scalar())

    client = await client_with(aiohttp_client, settings, subscriber)
    factory = UserFactory(client)
    alice, bob = await factory.make("alice"), await factory.make("bob")
    status, body = await alice.call("POST", "/api/messages", json={"receiver_id": bob.id, "content": "committed"})
    assert status == 201
    await until(lambda: found)
    assert found == ["committed"]


async def test_a_subscriber_runs_after_a_slow_commit(aiohttp_client, settings, engine, monkeypatch):
    """Deterministic where the test above is not: every commit waits 0.3 s before it is sent
    (yielding to the loop meanwhile), so a subscriber told inside the transaction would read,
    on a connection of its own, the message as it was before the recall or the edit."""
    from sqlalchemy.dialects.mysql.aiomysql import AsyncAdapt_aiomysql_connection
    from sqlalchemy.util import await_only

    found = []
    subscriber = Subscriber()

    @subscriber.on("message.edited")
    @subscriber.on("message.recalled")
    async def look(ctx: LifecycleContext, event: dict) -> None:
        message_id = event.get("message_id", event.get("id"))
        async with ctx.db.connect() as conn:
            found.append(tuple((await conn.execute(select(messages.c.content, messages.c.status).where(messages.c.id == message_id))).one()))

    client = await client_with(aiohttp_client, settings, subscriber)
    factory = UserFactory(client)
    alice, bob = await factory.make("alice"), await factory.make("bob")
    socket = await alice.connect()
    sent = (await socket.request("send_message", {"receiver_id": bob.id, "content": "first"}))["data"]
    real_commit = AsyncAdapt_aiomysql_connection.commit

    def slow_commit(self) -> None:
        await_only(asyncio.sleep(0.3))
        real_commit(self)

    monkeypatch.setattr(AsyncAdapt_aiomysql_connection, "commit", slow_commit)
    assert (await socket.request("edit_message", {"message_id": sent["id"], "content": "second"}))["code"] == 200
    await until(lambda: len(found) == 1)
    assert found == [("second", 1)]
    assert (await socket.request("recall", {"message_id": sent["id"]}))["code"] == 200
    await until(lambda: len(found) == 2)
    assert found[1][1] == 3  # recalled


async def test_a_slow_subscriber_delays_no_reply_and_no_push(aiohttp_client, settings, engine, caplog):
    started = asyncio.Event()
    subscriber = Subscriber()

    @subscriber.on("message.stored")
    async def dawdle(ctx: LifecycleContext, message: dict) -> None:
        started.set()
        await asyncio.sleep(30)

    client = await client_with(aiohttp_client, settings, subscriber, timeout=1.5)
    factory = UserFactory(client)
    alice, bob = await factory.make("alice"), await factory.make("bob")
    a, b = await alice.connect(), await bob.connect()
    begun = time.monotonic()
    for n in range(3):
        reply = await a.request("send_message", {"receiver_id": bob.id, "content": f"m{n}"})
        assert reply["code"] == 201
        assert (await b.event("message.new"))["data"]["content"] == f"m{n}"
    assert time.monotonic() - begun < 1.0
    assert started.is_set()
    with caplog.at_level(logging.ERROR, logger="handlers.lifecycle"):
        await asyncio.sleep(2.0)
    timed_out = [record.getMessage() for record in caplog.records if "timed out" in record.getMessage()]
    assert len(timed_out) == 3 and all("acme-plugin" in line and "message.stored" in line for line in timed_out)


async def test_a_failing_subscriber_is_logged_with_its_plugin_and_harms_nothing(aiohttp_client, settings, engine, caplog):
    subscriber = Subscriber()

    @subscriber.on("message.stored")
    async def explode(ctx: LifecycleContext, message: dict) -> None:
        raise RuntimeError("subscriber bug")

    client = await client_with(aiohttp_client, settings, subscriber)
    factory = UserFactory(client)
    alice, bob = await factory.make("alice"), await factory.make("bob")
    a, b = await alice.connect(), await bob.connect()
    with caplog.at_level(logging.ERROR, logger="handlers.lifecycle"):
        assert (await a.request("send_message", {"receiver_id": bob.id, "content": "one"}))["code"] == 201
        await until(lambda: any("subscriber bug" in (record.exc_text or str(record.exc_info)) for record in caplog.records))
    failed = [record for record in caplog.records if "failed" in record.getMessage()]
    assert failed and "acme-plugin" in failed[0].getMessage() and "message.stored" in failed[0].getMessage()
    assert (await b.event("message.new"))["data"]["content"] == "one"
    assert (await a.request("send_message", {"receiver_id": bob.id, "content": "two"}))["code"] == 201
    assert (await a.request("ping"))["code"] == 200


async def test_a_subscriber_logs_under_its_plugins_name(aiohttp_client, settings, engine, caplog):
    subscriber = Subscriber()

    @subscriber.on("message.stored")
    async def say(ctx: LifecycleContext, message: dict) -> None:
        ctx.logger.warning("acme heard message %s", message["id"])

    client = await client_with(aiohttp_client, settings, subscriber)
    factory = UserFactory(client)
    alice, bob = await factory.make("alice"), await factory.make("bob")
    with caplog.at_level(logging.WARNING):
        status, body = await alice.call("POST", "/api/messages", json={"receiver_id": bob.id, "content": "hi"})
        assert status == 201
        await until(lambda: any(record.getMessage().startswith("acme heard") for record in caplog.records))
    said = [record for record in caplog.records if record.getMessage() == f"acme heard message {body['data']['id']}"]
    assert [record.name for record in said] == ["hubbub.plugins.acme-plugin"]


def test_an_unknown_event_cannot_be_subscribed():
    import pytest

    with pytest.raises(ValueError, match="no lifecycle event 'message.pinned'"):
        Subscriber().on("message.pinned")


def role_recorder() -> tuple[Subscriber, list[tuple[str, dict, tuple]]]:
    """Hears the role and owner events, and reads on a connection of its own what the database
    holds when it runs: committed rows only, so the change must be there already."""
    seen: list[tuple[str, dict, tuple]] = []
    subscriber = Subscriber()

    @subscriber.on("member.role_changed")
    async def role_changed(ctx: LifecycleContext, payload: dict) -> None:
        async with ctx.db.connect() as conn:
            role = await conn.scalar(
                select(conversation_members.c.role).where(
                    conversation_members.c.conversation_id == payload["conversation_id"], conversation_members.c.user_id == payload["user_id"]
                )
            )
        seen.append(("member.role_changed", payload, (role,)))

    @subscriber.on("conversation.owner_changed")
    async def owner_changed(ctx: LifecycleContext, payload: dict) -> None:
        async with ctx.db.connect() as conn:
            owner = await conn.scalar(select(conversations.c.owner_id).where(conversations.c.id == payload["conversation_id"]))
        seen.append(("conversation.owner_changed", payload, (owner,)))

    return subscriber, seen


async def test_promote_demote_and_transfer_are_heard_once_each_after_the_commit(aiohttp_client, settings, engine):
    subscriber, seen = role_recorder()
    client = await client_with(aiohttp_client, settings, subscriber)
    factory = UserFactory(client)
    alice, bob, carol = await factory.make("alice"), await factory.make("bob"), await factory.make("carol")
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [bob.id, carol.id]})
    gid = group["id"]
    members = f"/api/conversations/{gid}/members"

    # Promote over REST, demote on the socket; the role one has already is a retry: no event.
    await alice.ok("PATCH", f"{members}/{bob.id}", json={"role": "admin"})
    await until(lambda: len(seen) == 1)
    assert seen[0] == ("member.role_changed", {"conversation_id": gid, "user_id": bob.id, "old_role": "member", "new_role": "admin", "actor_id": alice.id}, (ROLE_ADMIN,))
    await alice.ok("PATCH", f"{members}/{bob.id}", json={"role": "admin"})
    socket = await alice.connect()
    assert (await socket.request("set_member_role", {"conversation_id": gid, "user_id": bob.id, "role": "member"}))["code"] == 200
    await until(lambda: len(seen) == 2)
    assert seen[1] == ("member.role_changed", {"conversation_id": gid, "user_id": bob.id, "old_role": "admin", "new_role": "member", "actor_id": alice.id}, (ROLE_MEMBER,))

    # Refused: no event.
    assert (await bob.call("PATCH", f"{members}/{carol.id}", json={"role": "admin"}))[0] == 403
    assert (await alice.call("PATCH", f"{members}/{alice.id}", json={"role": "member"}))[0] == 403
    assert (await bob.call("POST", f"/api/conversations/{gid}/owner", json={"user_id": bob.id}))[0] == 403

    # The handover is one event, not role changes: the old owner stays as an admin.
    assert (await socket.request("transfer_owner", {"conversation_id": gid, "user_id": carol.id}))["code"] == 200
    await until(lambda: len(seen) == 3)
    transfer = {"conversation_id": gid, "old_owner_id": alice.id, "new_owner_id": carol.id, "old_owner_role": "admin", "actor_id": alice.id}
    assert seen[2] == ("conversation.owner_changed", transfer, (carol.id,))
    # The new owner promotes over REST too.
    await carol.ok("PATCH", f"{members}/{bob.id}", json={"role": "admin"})
    await until(lambda: len(seen) == 4)
    assert seen[3][1] == {"conversation_id": gid, "user_id": bob.id, "old_role": "member", "new_role": "admin", "actor_id": carol.id}
    await asyncio.sleep(0.3)
    assert [event for event, _, _ in seen] == ["member.role_changed", "member.role_changed", "conversation.owner_changed", "member.role_changed"]


async def test_a_failing_or_slow_role_subscriber_holds_up_and_harms_nothing(aiohttp_client, settings, engine, caplog):
    started: list[str] = []
    cut_off: list[str] = []
    failing, slow = Subscriber(), Subscriber()

    for event in ("member.role_changed", "conversation.owner_changed"):

        async def explode(ctx: LifecycleContext, payload: dict) -> None:
            raise RuntimeError("role subscriber bug")

        async def dawdle(ctx: LifecycleContext, payload: dict, event: str = event) -> None:
            started.append(event)
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cut_off.append(event)
                raise

        failing.on(event)(explode)
        slow.on(event)(dawdle)
    subscriber, seen = role_recorder()  # a third plugin, which hears every event all the same
    named = [NamedSubscriber("acme", "acme-plugin", failing), NamedSubscriber("slow", "slow-plugin", slow), NamedSubscriber("rec", "rec-plugin", subscriber)]
    client = await aiohttp_client(create_app(settings.replace(plugin_timeout_seconds=4), lifecycle=Lifecycle(named, 4)))
    factory = UserFactory(client)
    alice, bob = await factory.make("alice"), await factory.make("bob")
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [bob.id]})
    gid = group["id"]
    a, b = await alice.connect(), await bob.connect()

    with caplog.at_level(logging.ERROR, logger="handlers.lifecycle"):
        reply = await a.request("set_member_role", {"conversation_id": gid, "user_id": bob.id, "role": "admin"})
        assert reply["code"] == 200 and reply["data"]["role"] == "admin"
        assert (await b.event("member.updated"))["data"]["role"] == "admin"
        reply = await a.request("transfer_owner", {"conversation_id": gid, "user_id": bob.id})
        assert reply["code"] == 200 and reply["data"]["owner_id"] == bob.id
        assert (await b.event("conversation.updated"))["data"]["owner_id"] == bob.id
        # The replies and pushes came while the slow subscribers were still running: the
        # requests never waited for them, not even until the timeout cut them off.
        await until(lambda: len(started) == 2)
        assert cut_off == []
        assert (await a.request("ping"))["code"] == 200
        await until(lambda: len(cut_off) == 2, timeout=10)
        await until(lambda: sum("timed out" in record.getMessage() for record in caplog.records) == 2)
    assert sorted(cut_off) == ["conversation.owner_changed", "member.role_changed"]
    lines = [record.getMessage() for record in caplog.records]
    for event in ("member.role_changed", "conversation.owner_changed"):
        assert any("failed" in line and "acme-plugin" in line and event in line for line in lines), lines
        assert any("timed out" in line and "slow-plugin" in line and event in line for line in lines), lines
    assert [event for event, _, _ in seen] == ["member.role_changed", "conversation.owner_changed"]
    roles = {m["id"]: m["role"] for m in await bob.ok("GET", f"/api/conversations/{gid}/members")}
    assert roles == {alice.id: "admin", bob.id: "owner"}


async def test_an_account_deletions_handover_is_an_owner_change_without_an_actor(aiohttp_client, settings, engine):
    subscriber, seen = role_recorder()
    updated: list[dict] = []

    @subscriber.on("conversation.updated")
    async def record_update(ctx: LifecycleContext, payload: dict) -> None:
        updated.append(payload)

    client = await client_with(aiohttp_client, settings, subscriber)
    factory = UserFactory(client)
    alice, bob, carol, dave = [await factory.make(name) for name in ("alice", "bob", "carol", "dave")]
    with_admin = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "with admin", "member_ids": [bob.id, carol.id, dave.id]})
    plain = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "plain", "member_ids": [carol.id]})
    await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "alone", "member_ids": []})
    await alice.ok("PATCH", f"/api/conversations/{with_admin['id']}/members/{dave.id}", json={"role": "admin"})
    await until(lambda: len(seen) == 1)
    del seen[:]

    assert (await alice.call("DELETE", "/api/users/me", json={"password": PASSWORD}))[0] == 200
    await until(lambda: len(seen) == 2)
    await asyncio.sleep(0.3)
    heard = sorted(seen, key=lambda item: item[1]["conversation_id"])
    handover = {"old_owner_id": alice.id, "old_owner_role": "member", "actor_id": None}
    assert heard == [
        ("conversation.owner_changed", {"conversation_id": with_admin["id"], "new_owner_id": dave.id, **handover}, (dave.id,)),
        ("conversation.owner_changed", {"conversation_id": plain["id"], "new_owner_id": carol.id, **handover}, (carol.id,)),
    ]
    # As a handover by the owner is, each is a conversation.updated of its owner_id too.
    assert sorted(updated, key=lambda payload: payload["conversation_id"]) == [
        {"conversation_id": with_admin["id"], "changes": {"owner_id": dave.id}},
        {"conversation_id": plain["id"], "changes": {"owner_id": carol.id}},
    ]


async def test_a_profile_change_and_an_account_deletion_are_heard_after_their_commit(aiohttp_client, settings, engine):
    heard: list[tuple[str, dict, tuple]] = []
    subscriber = Subscriber()

    @subscriber.on("user.updated")
    async def updated(ctx: LifecycleContext, payload: dict) -> None:
        async with ctx.db.connect() as conn:  # what is committed when the subscriber runs
            row = (await conn.execute(select(users.c.nickname, users.c.status).where(users.c.id == payload["user_id"]))).one()
        heard.append(("user.updated", payload, tuple(row)))

    @subscriber.on("user.deleted")
    async def deleted(ctx: LifecycleContext, payload: dict) -> None:
        async with ctx.db.connect() as conn:
            row = (await conn.execute(select(users.c.nickname, users.c.status).where(users.c.id == payload["user_id"]))).one()
        heard.append(("user.deleted", payload, tuple(row)))

    client = await client_with(aiohttp_client, settings, subscriber)
    factory = UserFactory(client)
    alice = await factory.make("alice")
    await alice.ok("PATCH", "/api/users/me", json={"nickname": "Alice"})
    await until(lambda: len(heard) == 1)
    await alice.ok("PATCH", "/api/users/me", json={"nickname": "Alice"})  # no change: nothing told
    assert (await alice.call("DELETE", "/api/users/me", json={"password": PASSWORD}))[0] == 200
    await until(lambda: len(heard) == 2)
    await asyncio.sleep(0.3)
    assert heard[0] == ("user.updated", {"user_id": alice.id, "changes": {"nickname": "Alice"}}, ("Alice", 1))
    assert heard[1][:2] == ("user.deleted", {"user_id": alice.id}) and heard[1][2][1] != 1
    assert len(heard) == 2
