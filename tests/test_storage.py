"""The storage layer on both databases: MariaDB and the embedded SQLite default."""

import asyncio

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from storage import blocks as block_store
from storage import conversations as conversation_store
from storage import message_batch
from storage import messages as message_store
from storage import users as user_store
from storage.messages import NewMessage
from storage.tables import STATUS_READ, STATUS_RECALLED, STATUS_UNREAD, messages, users


async def insert_two_users(engine):
    async with engine.begin() as conn:
        alice = await user_store.insert_user(conn, username="alice", email="a@example.com", password_hash="x", nickname="Al")
        bob = await user_store.insert_user(conn, username="bob", email="b@example.com", password_hash="x", nickname=None)
    return alice.id, bob.id


@pytest.fixture
async def two_users(engine, backend):
    return await insert_two_users(engine)


@pytest.fixture
async def two_mysql_users(engine):
    """For the tests of the MySQL driver and pool alone: `engine` is MariaDB without `backend`."""
    return await insert_two_users(engine)


async def send(engine, conversation_id, sender_id, content, client_msg_id=None):
    async with engine.begin() as conn:
        return await message_store.append_message(conn, NewMessage(conversation_id, sender_id, None, content, 1, client_msg_id))


async def test_usernames_and_emails_are_unique_regardless_of_case(engine, two_users):
    async with engine.connect() as conn:
        assert await user_store.find_taken(conn, username="ALICE", email="new@example.com") == {"username"}
        assert await user_store.find_taken(conn, username="new", email="B@EXAMPLE.COM") == {"email"}
        found = await user_store.find_for_login(conn, username="Alice", email=None)
        assert found.username == "alice"
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await user_store.insert_user(conn, username="Bob", email="other@example.com", password_hash="x", nickname=None)


async def test_user_search_by_prefix_with_keyset_paging(engine, two_users):
    async with engine.begin() as conn:
        await user_store.insert_user(conn, username="al_x", email="c@example.com", password_hash="x", nickname=None)
        await user_store.insert_user(conn, username="alfred", email="d@example.com", password_hash="x", nickname=None)
    async with engine.connect() as conn:
        names = [row.username for row in await user_store.list_users(conn, prefix="al", after=None, limit=10)]
        assert names == ["alice", "al_x", "alfred"]
        # "_" is literal, not a wildcard
        assert [row.username for row in await user_store.list_users(conn, prefix="al_", after=None, limit=10)] == ["al_x"]
        first = await user_store.list_users(conn, prefix=None, after=None, limit=2)
        rest = await user_store.list_users(conn, prefix=None, after=first[-1].id, limit=10)
        assert [row.username for row in first + rest] == ["alice", "bob", "al_x", "alfred"]


async def test_one_direct_conversation_per_pair_even_when_racing(engine, two_users):
    alice, bob = two_users

    async def open_it(a, b):
        async with engine.begin() as conn:
            row, created = await conversation_store.get_or_create_direct(conn, a, b)
            return row.id, created

    results = await asyncio.gather(open_it(alice, bob), open_it(bob, alice), open_it(alice, bob))
    assert len({conversation_id for conversation_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    async with engine.connect() as conn:
        assert await conversation_store.member_ids(conn, results[0][0]) == sorted([alice, bob])


async def test_concurrent_appends_get_gapless_seqs(engine, two_users):
    alice, bob = two_users
    async with engine.begin() as conn:
        conversation, _ = await conversation_store.get_or_create_direct(conn, alice, bob)
    rows = await asyncio.gather(*(send(engine, conversation.id, (alice, bob)[i % 2], f"m{i}") for i in range(30)))
    assert sorted(row["seq"] for row in rows) == list(range(1, 31))
    async with engine.connect() as conn:
        stored = await conversation_store.get_conversation(conn, conversation.id)
        assert stored.last_seq == 30


async def test_a_rolled_back_append_leaves_no_gap(engine, two_users):
    alice, bob = two_users
    async with engine.begin() as conn:
        conversation, _ = await conversation_store.get_or_create_direct(conn, alice, bob)
    await send(engine, conversation.id, alice, "first", client_msg_id="dup")
    with pytest.raises(IntegrityError):
        await send(engine, conversation.id, alice, "duplicate client id", client_msg_id="dup")
    second = await send(engine, conversation.id, alice, "second")
    assert second["seq"] == 2


async def test_paging_by_seq(engine, two_users):
    alice, bob = two_users
    async with engine.begin() as conn:
        conversation, _ = await conversation_store.get_or_create_direct(conn, alice, bob)
    for i in range(10):
        await send(engine, conversation.id, alice, f"m{i + 1}")
    async with engine.connect() as conn:
        newest = await message_store.page(conn, conversation.id, before=None, after=None, limit=4)
        below = await message_store.page(conn, conversation.id, before=newest[0].seq, after=None, limit=4)
        after = await message_store.page(conn, conversation.id, before=None, after=8, limit=4)
    assert [r.seq for r in newest] == [7, 8, 9, 10]
    assert [r.seq for r in below] == [3, 4, 5, 6]
    assert [r.seq for r in after] == [9, 10]


async def test_unread_count_formula(engine, two_users):
    alice, bob = two_users
    async with engine.begin() as conn:
        conversation, _ = await conversation_store.get_or_create_direct(conn, alice, bob)
    sent = [await send(engine, conversation.id, alice, f"to bob {i}") for i in range(4)]
    await send(engine, conversation.id, bob, "bob's own")  # moves bob's marker to 5
    await send(engine, conversation.id, alice, "after bob spoke")
    async with engine.begin() as conn:
        assert await conversation_store.unread_count(conn, conversation.id, bob) == 1
        assert await conversation_store.unread_count(conn, conversation.id, alice) == 0
        await conversation_store.advance_read_marker(conn, conversation.id, bob, 0)
    # A recall of a message past bob's marker lowers his count; one before it changes nothing.
    async with engine.begin() as conn:
        last = await message_store.last_message(conn, conversation.id, 6)
        await message_store.mark_recalled(conn, last.id, 1)
        await message_store.mark_recalled(conn, sent[0]["id"], 2)
        assert await conversation_store.unread_count(conn, conversation.id, bob) == 0
        listed = {row.id: row.unread_count for row in await conversation_store.list_for_user(conn, bob)}
        assert listed == {conversation.id: 0}
        statuses = [row.status for row in (await conn.execute(select(messages.c.status).order_by(messages.c.seq))).all()]
        assert statuses.count(STATUS_RECALLED) == 2


async def test_read_marker_never_moves_back(engine, two_users):
    alice, bob = two_users
    async with engine.begin() as conn:
        conversation, _ = await conversation_store.get_or_create_direct(conn, alice, bob)
    for i in range(3):
        await send(engine, conversation.id, alice, f"m{i}")
    async with engine.begin() as conn:
        assert await conversation_store.advance_read_marker(conn, conversation.id, bob, 2) == 2
        assert await conversation_store.advance_read_marker(conn, conversation.id, bob, 1) == 2
        await message_store.mark_direct_read(conn, conversation.id, bob, 2)
        rows = (await conn.execute(select(messages.c.seq, messages.c.status).order_by(messages.c.seq))).all()
    assert [tuple(row) for row in rows] == [(1, 2), (2, 2), (3, 1)]


async def test_group_membership_and_partners(engine, two_users):
    alice, bob = two_users
    async with engine.begin() as conn:
        carol = (await user_store.insert_user(conn, username="carol", email="c@example.com", password_hash="x", nickname=None)).id
        group = await conversation_store.create_group(conn, owner_id=alice, name="trio", member_ids=[bob, carol])
        assert await conversation_store.member_ids(conn, group.id) == sorted([alice, bob, carol])
        await conversation_store.get_or_create_direct(conn, alice, bob)
        partners = await conversation_store.presence_audiences(conn, [alice, carol])
        # alice shares the group and a direct conversation with bob: named once.
        assert {user: sorted(them) for user, them in partners.items()} == {alice: sorted([bob, carol]), carol: sorted([alice, bob])}
        # Whom carol blocked does not hear of her; bob still hears of alice, whom he blocked not.
        await block_store.block(conn, carol, bob)
        partners = await conversation_store.presence_audiences(conn, [alice, carol])
        assert {user: sorted(them) for user, them in partners.items()} == {alice: sorted([bob, carol]), carol: [alice]}
        assert await conversation_store.remove_member(conn, group.id, carol)
        assert await conversation_store.presence_audiences(conn, [carol]) == {}
        assert await conversation_store.get_membership(conn, group.id, carol) is None
        await conversation_store.delete_conversation(conn, group.id)
        assert await conversation_store.get_conversation(conn, group.id) is None


async def make_group(engine, owner, members, name="g"):
    async with engine.begin() as conn:
        return await conversation_store.create_group(conn, owner_id=owner, name=name, member_ids=members)


async def test_append_batch_assigns_seqs_in_batch_order_per_conversation(engine, two_users):
    alice, bob = two_users
    async with engine.begin() as conn:
        direct, _ = await conversation_store.get_or_create_direct(conn, alice, bob)
    group = await make_group(engine, alice, [bob])
    await send(engine, group.id, bob, "before the batch")
    batch = [
        NewMessage(direct.id, alice, None, "d1", 1, None),
        NewMessage(group.id, alice, None, "g2", 1, "cid-1"),
        NewMessage(direct.id, bob, None, "d2", 1, None),
        NewMessage(group.id, bob, None, "g3", 1, None),
        NewMessage(direct.id, alice, None, "d3", 1, None),
    ]
    async with engine.connect() as conn:
        appended = (await message_batch.append_batch(conn, batch)).appended
    assert [(a.row["conversation_id"], a.row["seq"], a.row["content"]) for a in appended] == [
        (direct.id, 1, "d1"), (group.id, 2, "g2"), (direct.id, 2, "d2"), (group.id, 3, "g3"), (direct.id, 3, "d3")
    ]
    assert [a.row["receiver_id"] for a in appended] == [bob, None, alice, None, bob]
    # bob's marker in the group was 1 (his own message) when his batch message came in.
    assert appended[3].previous_read_seq == 1
    async with engine.connect() as conn:
        for a in appended:
            stored = await message_store.get_message(conn, a.row["id"])
            assert (stored.conversation_id, stored.seq, stored.content) == (a.row["conversation_id"], a.row["seq"], a.row["content"])
        assert (await conversation_store.get_conversation(conn, direct.id)).last_seq == 3
        assert (await conversation_store.get_membership(conn, direct.id, alice)).last_read_seq == 3
        assert (await conversation_store.get_membership(conn, direct.id, bob)).last_read_seq == 2
        assert (await conversation_store.get_membership(conn, group.id, alice)).last_read_seq == 2
        assert (await message_store.find_by_client_msg_id(conn, alice, "cid-1")).seq == 2


async def test_append_batch_refuses_non_members_before_writing(engine, two_users):
    alice, bob = two_users
    async with engine.begin() as conn:
        carol = (await user_store.insert_user(conn, username="carol", email="c@example.com", password_hash="x", nickname=None)).id
    group = await make_group(engine, alice, [bob])
    with pytest.raises(message_batch.Refused) as refused:
        async with engine.connect() as conn:
            await message_batch.append_batch(conn, [NewMessage(group.id, alice, None, "ok", 1, None), NewMessage(group.id, carol, None, "no", 1, None)])
    assert (refused.value.strangers, refused.value.blocked) == ({(group.id, carol)}, set())
    async with engine.connect() as conn:
        assert (await conversation_store.get_conversation(conn, group.id)).last_seq == 0
        assert (await conn.execute(select(messages.c.id))).first() is None


async def test_append_batch_refuses_a_sender_blocked_by_the_direct_peer_before_writing(engine, two_users):
    """Read under the conversation's lock like membership: the blocked sender's message is
    refused, nothing of the batch is written; the blocker may still write, and a group is not
    affected by a block."""
    alice, bob = two_users
    async with engine.begin() as conn:
        direct, _ = await conversation_store.get_or_create_direct(conn, alice, bob)
        await block_store.block(conn, bob, alice)
    group = await make_group(engine, alice, [bob])
    batch = [NewMessage(group.id, alice, None, "group", 1, None), NewMessage(direct.id, bob, None, "from the blocker", 1, None)]
    with pytest.raises(message_batch.Refused) as refused:
        async with engine.connect() as conn:
            await message_batch.append_batch(conn, [*batch, NewMessage(direct.id, alice, None, "blocked", 1, None)])
    assert (refused.value.strangers, refused.value.blocked) == (set(), {(direct.id, alice)})
    async with engine.connect() as conn:
        assert (await conn.execute(select(messages.c.id))).first() is None
    async with engine.connect() as conn:
        written = await message_batch.append_batch(conn, batch)
    assert [a.row["content"] for a in written.appended] == ["group", "from the blocker"]


async def test_batches_and_single_appends_interleave_without_gaps(engine, two_users):
    alice, bob = two_users
    group = await make_group(engine, alice, [bob])

    async def batch(n):
        async with engine.connect() as conn:
            await message_batch.append_batch(conn, [NewMessage(group.id, (alice, bob)[i % 2], None, f"b{n}-{i}", 1, None) for i in range(5)])

    await asyncio.gather(*(batch(n) for n in range(4)), *(send(engine, group.id, alice, f"s{i}") for i in range(6)))
    async with engine.connect() as conn:
        seqs = [row.seq for row in (await conn.execute(select(messages.c.seq).order_by(messages.c.seq))).all()]
    assert seqs == list(range(1, 27))


async def test_append_batch_reads_the_peers_messages_a_reply_passes(engine, two_users):
    """Seed 000: a direct reply makes the peer's unread messages read; only the first reply
    past them says so (the peer hears `message.read` once). A group's members come back."""
    alice, bob = two_users
    async with engine.begin() as conn:
        direct, _ = await conversation_store.get_or_create_direct(conn, alice, bob)
    group = await make_group(engine, alice, [bob])
    await send(engine, direct.id, bob, "hello?")
    batch = [
        NewMessage(direct.id, bob, None, "anyone?", 1, None),
        NewMessage(direct.id, alice, None, "yes", 1, None),
        NewMessage(direct.id, alice, None, "here", 1, None),
        NewMessage(group.id, bob, None, "group", 1, None),
        NewMessage(direct.id, bob, None, "good", 1, None),
    ]
    async with engine.connect() as conn:
        committed = await message_batch.append_batch(conn, batch)
    assert [a.read_peer_messages for a in committed.appended] == [False, True, False, False, True]
    assert [a.previous_read_seq for a in committed.appended] == [1, 0, 3, 0, 2]
    assert {key: sorted(value) for key, value in committed.members.items()} == {group.id: sorted([alice, bob])}
    async with engine.connect() as conn:
        statuses = dict((await conn.execute(select(messages.c.seq, messages.c.status).where(messages.c.conversation_id == direct.id))).all())
    assert statuses == {1: STATUS_READ, 2: STATUS_READ, 3: STATUS_READ, 4: STATUS_READ, 5: STATUS_UNREAD}


NASTY_CONTENTS = [
    'quotes " and \' and `backticks`',
    "back\\slash \\\\ and \\n written out",
    "line\nbreaks\r\nand\ttabs",
    "emoji 😀👍🏽 and CJK 你好 and é",
    "json-looking [1, null, \"x\"] {\"a\": 1}",
    "NUL \x00 and \u2028 separators \u2029",
    "%s %(name)s :name ? placeholders",
    "x" * 4000,
]


async def test_append_batch_stores_content_and_nullable_columns_exactly(engine, two_users):
    """The batch travels as JSON through the database: nothing may be altered on the way."""
    alice, bob = two_users
    async with engine.begin() as conn:
        direct, _ = await conversation_store.get_or_create_direct(conn, alice, bob)
    group = await make_group(engine, alice, [bob])
    batch = [
        NewMessage(direct.id if i % 2 else group.id, alice, None, content, 1, f"cid-{i}" if i % 3 else None)
        for i, content in enumerate(NASTY_CONTENTS)
    ]
    async with engine.connect() as conn:
        appended = (await message_batch.append_batch(conn, batch)).appended
    async with engine.connect() as conn:
        for new, done in zip(batch, appended):
            stored = await message_store.get_message(conn, done.row["id"])
            assert stored.content == new.content
            assert stored.client_msg_id == new.client_msg_id
            assert stored.receiver_id == (bob if new.conversation_id == direct.id else None)
            assert (stored.conversation_id, stored.seq, stored.created_at) == (done.row["conversation_id"], done.row["seq"], done.row["created_at"])


async def test_append_batch_refuses_a_conversation_that_is_gone(engine, two_users):
    alice, bob = two_users
    group = await make_group(engine, alice, [bob])
    async with engine.begin() as conn:
        await conversation_store.delete_conversation(conn, group.id)
    with pytest.raises(message_batch.Refused) as refused:
        async with engine.connect() as conn:
            await message_batch.append_batch(conn, [NewMessage(group.id, alice, None, "anyone?", 1, None)])
    assert (refused.value.strangers, refused.value.blocked) == ({(group.id, alice)}, set())


async def test_batches_of_one_message_store_what_a_batch_of_them_would(engine, two_users):
    """On MySQL a batch of one message has a procedure of its own (storage.procedures.APPEND_ONE):
    one message at a time, the reply past the peer's messages, the markers, the members, the
    receiver and the contents come out as test_append_batch_reads_the_peers_messages_a_reply_passes
    and test_append_batch_stores_content_and_nullable_columns_exactly have them for one batch."""
    alice, bob = two_users
    async with engine.begin() as conn:
        direct, _ = await conversation_store.get_or_create_direct(conn, alice, bob)
    group = await make_group(engine, alice, [bob])
    await send(engine, direct.id, bob, "hello?")
    singles = [
        NewMessage(direct.id, bob, None, "anyone?", 1, None),
        NewMessage(direct.id, alice, None, "yes", 1, "cid-yes"),
        NewMessage(direct.id, alice, None, "here", 1, None),
        NewMessage(group.id, bob, None, "group", 1, None),
        NewMessage(direct.id, bob, None, "good", 1, None),
    ]
    committed = []
    for new in singles:
        async with engine.connect() as conn:
            committed.append(await message_batch.append_batch(conn, [new]))
    appended = [c.appended[0] for c in committed]
    assert [(a.row["conversation_id"], a.row["seq"]) for a in appended] == [(direct.id, 2), (direct.id, 3), (direct.id, 4), (group.id, 1), (direct.id, 5)]
    assert [a.row["receiver_id"] for a in appended] == [alice, bob, bob, None, alice]
    assert [a.read_peer_messages for a in appended] == [False, True, False, False, True]
    assert [a.previous_read_seq for a in appended] == [1, 0, 3, 0, 2]
    assert [a.conversation.type for a in appended] == [1, 1, 1, 2, 1]
    assert [{key: sorted(value) for key, value in c.members.items()} for c in committed] == [{}, {}, {}, {group.id: sorted([alice, bob])}, {}]
    async with engine.connect() as conn:
        statuses = dict((await conn.execute(select(messages.c.seq, messages.c.status).where(messages.c.conversation_id == direct.id))).all())
        assert statuses == {1: STATUS_READ, 2: STATUS_READ, 3: STATUS_READ, 4: STATUS_READ, 5: STATUS_UNREAD}
        assert (await conversation_store.get_membership(conn, direct.id, alice)).last_read_seq == 4
        assert (await conversation_store.get_membership(conn, direct.id, bob)).last_read_seq == 5
        assert (await message_store.find_by_client_msg_id(conn, alice, "cid-yes")).id == appended[1].row["id"]
    nasty = [NewMessage(group.id, alice, None, content, 1, f"nasty-{i}" if i % 2 else None) for i, content in enumerate(NASTY_CONTENTS)]
    done = []
    for new in nasty:
        async with engine.connect() as conn:
            done.append((await message_batch.append_batch(conn, [new])).appended[0])
    async with engine.connect() as conn:
        for new, one in zip(nasty, done):
            stored = await message_store.get_message(conn, one.row["id"])
            assert (stored.content, stored.client_msg_id, stored.seq) == (new.content, new.client_msg_id, one.row["seq"])


async def test_a_batch_of_one_message_is_refused_as_a_batch_is(engine, two_users):
    """A stranger, a blocked sender and a conversation that is gone: refused, nothing written,
    the conversation's seq untouched."""
    alice, bob = two_users
    async with engine.begin() as conn:
        carol = (await user_store.insert_user(conn, username="carol", email="c@example.com", password_hash="x", nickname=None)).id
        direct, _ = await conversation_store.get_or_create_direct(conn, alice, bob)
        await block_store.block(conn, bob, alice)
    group = await make_group(engine, alice, [bob])
    gone = await make_group(engine, alice, [bob])
    async with engine.begin() as conn:
        await conversation_store.delete_conversation(conn, gone.id)
    for new, strangers, blocked in [
        (NewMessage(group.id, carol, None, "no", 1, None), {(group.id, carol)}, set()),
        (NewMessage(direct.id, alice, None, "blocked", 1, None), set(), {(direct.id, alice)}),
        (NewMessage(gone.id, alice, None, "anyone?", 1, None), {(gone.id, alice)}, set()),
    ]:
        with pytest.raises(message_batch.Refused) as refused:
            async with engine.connect() as conn:
                await message_batch.append_batch(conn, [new])
        assert (refused.value.strangers, refused.value.blocked) == (strangers, blocked)
    async with engine.connect() as conn:
        assert (await conn.execute(select(messages.c.id))).first() is None
        assert (await conversation_store.get_conversation(conn, group.id)).last_seq == 0
        assert (await conversation_store.get_conversation(conn, direct.id)).last_seq == 0


async def test_append_batch_raises_a_lost_connection_as_sqlalchemys_error(engine, two_mysql_users):
    """The MySQL batch runs on the driver's connection; its errors must still be SQLAlchemy's,
    which the server answers as 503 and the writer tells apart from a duplicate."""
    alice, bob = two_mysql_users
    async with engine.begin() as conn:
        direct, _ = await conversation_store.get_or_create_direct(conn, alice, bob)
    with pytest.raises(OperationalError):
        async with engine.connect() as conn:
            own_id = await conn.scalar(text("SELECT CONNECTION_ID()"))
            async with engine.connect() as killer:
                await killer.execute(text(f"KILL CONNECTION {int(own_id)}"))
            await message_batch.append_batch(conn, [NewMessage(direct.id, alice, None, "into the void", 1, None)])
    async with engine.connect() as conn:
        appended = (await message_batch.append_batch(conn, [NewMessage(direct.id, alice, None, "after", 1, None)])).appended
    assert appended[0].row["seq"] == 1


async def test_a_failed_batch_names_its_procedure_and_not_the_messages(engine, two_mysql_users):
    """The messages travel inside the CALL's text (as hex); an error, which may be logged, shows
    the procedure's name and not what the users wrote."""
    alice, bob = two_mysql_users
    async with engine.begin() as conn:
        direct, _ = await conversation_store.get_or_create_direct(conn, alice, bob)
    async with engine.connect() as conn:
        await message_batch.append_batch(conn, [NewMessage(direct.id, alice, bob, "first", 1, "twice")])
    for batch in (
        [NewMessage(direct.id, alice, bob, "private words", 1, "once"), NewMessage(direct.id, alice, bob, "private too", 1, "twice")],
        [NewMessage(direct.id, alice, bob, "private words", 1, "twice")],
    ):
        with pytest.raises(IntegrityError) as raised:
            async with engine.connect() as conn:
                await message_batch.append_batch(conn, batch)
        shown = str(raised.value)
        assert "CALL hubbub_append_" in shown and "private" not in shown and "private".encode().hex() not in shown, shown


async def test_a_connection_returned_with_an_open_transaction_is_rolled_back(engine, two_mysql_users):
    """SQLAlchemy rolls back the transactions it knows of; the pool no longer sends a ROLLBACK
    after every commit, but must still roll back one it does not know of: here a write on the
    driver's connection (as the group commit makes) after SQLAlchemy's transaction ended."""
    alice, bob = two_mysql_users
    async with engine.connect() as conn:
        await conn.commit()
        driver = (await conn.get_raw_connection()).driver_connection
        async with driver.cursor() as cursor:
            await cursor.execute("UPDATE users SET nickname = 'uncommitted' WHERE id = %s", (alice,))
        assert driver.get_transaction_status()
    assert not driver.get_transaction_status()
    async with engine.connect() as conn:
        assert (await conn.execute(select(users.c.nickname).where(users.c.id == alice))).scalar_one() == "Al"
