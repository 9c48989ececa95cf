"""Scenario: search latency over 1,000,000 messages (issue #14 part 5), and what indexing costs
the send path.

A fresh MariaDB database (hubbub migrate) gets U users in G groups of M members and N messages
written straight into `messages` and `message_search` by multi-row INSERTs (the terms made by
storage.search_terms, as the server makes them; the FULLTEXT index is built once at the end,
as a bulk load would). The text is words drawn from a Zipf-like vocabulary, a CJK phrase in some
messages, and probe words planted at known frequencies. A running `hubbub serve` then answers
GET /api/search for one user (a member of G*M/U groups, so of ~M/U of all messages), each query
R times in a row, one at a time: latency as the client sees it, message VOs and snippets
included.

The send path's cost is measured apart, on the same database: the group commit's procedure
called with each message's terms (what the server does) and with empty terms (no index row:
the send path as it was), batches of 1 and of 64 messages, and the CPU time of making the terms.

    python -m bench.scenarios.search --messages 1000000
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from datetime import datetime, timedelta

import aiohttp
from sqlalchemy.engine import make_url

from bench import metrics
from bench.scenarios.common import base_parser, command_of, emit, log
from bench.servers import mysql_connect
from bench.targets import HUBBUB, launch

MODULE = "bench.scenarios.search"
CHUNK = 5000
START = datetime(2026, 12, 1)
SEED = 20261205
# word: (how many messages hold it, planted at random)
PROBES = {"zephyr": 20, "quartz": 2_000, "nimbus": 20_000}
COMMON_SHARE = 0.10  # of messages holding "hello" (planted): a very common word
CJK_SHARE = 0.05
CJK_PROBE = "猫粮"  # in one message out of 2,000
HAN = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长"


def _vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "shi", "po", "ve", "din", "gar", "el", "on", "is", "ba", "qu", "tor", "len", "sa", "fi"]
    words = {"a", "to", "it", "the", "is", "of", "go", "ok", "hi", "me"}
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))))
    return sorted(words - set(PROBES) - {"hello"})


def _zipf_weights(count: int, exponent: float = 1.05) -> list[float]:
    return [1 / (rank**exponent) for rank in range(1, count + 1)]


def _texts(count: int, rng: random.Random, *, plant: bool = True) -> list[str]:
    vocabulary = _vocabulary(rng)
    rng.shuffle(vocabulary)
    cumulative = list(itertools.accumulate(_zipf_weights(len(vocabulary))))
    planted: dict[int, list[str]] = {}
    probes = {**PROBES, "hello": int(count * COMMON_SHARE), CJK_PROBE: count // 2000} if plant else {}
    for word, holders in probes.items():
        for index in rng.sample(range(count), min(holders, count // 2)):
            planted.setdefault(index, []).append(word)
    texts = []
    for index in range(count):
        words = rng.choices(vocabulary, cum_weights=cumulative, k=rng.randint(4, 14))
        if rng.random() < CJK_SHARE:
            words.append("".join(rng.choices(HAN, k=rng.randint(4, 10))))
        for word in planted.get(index, ()):
            words.insert(rng.randrange(len(words) + 1), word)
        texts.append(" ".join(words))
    return texts


def _populate(database: str, user_ids: list[int], groups: int, members: int, messages: int) -> dict:
    """Groups and messages straight into the database; returns counts and seconds."""
    from storage.search_terms import message_terms

    rng = random.Random(SEED)
    conn = mysql_connect(database, database=database_name(database))
    started = time.monotonic()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COALESCE(MAX(id), 0) FROM conversations")
            first_group = int(cur.fetchone()[0]) + 1
            group_ids = list(range(first_group, first_group + groups))
            stamp = START
            cur.executemany(
                "INSERT INTO conversations (id, type, name, owner_id, last_seq, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [(gid, 2, "bench", user_ids[i % len(user_ids)], 0, stamp, stamp) for i, gid in enumerate(group_ids)],
            )
            membership = []
            for i, gid in enumerate(group_ids):
                chosen = {user_ids[i % len(user_ids)], *rng.sample(user_ids, members - 1)}
                membership.append((gid, sorted(chosen)))
            cur.executemany(
                "INSERT INTO conversation_members (conversation_id, user_id, role, last_read_seq, joined_at) VALUES (%s, %s, %s, %s, %s)",
                [(gid, uid, 1, 0, stamp) for gid, chosen in membership for uid in chosen],
            )
            cur.execute("ALTER TABLE message_search DROP INDEX ft_message_search_terms")
            texts_started = time.monotonic()
            texts = _texts(messages, rng)
            text_seconds = time.monotonic() - texts_started
            seqs = dict.fromkeys(group_ids, 0)
            cur.execute("SELECT COALESCE(MAX(id), 0) FROM messages")
            next_id = int(cur.fetchone()[0]) + 1
            terms_seconds = 0.0
            for chunk in range(0, messages, CHUNK):
                rows, terms = [], []
                for offset, text in enumerate(texts[chunk : chunk + CHUNK]):
                    gid, member_ids = membership[(chunk + offset) % groups]
                    seqs[gid] += 1
                    message_id = next_id + chunk + offset
                    created = START + timedelta(seconds=(chunk + offset) // 10)
                    rows.append((message_id, member_ids[offset % len(member_ids)], text, 1, 2, created, gid, seqs[gid]))
                    made = time.perf_counter()
                    terms.append((message_id, gid, message_terms(gid, text)))
                    terms_seconds += time.perf_counter() - made
                cur.executemany(
                    "INSERT INTO messages (id, sender_id, content, msg_type, status, created_at, conversation_id, seq) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    rows,
                )
                cur.executemany("INSERT INTO message_search (message_id, conversation_id, terms) VALUES (%s, %s, %s)", terms)
                if chunk % 100_000 == 0:
                    log(f"  {chunk + len(rows):,} messages")
            cur.executemany("UPDATE conversations SET last_seq = %s WHERE id = %s", [(seq, gid) for gid, seq in seqs.items()])
            loaded = time.monotonic()
            cur.execute("ALTER TABLE message_search ADD FULLTEXT INDEX ft_message_search_terms (terms)")
            if not _index_complete(cur):
                # Seen on MariaDB 10.11: the first FULLTEXT index added back to this table (whose
                # index the migration had made with ALTER TABLE) finds nothing; built again, it
                # does. Only this bulk load drops the index: the server never does.
                log("  the rebuilt FULLTEXT index finds nothing: building it again")
                cur.execute("ALTER TABLE message_search DROP INDEX ft_message_search_terms")
                cur.execute("ALTER TABLE message_search ADD FULLTEXT INDEX ft_message_search_terms (terms)")
                if not _index_complete(cur):
                    raise RuntimeError("the FULLTEXT index does not find what LIKE finds")
            indexed = time.monotonic()
            cur.execute("ANALYZE TABLE messages, message_search, conversation_members")
            cur.fetchall()
            cur.execute("SELECT data_length + index_length FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'message_search'")
            search_bytes = cur.fetchone()[0]
            cur.execute("SELECT data_length + index_length FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'messages'")
            message_bytes = cur.fetchone()[0]
    finally:
        conn.close()
    return {
        "load_seconds": round(loaded - started, 1),
        "fulltext_build_seconds": round(indexed - loaded, 1),
        "texts_seconds": round(text_seconds, 1),
        "terms_us_per_message": round(terms_seconds / messages * 1e6, 2),
        "message_search_mib": round(search_bytes / 2**20, 1),
        "messages_mib": round(message_bytes / 2**20, 1),
    }


def _index_complete(cur) -> bool:
    """Whether the FULLTEXT index finds every message holding a probe word."""
    cur.execute("SELECT COUNT(*) FROM message_search WHERE MATCH (terms) AGAINST ('+qwquartz' IN BOOLEAN MODE)")
    indexed = cur.fetchone()[0]
    cur.execute("SELECT COUNT(*) FROM message_search WHERE terms LIKE '%%qwquartz%%'")
    return indexed == cur.fetchone()[0] > 0


def database_name(url: str) -> str:
    return make_url(url).database


QUERIES = {
    "rare word (20 in all)": {"q": "zephyr"},
    "medium word (2,000 in all)": {"q": "quartz"},
    "frequent word (20,000 in all)": {"q": "nimbus"},
    "very common word (10% of all)": {"q": "hello"},
    "two words, common AND frequent": {"q": "hello nimbus"},
    "CJK pair (1 in 2,000)": {"q": CJK_PROBE},
    "CJK single character": {"q": "猫"},
    "absent word": {"q": "xylophone"},
    "very common word, one conversation": {"q": "hello", "conversation_id": None},
    "very common word, 5th page": {"q": "hello", "page": 5},
}


async def _measure_queries(base_url: str, token: str, conversation_id: int, repeat: int) -> dict:
    results = {}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:

        async def get(params: dict) -> dict:
            async with http.get(f"{base_url}/api/search", params=params) as answer:
                body = await answer.json()
                if answer.status != 200:
                    raise RuntimeError(f"search failed: {answer.status} {body}")
                return body["data"]

        for label, spec in QUERIES.items():
            params = {"q": spec["q"], "limit": "20"}
            if "conversation_id" in spec:
                params["conversation_id"] = str(conversation_id)
            before = None
            for _ in range(spec.get("page", 1) - 1):
                before = (await get({**params, **({"before": str(before)} if before else {})}))["next_before"]
            if before:
                params["before"] = str(before)
            await get(params)  # warm: the first of each is read from disk
            times, hits = [], 0
            for _ in range(repeat):
                started = time.perf_counter_ns()
                page = await get(params)
                times.append(time.perf_counter_ns() - started)
                hits = len(page["hits"])
            results[label] = {"latency_ms": metrics.percentiles(times), "hits_on_page": hits}
            log(f"  {label}: p50 {results[label]['latency_ms']['p50']} ms, p99 {results[label]['latency_ms']['p99']} ms ({hits} hits)")
    return results


async def _send_path_cost(database_url: str, user_ids: list[int], conversation_id: int, repeat: int) -> dict:
    """The group commit with the terms and with none (no index row), alternated so that both
    see the same database state; seconds per batch."""
    from storage import message_batch
    from storage.engine import create_engine
    from storage.messages import NewMessage
    from storage.search_terms import message_terms

    engine = create_engine(database_url)
    rng = random.Random(SEED + 1)
    texts = _texts(5_000, rng, plant=False)
    costs: dict = {}
    try:
        for size in (1, 64):
            timings: dict[str, list[int]] = {"with terms": [], "without terms": []}
            for round_ in range(repeat):
                for mode in ("with terms", "without terms") if round_ % 2 == 0 else ("without terms", "with terms"):
                    batch = [NewMessage(conversation_id, user_ids[0], None, rng.choice(texts), 1, None) for _ in range(size)]
                    # Empty terms: the procedure writes no index row, as before search existed.
                    message_batch.message_terms = message_terms if mode == "with terms" else (lambda _conversation_id, _text: "")
                    async with engine.connect() as conn:
                        started = time.perf_counter_ns()
                        await message_batch.append_batch(conn, batch)
                        timings[mode].append(time.perf_counter_ns() - started)
            costs[f"batch of {size}"] = {mode: metrics.percentiles(values) for mode, values in timings.items()}
    finally:
        message_batch.message_terms = message_terms
        await engine.dispose()
    sample = texts[:2000]
    started = time.perf_counter()
    for text in sample:
        message_terms(conversation_id, text)
    costs["terms_us_per_message"] = round((time.perf_counter() - started) / len(sample) * 1e6, 2)
    cjk = "我喜欢吃猫粮但是今天商店里没有了明天再去看看吧" * 2
    started = time.perf_counter()
    for _ in range(2000):
        message_terms(conversation_id, cjk)
    costs["terms_us_per_48_char_cjk_message"] = round((time.perf_counter() - started) / 2000 * 1e6, 2)
    return costs


def run(target: str = HUBBUB, *, messages: int = 1_000_000, users: int = 200, groups: int = 500, members: int = 10, repeat: int = 50) -> dict:
    if target != HUBBUB:
        raise ValueError("the search scenario measures Hubbub only (the peers have no search)")
    options = {"messages": messages, "users": users, "groups": groups, "members": members, "repeat": repeat}
    log(f"search: {messages:,} messages in {groups} groups of {members} among {users} users")
    with launch(target) as t:
        made = t.make_users(users)
        user_ids = [u.id for u in made]
        load = _populate(t.database_url, user_ids, groups, members, messages)
        log(f"  loaded in {load['load_seconds']} s, FULLTEXT built in {load['fulltext_build_seconds']} s")
        searcher = made[0]
        conn = mysql_connect(t.database_url, database=database_name(t.database_url))
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT conversation_id FROM conversation_members WHERE user_id = %s ORDER BY conversation_id", (searcher.id,))
                mine = [row[0] for row in cur.fetchall()]
                cur.execute("SELECT COUNT(*) FROM messages WHERE conversation_id IN (SELECT conversation_id FROM conversation_members WHERE user_id = %s)", (searcher.id,))
                visible = cur.fetchone()[0]
        finally:
            conn.close()
        queries = asyncio.run(_measure_queries(t.http_url, searcher.token, mine[0], repeat))
        send_path = asyncio.run(_send_path_cost(t.database_url, user_ids, mine[0], repeat=max(repeat, 200)))
        server = t.server.info
    result = {
        "scenario": "search",
        "target": target,
        "command": command_of(MODULE, options),
        "params": options,
        "server": server,
        "searcher_conversations": len(mine),
        "searcher_visible_messages": visible,
        "load": load,
        "queries": queries,
        "send_path": send_path,
    }
    log(f"  send path: {send_path}")
    return result


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    emit(run(args.target, messages=args.messages, users=args.users, groups=args.groups, members=args.members, repeat=args.repeat), args.json_out)


if __name__ == "__main__":
    main()
