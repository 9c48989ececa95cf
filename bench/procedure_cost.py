"""MariaDB's own CPU per message of the group commit (the CALL of storage.message_batch.batch_call:
APPEND_ONE for one message, APPEND_BATCH for more), by batch size, beside the persistence floor's one multi-row INSERT and COMMIT (bench.peers.batch_writer)
in the same database. No Hubbub server runs: one connection sends batches of direct messages
of distinct pairs back to back, as the writer does under open-loop load, and the database
server's CPU (/proc, all its threads) is divided by the messages stored. Quiet machine only;
the database must run on this machine (its pid is read from @@pid_file). Another server than
the tests' one: HUBBUB_BENCH_MYSQL_URL=mysql+aiomysql://root@127.0.0.1:PORT/.

    python -m bench.procedure_cost [--messages 20000] [--sizes 1,2,4,16,64]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import itertools
import tempfile
import time
from pathlib import Path

from bench.metrics import cpu_seconds
from bench.peers.batch_writer import INSERT as FLOOR_INSERT
from bench.peers.batch_writer import SCHEMA as FLOOR_SCHEMA
from bench.servers import migrate, mysql_connect, mysql_database
from storage.message_batch import batch_call
from storage.messages import NewMessage

PAIRS = 200
_RUNS = itertools.count()  # client_msg_ids stay unique across runs
CONTENT = "a message of about a hundred characters, as the load generator sends them " * 2


def _pairs(cur) -> list[tuple[int, int, int]]:
    """PAIRS direct conversations: (conversation_id, sender_id, receiver_id)."""
    cur.executemany(
        "INSERT INTO users (username, email, password_hash) VALUES (%s, %s, 'x')",
        [(f"u{i}", f"u{i}@example.com") for i in range(2 * PAIRS)],
    )
    cur.execute("SELECT id FROM users ORDER BY id")
    ids = [row[0] for row in cur.fetchall()]
    pairs = []
    for sender, receiver in zip(ids[0::2], ids[1::2]):
        cur.execute("INSERT INTO conversations (type, direct_low_id, direct_high_id) VALUES (1, %s, %s)", (sender, receiver))
        conversation_id = cur.lastrowid
        cur.executemany("INSERT INTO conversation_members (conversation_id, user_id) VALUES (%s, %s)", [(conversation_id, sender), (conversation_id, receiver)])
        pairs.append((conversation_id, sender, receiver))
    return pairs


def _batches(pairs, size: int, messages: int):
    """Batches of `size` messages, each from another pair (the senders' turns rotate)."""
    tag = next(_RUNS)
    sent = 0
    while sent < messages:
        batch = []
        for _ in range(size):
            conversation_id, sender, receiver = pairs[sent % len(pairs)]
            batch.append(NewMessage(conversation_id, sender, receiver, CONTENT, 1, f"{tag}-{sent}"))
            sent += 1
        yield batch


def _server_pid(cur) -> int:
    """The pid of the database server answering `cur` (it runs on this machine)."""
    cur.execute("SELECT @@pid_file")
    return int(Path(cur.fetchone()[0]).read_text())


def _measured(pid: int, run) -> tuple[float, float]:
    """(database CPU seconds, wall seconds) of run()."""
    cpu, wall = cpu_seconds(pid), time.perf_counter()
    run()
    return cpu_seconds(pid) - cpu, time.perf_counter() - wall


def procedure(cur, pairs, size: int, messages: int) -> tuple[float, float]:
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    calls = [batch_call(batch, now) for batch in _batches(pairs, size, messages)]

    def run() -> None:
        for statement, arguments in calls:
            cur.execute(statement, arguments)
            cur.fetchall()
            while cur.nextset():
                pass

    return _measured(_server_pid(cur), run)


def floor(conn, pairs, size: int, messages: int, seqs: dict[int, int]) -> tuple[float, float]:
    """`seqs`: each conversation's last seq in the floor's table, carried from run to run."""
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    batches = []
    for batch in _batches(pairs, size, messages):
        rows = []
        for new in batch:
            seqs[new.conversation_id] = seqs.get(new.conversation_id, 0) + 1
            rows.append((new.sender_id, new.receiver_id, new.content, 1, 1, now, new.conversation_id, seqs[new.conversation_id], new.client_msg_id))
        batches.append(rows)

    with conn.cursor() as cur:
        pid = _server_pid(cur)

        def run() -> None:
            for rows in batches:
                cur.executemany(FLOOR_INSERT, rows)
                conn.commit()

        return _measured(pid, run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="messages per batch size and writer")
    parser.add_argument("--sizes", default="1,2,4,16,64")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    with mysql_database("hubbub_bench_procedure") as url, tempfile.TemporaryDirectory() as workdir:
        migrate(url, Path(workdir) / "migrate.log")
        database = url.rsplit("/", 1)[1]
        setup = mysql_connect(url, database)
        with setup.cursor() as cur:
            pairs = _pairs(cur)
            cur.execute(FLOOR_SCHEMA)
        setup.close()
        with contextlib.closing(mysql_connect(url, database)) as calls, contextlib.closing(mysql_connect(url, database)) as inserts:
            inserts.autocommit(False)
            floor_seqs: dict[int, int] = {}
            print(f"{'batch':>5} | {'procedure µs/msg':>16} | {'floor µs/msg':>12} | ratio | procedure wall µs/batch")
            with calls.cursor() as cur:
                procedure(cur, pairs, sizes[0], 2_000)  # warm the buffer pool and the procedure cache
                for size in sizes:
                    p_cpu, p_wall = procedure(cur, pairs, size, args.messages)
                    f_cpu, _ = floor(inserts, pairs, size, args.messages, floor_seqs)
                    print(
                        f"{size:>5} | {p_cpu / args.messages * 1e6:>16.1f} | {f_cpu / args.messages * 1e6:>12.1f} |"
                        f" {p_cpu / f_cpu:>5.2f} | {p_wall / (args.messages / size) * 1e6:.0f}"
                    )

if __name__ == "__main__":
    main()
