"""Group notices in history (PROTOCOL §4, notices), over a real server and sockets, on MariaDB
and SQLite: stored with the change that they tell of and only when it commits, placed among the
messages by `after_seq`, paged with the messages, pushed live, and read only by members."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from handlers.services.notices import page_range
from server.keys import DB, SERVICES
from storage import notices as notice_store
from storage import users as user_store
from storage.tables import conversation_notices
from tests.chat import PASSWORD, ChatUser, online, take
from tests.test_groups import make_group, send


async def timeline(user: ChatUser, conversation_id: int, **query) -> dict:
    """A history page with its notices: {messages, notices}."""
    params = {"with_notices": "true", **{key: str(value) for key, value in query.items()}}
    return await user.ok("GET", f"/api/conversations/{conversation_id}/messages", params=params)


def shape(notice: dict) -> tuple:
    return (notice["kind"], notice["after_seq"], notice["actor_id"], notice["subject_id"], notice["data"])


def merged(page: dict) -> list:
    """Messages and notices in the order a client shows them: each notice after the message
    `after_seq`, several after one message by id."""
    items = [((m["seq"], 0, 0), m["content"]) for m in page["messages"]]
    items += [((n["after_seq"], 1, n["id"]), f"{n['kind']}:{n['subject_id']}") for n in page["notices"]]
    return [label for _, label in sorted(items)]


async def test_a_group_s_story_in_history_in_order_among_the_messages(users, backend):
    alice, bob, carol, dan = [await users.make(name) for name in ("alice", "bob", "carol", "dan")]
    group = await make_group(alice, [bob], name="team")
    gid = group["id"]
    await send(alice, gid, "one")
    await alice.ok("POST", f"/api/conversations/{gid}/members", json={"user_ids": [carol.id, dan.id]})
    await send(bob, gid, "two")
    await alice.ok("PATCH", f"/api/conversations/{gid}", json={"name": "crew"})
    await alice.ok("PATCH", f"/api/conversations/{gid}", json={"name": "crew"})  # unchanged: no notice
    await alice.ok("PATCH", f"/api/conversations/{gid}", json={"recall_window_seconds": 60})  # no name: no notice
    await alice.ok("PATCH", f"/api/conversations/{gid}/members/{bob.id}", json={"role": "admin"})
    await alice.ok("PATCH", f"/api/conversations/{gid}/members/{bob.id}", json={"role": "admin"})  # a retry: no notice
    await carol.ok("DELETE", f"/api/conversations/{gid}/members/{carol.id}")
    await send(alice, gid, "three")
    await bob.ok("DELETE", f"/api/conversations/{gid}/members/{dan.id}")
    await alice.ok("POST", f"/api/conversations/{gid}/owner", json={"user_id": bob.id})

    page = await timeline(bob, gid)
    assert [m["seq"] for m in page["messages"]] == [1, 2, 3]
    assert [shape(n) for n in page["notices"]] == [
        ("created", 0, alice.id, None, {"name": "team"}),
        ("added", 1, alice.id, carol.id, None),
        ("added", 1, alice.id, dan.id, None),
        ("renamed", 2, alice.id, None, {"name": "crew"}),
        ("role", 2, alice.id, bob.id, {"role": "admin"}),
        ("left", 2, carol.id, carol.id, None),
        ("removed", 3, bob.id, dan.id, None),
        ("owner", 3, alice.id, bob.id, None),
    ]
    assert merged(page) == ["created:None", "one", f"added:{carol.id}", f"added:{dan.id}", "two", "renamed:None", f"role:{bob.id}", f"left:{carol.id}", "three", f"removed:{dan.id}", f"owner:{bob.id}"]
    assert all(n["conversation_id"] == gid and n["created_at"] > 0 for n in page["notices"])

    # Notices take no seq and count as nothing unread: seqs stay 1, 2, 3, and sending "two"
    # moved Bob's marker to 2, so "three" alone is unread, whatever happened after it.
    (listed,) = [c for c in await bob.ok("GET", "/api/conversations") if c["id"] == gid]
    assert (listed["last_seq"], listed["last_read_seq"], listed["unread_count"]) == (3, 2, 1)
    # Without with_notices the answer is the plain list it always was.
    plain = await bob.ok("GET", f"/api/conversations/{gid}/messages")
    assert [m["seq"] for m in plain] == [1, 2, 3]


async def test_pages_carry_each_notice_once_and_catch_up_brings_the_trailing_ones(users, backend):
    alice, bob, carol = [await users.make(name) for name in ("alice", "bob", "carol")]
    gid = (await make_group(alice, [bob]))["id"]
    for n in range(1, 7):
        await send(alice, gid, f"m{n}")
        await alice.ok("PATCH", f"/api/conversations/{gid}", json={"name": f"name{n}"})
    # A rename after each message: notice after_seq n for n in 1..6, and `created` at 0.

    newest = await timeline(bob, gid, limit=2)
    assert [m["seq"] for m in newest["messages"]] == [5, 6]
    assert [n["after_seq"] for n in newest["notices"]] == [4, 5, 6]  # before 5, before 6, after 6
    older = await timeline(bob, gid, before=5, limit=2)
    assert [m["seq"] for m in older["messages"]] == [3, 4]
    assert [n["after_seq"] for n in older["notices"]] == [2, 3]
    oldest = await timeline(bob, gid, before=3, limit=2)
    assert [n["after_seq"] for n in oldest["notices"]] == [0, 1]
    assert await timeline(bob, gid, before=1, limit=2) == {"messages": [], "notices": []}

    # Forward from a seq held: a full page stops before its last message, the short one goes
    # to the end, so paging forward carries each notice once too.
    first = await timeline(bob, gid, after=2, limit=2)
    assert ([m["seq"] for m in first["messages"]], [n["after_seq"] for n in first["notices"]]) == ([3, 4], [2, 3])
    second = await timeline(bob, gid, after=4, limit=2)
    assert ([m["seq"] for m in second["messages"]], [n["after_seq"] for n in second["notices"]]) == ([5, 6], [4, 5, 6])

    # A device that holds everything up to seq 6 catches up with after=6: no message came, but
    # the changes made meanwhile did.
    await alice.ok("POST", f"/api/conversations/{gid}/members", json={"user_ids": [carol.id]})
    caught_up = await timeline(bob, gid, after=6)
    assert caught_up["messages"] == []
    assert [shape(n) for n in caught_up["notices"]] == [("renamed", 6, alice.id, None, {"name": "name6"}), ("added", 6, alice.id, carol.id, None)]
    # Changes to messages carry no notices.
    assert (await timeline(bob, gid, changed_after=0))["notices"] == []


async def test_the_socket_history_frame_and_the_live_push(users, backend):
    alice, bob, carol = [await users.make(name) for name in ("alice", "bob", "carol")]
    gid = (await make_group(alice, [bob, carol]))["id"]
    await send(alice, gid, "hello")
    (b,) = await online(bob)
    (c,) = await online(carol)

    await carol.ok("DELETE", f"/api/conversations/{gid}/members/{carol.id}")
    await alice.ok("PATCH", f"/api/conversations/{gid}", json={"name": "two of us"})
    pushed = await take(b, "conversation.notice")
    assert [shape(n) for n in pushed] == [("left", 1, carol.id, carol.id, None), ("renamed", 1, alice.id, None, {"name": "two of us"})]
    # The member who left hears its own leaving, and nothing after it.
    assert [n["kind"] for n in await take(c, "conversation.notice")] == ["left"]

    reply = await b.request("history", {"conversation_id": gid, "after": 1, "with_notices": True})
    assert reply["code"] == 200
    assert reply["data"]["messages"] == []
    # The same notices as the push, by id: a client holding both shows each once.
    assert reply["data"]["notices"] == pushed
    plain = await b.request("history", {"conversation_id": gid})
    assert [m["content"] for m in plain["data"]] == ["hello"]


async def test_who_reads_notices_members_only_new_members_see_the_whole_history(users, backend):
    alice, bob, carol, dan = [await users.make(name) for name in ("alice", "bob", "carol", "dan")]
    gid = (await make_group(alice, [bob, carol]))["id"]
    await send(alice, gid, "before dan")
    await alice.ok("DELETE", f"/api/conversations/{gid}/members/{carol.id}")
    await alice.ok("POST", f"/api/conversations/{gid}/members", json={"user_ids": [dan.id]})

    # A new member reads the group's whole history (PROTOCOL §3), its notices as its messages.
    page = await timeline(dan, gid)
    assert [m["content"] for m in page["messages"]] == ["before dan"]
    assert [(n["kind"], n["subject_id"]) for n in page["notices"]] == [("created", None), ("removed", carol.id), ("added", dan.id)]

    # Removed, or never a member: 404, as for the messages, on REST and on the socket.
    for outsider in (carol, await users.make("erin")):
        status, body = await outsider.call("GET", f"/api/conversations/{gid}/messages", params={"with_notices": "true"})
        assert (status, body["message"]) == (404, "no such conversation")
        (socket,) = await online(outsider)
        reply = await socket.request("history", {"conversation_id": gid, "with_notices": True})
        assert reply["code"] == 404


async def test_a_deleted_owner_s_handover_is_a_notice(users, backend):
    alice, bob = [await users.make(name) for name in ("alice", "bob")]
    gid = (await make_group(alice, [bob]))["id"]
    await send(bob, gid, "hi")
    (b,) = await online(bob)
    await alice.ok("DELETE", "/api/users/me", json={"password": PASSWORD})
    (pushed,) = await take(b, "conversation.notice")
    assert shape(pushed) == ("owner", 1, alice.id, bob.id, None)
    assert (await timeline(bob, gid))["notices"][-1] == pushed


async def test_refused_changes_store_no_notice(users, backend, engine):
    alice, bob, carol = [await users.make(name) for name in ("alice", "bob", "carol")]
    gid = (await make_group(alice, [bob]))["id"]
    refusals = [
        (bob, "PATCH", f"/api/conversations/{gid}", {"name": "mine"}, 403),  # not the owner
        (bob, "POST", f"/api/conversations/{gid}/members", {"user_ids": [carol.id]}, 403),
        (alice, "POST", f"/api/conversations/{gid}/members", {"user_ids": [carol.id, 999_999]}, 422),  # one unknown: none added
        (alice, "DELETE", f"/api/conversations/{gid}/members/{carol.id}", None, 404),  # not a member
        (alice, "DELETE", f"/api/conversations/{gid}/members/{alice.id}", None, 403),  # the owner cannot leave
        (bob, "DELETE", f"/api/conversations/{gid}/members/{alice.id}", None, 403),
        (alice, "POST", f"/api/conversations/{gid}/owner", {"user_id": carol.id}, 404),
    ]
    for user, method, path, body, expected in refusals:
        status, answer = await user.call(method, path, json=body) if body is not None else await user.call(method, path)
        assert status == expected, (path, answer)
    async with engine.connect() as conn:
        assert [n.kind for n in await notice_store.between(conn, gid, 0, None)] == ["created"]
    # Deleting the group deletes its notices.
    await alice.ok("DELETE", f"/api/conversations/{gid}")
    async with engine.connect() as conn:
        assert (await conn.execute(select(conversation_notices.c.id).where(conversation_notices.c.conversation_id == gid))).all() == []


async def test_a_notice_is_part_of_its_transaction(users, backend, engine):
    """Written on the caller's connection: it commits or rolls back with the change."""
    alice, bob = [await users.make(name) for name in ("alice", "bob")]
    gid = (await make_group(alice, [bob]))["id"]

    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned):
        async with engine.begin() as conn:
            await notice_store.add_notice(conn, gid, after_seq=0, kind=notice_store.RENAMED, actor_id=alice.id, data={"name": "x"})
            raise Abandoned
    async with engine.begin() as conn:
        kept = await notice_store.add_notice(conn, gid, after_seq=0, kind=notice_store.LEFT, actor_id=bob.id, subject_id=bob.id)
    async with engine.connect() as conn:
        stored = await notice_store.between(conn, gid, 0, 0)
        assert (await user_store.get_user(conn, bob.id)) is not None
    assert [(n.kind, n.data) for n in stored] == [("created", {"name": "team"}), ("left", None)]
    assert stored[-1].id == kept.id


async def test_notices_cost_one_statement_whatever_their_number(users, client, backend):
    alice, bob = [await users.make(name) for name in ("alice", "bob")]
    gid = (await make_group(alice, [bob]))["id"]
    await send(alice, gid, "one")
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith("BEGIN"):  # SQLite's explicit BEGIN IMMEDIATE
            statements.append(statement)

    engine = client.server.app[DB].sync_engine

    async def count(with_notices: bool) -> tuple[int, int]:
        # The search terms of the message sent before are written just after it: not history's.
        await client.server.app[SERVICES].search_indexer.settled()
        statements.clear()
        event.listen(engine, "before_cursor_execute", record)
        try:
            page = await bob.ok("GET", f"/api/conversations/{gid}/messages", params={"with_notices": str(with_notices).lower()})
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return len(statements), len(page["notices"]) if with_notices else 0

    plain, _ = await count(False)
    few, few_notices = await count(True)
    for n in range(10):
        await alice.ok("PATCH", f"/api/conversations/{gid}", json={"name": f"name{n}"})
    many, many_notices = await count(True)
    assert (few_notices, many_notices) == (1, 11)
    assert few == many == plain + 1, statements


def test_page_range():
    # A page below the end: just before each message; at the end: everything after too.
    assert page_range([3, 4], last_seq=6, after=None, before=5) == (2, 3)
    assert page_range([5, 6], last_seq=6, after=None, before=None) == (4, None)
    # An empty page: after=N brings whatever followed N; before= brings nothing.
    assert page_range([], last_seq=6, after=6, before=None) == (6, None)
    assert page_range([], last_seq=0, after=None, before=None) == (0, None)
    assert page_range([], last_seq=6, after=None, before=1) is None
