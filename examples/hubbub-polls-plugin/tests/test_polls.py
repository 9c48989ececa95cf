"""The plugin's own tests, run from this folder (`python -m pytest`) with nothing but
`pip install hubbub[test]` and this plugin installed: the server's pytest plugin starts a real
`hubbub serve` with the plugin loaded and its schema migrated. pytest-asyncio runs in its auto
mode here (pyproject.toml), so the tests need no asyncio mark."""

import asyncio
import sqlite3
from contextlib import closing


def poll_of(message: dict, options: list[tuple[str, int]], voters: int, *, closed: bool = False) -> dict:
    """The PollVO the plugin answers and pushes for a poll on `message`."""
    return {
        "message_id": message["id"],
        "conversation_id": message["conversation_id"],
        "created_by": message["sender_id"],
        "closed": closed,
        "options": [{"text": text, "votes": votes} for text, votes in options],
        "voters": voters,
    }


async def test_a_poll_is_made_voted_on_and_closed_on_the_socket_and_read_over_rest(hubbub_client):
    alice, bob, carol = await hubbub_client.user("alice"), await hubbub_client.user("bob"), await hubbub_client.user("carol")
    a, b = await alice.connect(), await bob.connect()
    message = await a.ok("send_message", {"receiver_id": bob.id, "content": "tea or coffee?"})
    conversation_id = message["conversation_id"]

    # Only the message's sender makes it a poll, once, with two to ten different options.
    await b.fails(403, "polls.create", {"message_id": message["id"], "options": ["tea", "coffee"]})
    assert (await a.fails(422, "polls.create", {"message_id": message["id"], "options": ["tea", "tea"]}))["data"]["errors"]["options"]
    await a.fails(422, "polls.create", {"message_id": message["id"], "options": ["tea"]})
    created = await a.ok("polls.create", {"message_id": message["id"], "options": ["tea", "coffee"]})
    assert created == {**poll_of(message, [("tea", 0), ("coffee", 0)], 0), "my_vote": None}
    assert (await b.event("polls.updated"))["data"] == poll_of(message, [("tea", 0), ("coffee", 0)], 0)
    await a.no_event("polls.updated")  # the creating socket has its reply
    await a.fails(409, "polls.create", {"message_id": message["id"], "options": ["yes", "no"]})

    # One vote per user: voting again moves it, the same vote again changes nothing, null takes it back.
    assert await b.ok("polls.vote", {"message_id": message["id"], "option": 0}) == {**poll_of(message, [("tea", 1), ("coffee", 0)], 1), "my_vote": 0}
    assert (await a.event("polls.updated"))["data"] == poll_of(message, [("tea", 1), ("coffee", 0)], 1)
    await b.ok("polls.vote", {"message_id": message["id"], "option": 0})
    await a.no_event("polls.updated")  # a retry: nobody hears of it
    assert (await b.ok("polls.vote", {"message_id": message["id"], "option": 1}))["options"] == [{"text": "tea", "votes": 0}, {"text": "coffee", "votes": 1}]
    await a.event("polls.updated")
    assert (await a.fails(422, "polls.vote", {"message_id": message["id"], "option": 2}))["data"]["errors"]["option"]
    await a.fails(422, "polls.vote", {"message_id": message["id"], "option": "1"})
    assert await a.ok("polls.vote", {"message_id": message["id"], "option": 1}) == {**poll_of(message, [("tea", 0), ("coffee", 2)], 2), "my_vote": 1}
    assert (await b.event("polls.updated"))["data"] == poll_of(message, [("tea", 0), ("coffee", 2)], 2)
    assert await b.ok("polls.vote", {"message_id": message["id"], "option": None}) == {**poll_of(message, [("tea", 0), ("coffee", 1)], 1), "my_vote": None}
    assert (await a.event("polls.updated"))["data"] == poll_of(message, [("tea", 0), ("coffee", 1)], 1)

    # Over REST, each member reads the poll with their own vote.
    assert await alice.ok("GET", f"/api/plugins/polls/messages/{message['id']}") == {**poll_of(message, [("tea", 0), ("coffee", 1)], 1), "my_vote": 1}
    assert await bob.ok("GET", f"/api/plugins/polls/conversations/{conversation_id}") == [{**poll_of(message, [("tea", 0), ("coffee", 1)], 1), "my_vote": None}]
    plain = await a.ok("send_message", {"receiver_id": bob.id, "content": "not a poll"})
    assert (await alice.fails(404, "GET", f"/api/plugins/polls/messages/{plain['id']}"))["message"] == "no such poll"
    await b.fails(404, "polls.vote", {"message_id": plain["id"], "option": 0})

    # Someone outside the conversation learns nothing, on the socket or over REST.
    c = await carol.connect()
    await c.fails(404, "polls.vote", {"message_id": message["id"], "option": 0})
    await c.fails(404, "polls.close", {"message_id": message["id"]})
    await carol.fails(404, "GET", f"/api/plugins/polls/messages/{message['id']}")
    await carol.fails(404, "GET", f"/api/plugins/polls/conversations/{conversation_id}")

    # Only its creator closes it; a closed poll keeps its votes and takes no more.
    await b.fails(403, "polls.close", {"message_id": message["id"]})
    closed = poll_of(message, [("tea", 0), ("coffee", 1)], 1, closed=True)
    assert await a.ok("polls.close", {"message_id": message["id"]}) == {**closed, "my_vote": 1}
    assert (await b.event("polls.updated"))["data"] == closed
    assert (await b.fails(409, "polls.vote", {"message_id": message["id"], "option": 0}))["message"] == "the poll is closed"
    await a.ok("polls.close", {"message_id": message["id"]})
    await b.no_event("polls.updated")  # closing a closed poll changes nothing


def poll_rows(database_url: str, message_ids: list[int]) -> dict[str, int]:
    """How many rows of these messages' polls each of the plugin's tables holds, read from the
    test server's own SQLite database."""
    marks = ", ".join("?" * len(message_ids))
    with closing(sqlite3.connect(database_url.split("///", 1)[1])) as db:
        return {table: db.execute(f"SELECT COUNT(*) FROM {table} WHERE message_id IN ({marks})", message_ids).fetchone()[0] for table in ("plugin_polls", "plugin_poll_options", "plugin_poll_votes")}


async def eventually(check, expected) -> None:
    """Subscribers run after the reply to whoever caused the event: wait for what they do."""
    for _ in range(100):
        if await check() == expected:
            return
        await asyncio.sleep(0.05)
    assert await check() == expected


async def test_the_subscriber_deletes_the_polls_of_recalled_messages_and_deleted_groups(hubbub_client, hubbub_server):
    alice, bob = await hubbub_client.user("alice"), await hubbub_client.user("bob")
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "lunch", "member_ids": [bob.id]})
    a, b = await alice.connect(), await bob.connect()
    where = await a.ok("send_message", {"conversation_id": group["id"], "content": "where?"})
    when = await a.ok("send_message", {"conversation_id": group["id"], "content": "when?"})
    for message, options in ((where, ["canteen", "park"]), (when, ["noon", "one"])):
        await a.ok("polls.create", {"message_id": message["id"], "options": options})
        await b.ok("polls.vote", {"message_id": message["id"], "option": 1})
    assert poll_rows(hubbub_server.database_url, [where["id"], when["id"]]) == {"plugin_polls": 2, "plugin_poll_options": 4, "plugin_poll_votes": 2}

    # A recalled message stays readable, as recalled; its poll, options and votes go.
    await a.ok("recall", {"message_id": where["id"]})
    await b.fails(404, "polls.vote", {"message_id": where["id"], "option": 0})

    async def gone() -> int:
        status, _ = await alice.call("GET", f"/api/plugins/polls/messages/{where['id']}")
        return status

    await eventually(gone, 404)
    assert poll_rows(hubbub_server.database_url, [where["id"]]) == {"plugin_polls": 0, "plugin_poll_options": 0, "plugin_poll_votes": 0}
    assert [poll["message_id"] for poll in await bob.ok("GET", f"/api/plugins/polls/conversations/{group['id']}")] == [when["id"]]

    # A deleted group's polls go too (nobody can ask for them any more: the database tells).
    await alice.ok("DELETE", f"/api/conversations/{group['id']}")

    async def left() -> int:
        return poll_rows(hubbub_server.database_url, [when["id"]])["plugin_polls"]

    await eventually(left, 0)
    assert poll_rows(hubbub_server.database_url, [when["id"]]) == {"plugin_polls": 0, "plugin_poll_options": 0, "plugin_poll_votes": 0}
