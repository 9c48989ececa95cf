"""CPU per message of the send path's pure-Python pieces that every message passes through
outside the database and the socket: the NewMessage built, the group commit's choice of
_batchable, the stored row and its MessageVO. Run from the root of a checkout to measure that
revision (`git archive REV handlers storage settings server | tar -x -C DIR`, then run it from
DIR), alternating revisions: the best of several runs is the figure.

    python -m bench.send_path_pieces
"""

import datetime
import timeit

from handlers.objects import message_vo
from handlers.services.message_writer import QueuedSend, _batchable
from storage.messages import NewMessage, message_row

MESSAGES = 200_000
REPEATS = 7
_NOW = datetime.datetime(2026, 12, 5, 6, 0, 0)
_CONTENT = "a message of about a hundred characters, as the load generator sends them " * 2


def one_message() -> None:
    new = NewMessage(7, 3, None, _CONTENT, 1, "c-1", None, None)
    _batchable(QueuedSend(new, None, None))
    row = message_row(new, 42, 4, _NOW)
    row["id"] = 1234
    message_vo(row)


def main() -> None:
    best = min(timeit.repeat(one_message, number=MESSAGES, repeat=REPEATS)) / MESSAGES
    print(f"{best * 1e6:.3f} µs per message")


if __name__ == "__main__":
    main()
