"""What a send costs the database, and what it must not skip (issue #12): a batch of any size
is one statement from the server (the group commit's CALL), a direct conversation's id is looked
up once per pair, and a removal that commits while a send waits for the conversation's lock
stops that send."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, text

from server.keys import DB, SERVICES
from storage import conversations as conversation_store
from storage import message_batch
from storage import users as user_store
from storage.messages import NewMessage
from storage.tables import MSG_TEXT
from tests.chat import online
from tests.test_write_conflicts import connect, run, until_seen


async def statements_sent(conn) -> int:
    """How many statements this database connection's client has sent (MariaDB's and MySQL's
    `Questions`: those inside a stored procedure are not counted), this one included."""
    return int((await conn.execute(text("SHOW SESSION STATUS LIKE 'Questions'"))).one()[1])


@pytest.mark.mysql
async def test_a_batch_of_any_size_is_one_statement(engine):
    async with engine.begin() as conn:
        ids = [(await user_store.insert_user(conn, username=f"u{n}", email=f"u{n}@example.com", password_hash="x", nickname=None)).id for n in range(4)]
        directs = [(await conversation_store.get_or_create_direct(conn, ids[0], peer))[0].id for peer in ids[1:]]
        group = await conversation_store.create_group(conn, owner_id=ids[0], name="g", member_ids=ids[1:])
    one = [NewMessage(directs[0], ids[0], ids[1], "alone", MSG_TEXT, None)]
    many = [NewMessage(direct, ids[0], peer, f"to {peer}", MSG_TEXT, None) for direct, peer in zip(directs, ids[1:])]
    many += [NewMessage(group.id, sender, None, f"from {sender}", MSG_TEXT, f"c{sender}") for sender in ids]
    async with engine.connect() as conn:
        for batch in (one, many):
            before = await statements_sent(conn)
            appended = await message_batch.append_batch(conn, batch)
            assert len(appended.appended) == len(batch)
            assert await statements_sent(conn) - before == 2  # the CALL, and the SHOW that counts it


@pytest.mark.usefixtures("backend")
async def test_a_direct_conversations_id_is_looked_up_once_per_pair(client, users):
    alice, bob = await users.make("alice"), await users.make("bob")
    conversations = client.server.app[SERVICES].conversations
    engine = client.server.app[DB]
    first = await conversations.ensure_direct(alice.id, bob.id)
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        again = await conversations.ensure_direct(alice.id, bob.id)
        the_other_way = await conversations.ensure_direct(bob.id, alice.id)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert first == again == the_other_way
    assert sent == []


@pytest.mark.mysql
async def test_a_removal_committed_while_a_send_waits_for_the_lock_stops_it(client, users, database_url):
    """The removal is made by hand in a transaction of its own, as the service makes it: the
    conversation's row locked, the member deleted. The send's CALL waits for that lock; once the
    removal commits, the CALL reads membership under the lock and refuses."""
    alice, bob = await users.make("alice"), await users.make("bob")
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "club", "member_ids": [bob.id]})
    (b,) = await online(bob)
    assert (await b.request("send_message", {"conversation_id": group["id"], "content": "still in"}))["code"] == 201

    remover = await asyncio.to_thread(connect, database_url)
    try:
        await asyncio.to_thread(run, remover, "SELECT id FROM conversations WHERE id = %s FOR UPDATE", group["id"])
        await asyncio.to_thread(run, remover, "DELETE FROM conversation_members WHERE conversation_id = %s AND user_id = %s", group["id"], bob.id)
        await b.send("send_message", {"conversation_id": group["id"], "content": "too late"})
        # The CALL's first statement, waiting for the conversation's row (MariaDB's process
        # list names the statement a procedure is on).
        waiting = "SELECT COUNT(*) > 0 FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO LIKE %s"
        await until_seen(database_url, waiting, ("%last_seq = last_seq + 1%",), "no CALL ever waited for the conversation's row")
        await asyncio.to_thread(remover.commit)
    finally:
        remover.close()
    reply = await b.reply()
    assert reply["code"] == 404, reply
    history = await alice.ok("GET", f"/api/conversations/{group['id']}/messages")
    assert [message["content"] for message in history] == ["still in"]
