"""Message search (issue 14 part 5): GET /api/search over the caller's conversations only, none
recalled, edits re-indexed, CJK and short words, newest first in pages without gaps or
duplicates, a plain-text snippet per hit; on MariaDB and SQLite."""

import asyncio
import json

import aiohttp
import pytest
from sqlalchemy import func, select

from migrations import upgrade
from server.keys import DB, SERVICES
from storage import search as search_store
from storage.engine import create_engine
from storage.search_terms import index_terms, query_terms
from storage.tables import message_search
from tests.chat import online, take


@pytest.fixture(params=[2000, 10, 1], ids=lambda window: f"window{window}")
def window(request, monkeypatch) -> int:
    """On MySQL/MariaDB a search reads the caller's newest messages before the FULLTEXT index
    (storage.search.RECENT_WINDOW): 1 sends every search to the index, 10 mixes both."""
    monkeypatch.setattr(search_store, "RECENT_WINDOW", request.param)
    return request.param


async def search(user, q: str, **params) -> dict:
    """After the terms of everything sent so far are written: just after each commit
    (handlers.services.search_indexer; test_a_burst_over_sockets_is_found_soon measures it)."""
    await user.client.server.app[SERVICES].search_indexer.settled()
    return await user.ok("GET", "/api/search", params={"q": q, **{k: str(v) for k, v in params.items()}})


async def found(user, q: str, **params) -> list[str]:
    """The contents of the hits, newest first (a file message: its file's name)."""
    page = await search(user, q, **params)
    return ["".join(part["text"] for part in hit["snippet"]) for hit in page["hits"]]


async def group(owner, name: str, *members) -> int:
    return (await owner.ok("POST", "/api/conversations", json={"type": "group", "name": name, "member_ids": [m.id for m in members]}))["id"]


async def post(user, conversation_id: int, content: str) -> dict:
    return await user.ok("POST", f"/api/conversations/{conversation_id}/messages", json={"content": content})


async def test_only_the_callers_conversations_and_never_after_leaving(backend, window, users):
    alice, bob, carol = [await users.make(name) for name in ("alice", "bob", "carol")]
    direct = await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": "apple pie for bob"})
    shared = await group(alice, "fruit", carol)
    in_group = await post(carol, shared, "Apple crumble in the group")
    await bob.ok("POST", "/api/messages", json={"receiver_id": carol.id, "content": "apple juice between bob and carol"})
    assert await found(alice, "apple") == ["Apple crumble in the group", "apple pie for bob"]
    assert await found(bob, "APPLE") == ["apple juice between bob and carol", "apple pie for bob"]
    assert await found(carol, "apple") == ["apple juice between bob and carol", "Apple crumble in the group"]
    page = await search(alice, "apple", conversation_id=shared)
    assert [hit["message"]["id"] for hit in page["hits"]] == [in_group["id"]] and page["next_before"] is None
    assert page["hits"][0]["message"] == (await alice.ok("GET", f"/api/conversations/{shared}/messages"))[0]
    # Someone else's conversation is no one's business: 404 as everywhere.
    status, body = await bob.call("GET", "/api/search", params={"q": "apple", "conversation_id": str(shared)})
    assert (status, body["code"], body["message"]) == (404, 404, "no such conversation")
    # Carol leaves: the group's messages are no longer hers to find, even the ones she wrote.
    await carol.ok("DELETE", f"/api/conversations/{shared}/members/{carol.id}")
    assert await found(carol, "apple") == ["apple juice between bob and carol"]
    assert await found(carol, "crumble") == []
    assert (await carol.call("GET", "/api/search", params={"q": "apple", "conversation_id": str(shared)}))[0] == 404
    # Removed by the owner is the same.
    dave = await users.make("dave")
    other = await group(alice, "other", dave)
    await post(alice, other, "apple tart")
    assert await found(dave, "tart") == ["apple tart"]
    await alice.ok("DELETE", f"/api/conversations/{other}/members/{dave.id}")
    assert await found(dave, "tart") == []
    assert direct["id"] < in_group["id"]


async def test_recalled_messages_never_match_and_edits_are_reindexed(backend, window, users, client):
    alice, bob = [await users.make(name) for name in ("alice", "bob")]
    gone = await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": "secret orange plan"})
    kept = await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": "public orange plan"})
    await alice.ok("POST", f"/api/messages/{gone['id']}/recall")
    assert await found(bob, "orange") == ["public orange plan"]
    assert await found(bob, "secret") == []
    edited = await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": "banana split"})
    await alice.ok("PATCH", f"/api/messages/{edited['id']}", json={"content": "cherry split"})
    assert await found(bob, "banana") == []
    assert await found(bob, "cherry") == ["cherry split"]
    assert await found(bob, "split") == ["cherry split"]
    # An edit to nothing searchable takes the message out of the index; one back puts it in.
    await alice.ok("PATCH", f"/api/messages/{edited['id']}", json={"content": "🍒🍒"})
    assert await found(bob, "cherry") == []
    await alice.ok("PATCH", f"/api/messages/{edited['id']}", json={"content": "cherry again"})
    assert await found(bob, "cherry") == ["cherry again"]
    async with client.server.app[DB].connect() as conn:
        indexed = set(await conn.scalars(select(message_search.c.message_id)))
    assert gone["id"] not in indexed and {kept["id"], edited["id"]} <= indexed


async def test_cjk_short_words_stopwords_and_file_names(backend, window, users):
    alice, bob = [await users.make(name) for name in ("alice", "bob")]
    for content in ("我喜欢吃猫粮", "猫", "東京タワーに行きたい", "서울에 가고 싶어요", "it is a go to B plan", "Ünïcode CAFÉ naïve"):
        await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": content})
    assert await found(bob, "猫粮") == ["我喜欢吃猫粮"]
    assert await found(bob, "喜欢吃") == ["我喜欢吃猫粮"]
    assert await found(bob, "猫") == ["猫", "我喜欢吃猫粮"]
    assert await found(bob, "粮猫") == []
    assert await found(bob, "タワー") == ["東京タワーに行きたい"]
    assert await found(bob, "東京 行き") == ["東京タワーに行きたい"]
    assert await found(bob, "서울에") == ["서울에 가고 싶어요"]
    # InnoDB would drop these: shorter than 3 characters, or on its stopword list.
    for word in ("a", "b", "it", "is", "to", "go"):
        assert await found(bob, word) == ["it is a go to B plan"], word
    assert await found(bob, "plan go a") == ["it is a go to B plan"]
    assert await found(bob, "plans") == []
    assert await found(bob, "café") == ["Ünïcode CAFÉ naïve"]
    assert await found(bob, "ÜNÏCODE") == ["Ünïcode CAFÉ naïve"]
    # A file message is found by its file's name.
    body = aiohttp.FormData()
    body.add_field("file", b"%PDF-1.4 quarterly", filename="Quarterly_Report 2026.pdf", content_type="application/pdf")
    file = (await alice.call("POST", "/api/files", data=body))[1]["data"]
    sent = await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": json.dumps({"file_id": file["id"]}), "msg_type": 3})
    page = await search(bob, "quarterly report")
    assert [hit["message"]["id"] for hit in page["hits"]] == [sent["id"]]
    assert page["hits"][0]["snippet"] == [
        {"text": "Quarterly", "match": True},
        {"text": "_", "match": False},
        {"text": "Report", "match": True},
        {"text": " 2026.pdf", "match": False},
    ]


async def test_pages_newest_first_without_gaps_or_duplicates(backend, window, users):
    alice, bob, carol = [await users.make(name) for name in ("alice", "bob", "carol")]
    first = await group(alice, "one", bob, carol)
    second = await group(bob, "two", alice)
    # A burst on a socket goes through the group commit; an '@' or a reply is written alone.
    socket = await alice.connect()
    frames = [await socket.send("send_message", {"conversation_id": first, "content": f"kiwi number {i}"}) for i in range(15)]
    replies = [await socket.reply() for _ in frames]
    assert all(reply["code"] == 201 for reply in replies)
    sent = [reply["data"]["id"] for reply in replies]
    for i in range(6):
        sent.append((await post(bob, second, f"@alice kiwi {i}"))["id"])
        sent.append((await post(bob, first, f"no fruit {i}"))["id"])
    quoted = await alice.ok("POST", f"/api/conversations/{first}/messages", json={"content": "kiwi reply", "reply_to": sent[0]})
    expected = sorted([*sent[:15], *sent[15::2], quoted["id"]], reverse=True)
    pages, before = [], None
    while True:
        page = await search(alice, "kiwi", limit=7, **({"before": before} if before is not None else {}))
        pages.append([hit["message"]["id"] for hit in page["hits"]])
        before = page["next_before"]
        if before is None:
            break
        assert before == pages[-1][-1]
    assert [len(p) for p in pages] == [7, 7, 7, 1]
    assert [i for p in pages for i in p] == expected
    # Carol sees the first group's kiwis only.
    assert len((await search(carol, "kiwi", limit=50))["hits"]) == 16


async def test_the_snippet_is_plain_text_around_the_first_match(backend, users):
    alice, bob = [await users.make(name) for name in ("alice", "bob")]
    long_text = "filler " * 30 + "the <b>Needle</b> & more needle, and then " + "tail " * 40
    await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": long_text})
    (hit,) = (await search(bob, "needle"))["hits"]
    parts = hit["snippet"]
    text = "".join(part["text"] for part in parts)
    assert text.startswith("…") and text.endswith("…") and len(text) <= 122
    assert text[1:-1] in long_text
    assert [part["text"] for part in parts if part["match"]] == ["Needle", "needle"]
    # Markup is text like any other: the client shows it, never renders it.
    assert "<b>" in text and "</b> & more " in text
    assert hit["message"]["content"] == long_text
    short = await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": "猫咪很可爱, cats are cute"})
    (hit,) = (await search(bob, "可爱 CATS"))["hits"]
    assert hit["message"]["id"] == short["id"]
    assert hit["snippet"] == [
        {"text": "猫咪很", "match": False},
        {"text": "可爱", "match": True},
        {"text": ", ", "match": False},
        {"text": "cats", "match": True},
        {"text": " are cute", "match": False},
    ]


async def test_bad_parameters_are_422_in_the_envelope(users):
    alice = await users.make("alice")
    for params in (
        {},
        {"q": ""},
        {"q": "x" * 257},
        {"q": "!!! ?? 🍒"},
        {"q": "".join(chr(0x4E00 + i) for i in range(40))},
        {"q": "a", "limit": "0"},
        {"q": "a", "limit": "51"},
        {"q": "a", "limit": "ten"},
        {"q": "a", "limit": "1.0"},
        {"q": "a", "before": "0"},
        {"q": "a", "before": "-5"},
        {"q": "a", "conversation_id": "x"},
        {"q": "a", "sort": "oldest"},
    ):
        status, body = await alice.call("GET", "/api/search", params=params)
        assert status == 422, (params, body)
        assert body["code"] == 422 and body["message"] == "validation failed" and body["data"]["errors"], body
    status, body = await alice.call("GET", "/api/search", params={"q": "a", "conversation_id": "987654"})
    assert (status, body["code"]) == (404, 404)
    response = await alice.client.get("/api/search", params={"q": "a"})
    assert response.status == 401
    assert await found(alice, "nothing") == []


async def test_deleting_a_group_deletes_its_search_terms(backend, users, client):
    alice, bob = [await users.make(name) for name in ("alice", "bob")]
    doomed = await group(alice, "doomed", bob)
    await post(alice, doomed, "plum one")
    await post(alice, doomed, "plum two")
    await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": "plum elsewhere"})
    await alice.ok("DELETE", f"/api/conversations/{doomed}")
    assert await found(bob, "plum") == ["plum elsewhere"]
    async with client.server.app[DB].connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(message_search)) == 1


async def test_search_reads_messages_in_one_query_per_page(client, users):
    """The hits, their reactions, quotes and mentions: a fixed number of statements per page."""
    from sqlalchemy import event

    alice, bob = [await users.make(name) for name in ("alice", "bob")]
    for i in range(12):
        await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": f"@bob grape {i}"})
    await client.server.app[SERVICES].search_indexer.settled()  # its writes are not the search's
    statements = []
    engine = client.server.app[DB].sync_engine

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        page = await search(bob, "grape", limit=10)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(page["hits"]) == 10 and page["next_before"] == page["hits"][-1]["message"]["id"]
    assert all(hit["message"]["mentions"] == [bob.id] for hit in page["hits"])
    assert len([s for s in statements if "message_search" in s]) == 1
    assert len(statements) <= 6, statements


def test_terms_pass_every_engines_tokenizer_unchanged():
    """ASCII letters and digits, 3 to 84 characters: InnoDB's parser neither splits nor drops
    them (no stopword starts with "q"), FTS5's ascii tokenizer keeps them whole."""
    text = "A to it the Über-long " + "x" * 100 + " 東京タワー 猫 " + "é" * 60 + " 42 ﬁne ＡＢＣ"
    terms = index_terms(text).split()
    assert all(term.isascii() and term.isalnum() and term.islower() and 3 <= len(term) <= 84 for term in terms), terms
    assert terms[:4] == ["qwa", "qwto", "qwit", "qwthe"]
    assert "qwfine" in terms and "qwabc" in terms and "qw42" in terms
    assert len(terms) == len(set(terms))
    # A CJK query of several characters needs its pairs, one character its unigram.
    assert set(query_terms("東京タワー")) <= set(terms) and set(query_terms("猫")) <= set(terms)
    assert query_terms("?!") == [] and query_terms("Hello hello") == ["qwhello"]


async def test_the_migration_indexes_the_messages_already_stored(backend, database_url):
    """Upgrading a database with messages in it makes them searchable, recalled ones aside."""
    await asyncio.to_thread(upgrade, database_url, "0011")
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(
                "INSERT INTO users (id, username, email, password_hash, created_at, updated_at) "
                "VALUES (1, 'ann', 'ann@example.com', 'x', '2026-01-01', '2026-01-01')"
            )
            await conn.exec_driver_sql(
                "INSERT INTO conversations (id, type, name, owner_id, last_seq, created_at, updated_at) VALUES (1, 2, 'g', 1, 3, '2026-01-01', '2026-01-01')"
            )
            await conn.exec_driver_sql("INSERT INTO conversation_members (conversation_id, user_id, role, last_read_seq, joined_at) VALUES (1, 1, 2, 3, '2026-01-01')")
            for seq, (content, status) in enumerate([("old lemon", 1), ("recalled lemon", 3), ("检索 lemon", 2)], start=1):
                await conn.exec_driver_sql(
                    "INSERT INTO messages (id, sender_id, content, msg_type, status, created_at, conversation_id, seq) "
                    f"VALUES ({seq}, 1, '{content}', 1, {status}, '2026-01-01', 1, {seq})"
                )
        await engine.dispose()
        await asyncio.to_thread(upgrade, database_url)
        engine = create_engine(database_url)
        async with engine.connect() as conn:
            lemons = await search_store.find(conn, 1, query_terms("lemon"), conversation_id=None, before=None, limit=10)
            assert [row.id for row in lemons] == [3, 1]
            assert [row.id for row in await search_store.find(conn, 1, query_terms("检索"), conversation_id=1, before=None, limit=10)] == [3]
            assert await conn.scalar(select(func.count()).select_from(message_search)) == 2
    finally:
        await engine.dispose()


async def test_a_burst_over_sockets_is_found_soon(backend, users):
    """Messages of the group commit are searchable shortly after their sender has the reply
    (PROTOCOL §3: the terms are written after the commit), without waiting on the indexer."""
    alice, bob = [await users.make(name) for name in ("alice", "bob")]
    (watcher,) = await online(bob, 1)
    socket = await alice.connect()
    frames = [await socket.send("send_message", {"receiver_id": bob.id, "content": f"melon {i} 西瓜"}) for i in range(30)]
    replies = [await socket.reply() for _ in frames]
    assert all(reply["code"] == 201 for reply in replies)
    params = {"q": "西瓜 melon", "limit": "50"}
    for _ in range(100):
        if len((await bob.ok("GET", "/api/search", params=params))["hits"]) == 30:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the burst is not searchable a second after its replies")
    assert len(await take(watcher, "message.new")) == 30


async def test_a_member_of_many_conversations_gets_the_same_answers(backend, window, users, monkeypatch):
    """Past SCOPED_CONVERSATIONS_MAX conversations the full-text query names none of them and
    the membership join alone decides: the same hits, still none of a conversation left."""
    alice, bob, carol = [await users.make(name) for name in ("alice", "bob", "carol")]
    first = await group(alice, "one", bob)
    second = await group(carol, "two", alice)
    await group(carol, "not alice's", bob)
    await post(bob, first, "mango one")
    await post(carol, second, "mango two")
    await carol.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": "mango three"})
    scoped = await found(alice, "mango")
    monkeypatch.setattr(search_store, "SCOPED_CONVERSATIONS_MAX", 1)
    assert await found(alice, "mango") == scoped == ["mango two", "mango one"]
    assert await found(alice, "mango", conversation_id=first) == ["mango one"]
    await alice.ok("DELETE", f"/api/conversations/{second}/members/{alice.id}")
    assert await found(alice, "mango") == ["mango one"]


async def test_a_common_word_beside_a_rare_one(backend, window, users):
    """On MySQL/MariaDB a word common among the caller's newest messages is checked on what
    the index finds for the rarer ones (storage.search._split_common): the same answers."""
    alice, bob = [await users.make(name) for name in ("alice", "bob")]
    shared = await group(alice, "g", bob)
    await post(alice, shared, "a rare pear, and common")
    await post(alice, shared, "a pear alone")
    for i in range(15):
        await post(alice, shared, f"common {i}")
    assert await found(bob, "common pear") == ["a rare pear, and common"]
    assert await found(bob, "pear COMMON rare") == ["a rare pear, and common"]
    assert await found(bob, "pear") == ["a pear alone", "a rare pear, and common"]
    assert len(await found(bob, "common", limit=50)) == 16


def test_words_end_where_cjk_or_an_underscore_begins():
    terms = index_terms("abc中文def snake_case Ünï").split()
    cjk = [query_terms(piece)[0] for piece in ("中", "文", "中文")]
    assert terms[:2] == ["qwabc", *cjk[:1]] and set(cjk) <= set(terms)
    assert {"qwdef", "qwsnake", "qwcase"} <= set(terms) and "qwsnake_case" not in terms
    assert query_terms("ünï") == [terms[-1]] and not terms[-1].startswith("qw")
