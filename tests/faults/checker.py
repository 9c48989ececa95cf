"""The checker every fault scenario ends with.

While a scenario runs, its clients tell the checker what they sent, which replies they got (or
that the socket died first), and every `message.new` each socket received. At the end the
checker reads each conversation's whole history through REST, from the first of the server
URLs that answers (the same list the clients spread over, so it works against one server or a
cluster), and counts:

- lost: acknowledged (a 2xx reply) but not in history, or stored as another message;
- duplicated: one `client_msg_id` stored twice, acknowledged as two different messages, or one
  seq received twice by one socket;
- gaps: a conversation's seqs are not exactly 1..N;
- inversions: a socket received a seq lower than one it had already received (per conversation);
- mismatched: a push naming a message history does not hold as such;
- holes: a follower (a client that reconnects and catches up with `history after=`) whose
  pushes and history pages together miss a message of a conversation it follows;
- unreplied_stored: a send on a socket whose every frame the contract answers (one that kept
  reading, PROTOCOL §4: "the frame being handled is finished and replied to first") got no
  reply, yet was stored;
- faults: replies the scenario did not expect (a 500, a malformed reply, ...).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

KINDS = ("lost", "duplicated", "gaps", "inversions", "mismatched", "holes", "unreplied_stored", "faults")
EXAMPLES = 5
HISTORY_PAGE = 100


@dataclass(frozen=True, slots=True)
class Attempt:
    socket: str
    code: int | None  # None: the socket was gone before the reply came


@dataclass
class Report:
    conversations: int = 0
    messages: int = 0
    acked: int = 0
    pushes: int = 0
    findings: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in KINDS})

    def count(self, kind: str) -> int:
        return len(self.findings[kind])

    def counts(self) -> dict[str, int]:
        return {kind: len(found) for kind, found in self.findings.items()}

    def summary(self) -> str:
        head = f"{self.conversations} conversations, {self.messages} messages stored, {self.acked} acked, {self.pushes} pushes received"
        counts = ", ".join(f"{kind} {n}" for kind, n in self.counts().items())
        lines = [head, counts]
        for kind, found in self.findings.items():
            lines += [f"  {kind}: {example}" for example in found[:EXAMPLES]]
            if len(found) > EXAMPLES:
                lines.append(f"  {kind}: ... {len(found) - EXAMPLES} more")
        return "\n".join(lines)

    def assert_clean(self) -> None:
        assert not any(self.counts().values()), f"fault checker:\n{self.summary()}"


class Checker:
    """Collects what the clients saw; `verify` compares it with what the servers stored."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = list(urls)
        self._readers: dict[int, str] = {}  # conversation → token of a member, to read its history
        self._attempts: dict[str, list[Attempt]] = defaultdict(list)  # client_msg_id → in order
        self._acks: dict[str, dict] = {}  # client_msg_id → the MessageVO of its first 2xx reply
        self._ack_dups: list[str] = []
        self._strict: set[str] = set()
        self._pushes: dict[str, list[tuple[int, int, int]]] = defaultdict(list)  # socket → (conversation, seq, id)
        self._views: dict[str, dict[int, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))  # client → conversation → seq → id
        self._follows: dict[str, dict[int, int]] = defaultdict(dict)  # client → conversation → since seq
        self._faults: list[str] = []

    # --- what the scenario declares -----------------------------------------------------------

    def watch(self, conversation_id: int, token: str) -> None:
        """Check this conversation at the end, reading its history with a member's token."""
        self._readers[conversation_id] = token

    def strict(self, socket: str) -> None:
        """This socket keeps reading: each of its sends must get a reply or not be stored."""
        self._strict.add(socket)

    def follow(self, client: str, conversation_id: int, since_seq: int = 0) -> None:
        """This client (all its sockets, and the history it reads) must see every message of the
        conversation after `since_seq`."""
        self._follows[client][conversation_id] = since_seq

    # --- what the clients saw -----------------------------------------------------------------

    def sent(self, socket: str, client_msg_id: str) -> None:
        self._attempts[client_msg_id].append(Attempt(socket, None))

    def replied(self, socket: str, client_msg_id: str, code: int, data: Any) -> None:
        attempts = self._attempts[client_msg_id]
        for index in range(len(attempts) - 1, -1, -1):
            if attempts[index].socket == socket and attempts[index].code is None:
                attempts[index] = Attempt(socket, code)
                break
        if 200 <= code < 300 and isinstance(data, dict):
            first = self._acks.setdefault(client_msg_id, data)
            if first.get("id") != data.get("id"):
                self._ack_dups.append(f"{client_msg_id!r} acked as message {first.get('id')} and as {data.get('id')}")

    def pushed(self, socket: str, client: str, message: dict) -> None:
        key = (message["conversation_id"], message["seq"], message["id"])
        self._pushes[socket].append(key)
        self._views[client][key[0]][key[1]] = key[2]

    def fetched(self, client: str, messages: Iterable[dict]) -> None:
        """A history page a client read (catching up)."""
        for message in messages:
            self._views[client][message["conversation_id"]][message["seq"]] = message["id"]

    def fault(self, detail: str) -> None:
        self._faults.append(detail)

    def acked_count(self) -> int:
        return len(self._acks)

    def acks(self) -> dict[str, dict]:
        return dict(self._acks)

    # --- the verdict --------------------------------------------------------------------------

    async def verify(self) -> Report:
        histories = await self._read_histories()
        report = Report(conversations=len(histories), acked=len(self._acks), pushes=sum(map(len, self._pushes.values())))
        report.messages = sum(map(len, histories.values()))
        found = report.findings
        by_id = {m["id"]: m for messages in histories.values() for m in messages}
        by_seq = {(conversation, m["seq"]): m for conversation, messages in histories.items() for m in messages}
        self._check_history(histories, found)
        self._check_acks(by_id, found)
        self._check_pushes(by_seq, found)
        self._check_views(histories, found)
        self._check_unreplied(histories, found)
        found["faults"].extend(self._faults)
        return report

    def _check_history(self, histories: dict[int, list[dict]], found: dict[str, list[str]]) -> None:
        stored = Counter((m["sender_id"], m["client_msg_id"]) for messages in histories.values() for m in messages if m["client_msg_id"] is not None)
        found["duplicated"] += [f"client_msg_id {cmid!r} of user {sender} stored {n} times" for (sender, cmid), n in stored.items() if n > 1]
        found["duplicated"] += self._ack_dups
        for conversation, messages in histories.items():
            seqs = [m["seq"] for m in messages]
            if seqs != list(range(1, len(seqs) + 1)):
                missing = sorted(set(range(1, max(seqs, default=0) + 1)) - set(seqs))
                twice = sorted(seq for seq, n in Counter(seqs).items() if n > 1)
                found["gaps"].append(f"conversation {conversation}: seqs {len(seqs)} up to {max(seqs, default=0)}, missing {missing[:10]}, twice {twice[:10]}")

    def _check_acks(self, by_id: dict[int, dict], found: dict[str, list[str]]) -> None:
        for cmid, ack in self._acks.items():
            if ack.get("conversation_id") not in self._readers:
                continue
            stored = by_id.get(ack.get("id"))
            if stored is None:
                found["lost"].append(f"{cmid!r} acked as message {ack.get('id')} seq {ack.get('seq')} in conversation {ack.get('conversation_id')}: not in history")
            elif (stored["seq"], stored["conversation_id"], stored["client_msg_id"]) != (ack["seq"], ack["conversation_id"], cmid):
                found["lost"].append(f"{cmid!r} acked as {ack} but stored as {stored}")

    def _check_pushes(self, by_seq: dict[tuple[int, int], dict], found: dict[str, list[str]]) -> None:
        for socket, pushes in self._pushes.items():
            highest: dict[int, int] = {}
            seen: set[tuple[int, int]] = set()
            for conversation, seq, message_id in pushes:
                if (conversation, seq) in seen:
                    found["duplicated"].append(f"socket {socket} received seq {seq} of conversation {conversation} twice")
                elif seq < highest.get(conversation, 0):
                    found["inversions"].append(f"socket {socket}: seq {seq} after seq {highest[conversation]} in conversation {conversation}")
                seen.add((conversation, seq))
                highest[conversation] = max(highest.get(conversation, 0), seq)
                stored = by_seq.get((conversation, seq))
                if conversation in self._readers and (stored is None or stored["id"] != message_id):
                    found["mismatched"].append(f"socket {socket} got message {message_id} as seq {seq} of conversation {conversation}; history: {stored and stored['id']}")

    def _check_views(self, histories: dict[int, list[dict]], found: dict[str, list[str]]) -> None:
        for client, follows in self._follows.items():
            for conversation, since in follows.items():
                view = self._views[client][conversation]
                wanted = {m["seq"]: m["id"] for m in histories.get(conversation, ()) if m["seq"] > since}
                missing = sorted(seq for seq in wanted if seq not in view)
                wrong = sorted(seq for seq, message_id in wanted.items() if seq in view and view[seq] != message_id)
                if missing or wrong:
                    found["holes"].append(f"client {client}, conversation {conversation}: {len(missing)} missing {missing[:10]}, {len(wrong)} wrong {wrong[:10]}")

    def _check_unreplied(self, histories: dict[int, list[dict]], found: dict[str, list[str]]) -> None:
        stored = {m["client_msg_id"] for messages in histories.values() for m in messages}
        for cmid, attempts in self._attempts.items():
            for index, attempt in enumerate(attempts):
                if attempt.code is not None or attempt.socket not in self._strict:
                    continue
                if any(earlier.code is None or earlier.code < 300 for earlier in attempts[:index]):
                    continue  # an earlier send of it may have stored it
                later = next((a.code for a in attempts[index + 1 :] if a.code is not None and a.code < 300), None)
                if later == 200 or (later is None and cmid in stored):
                    found["unreplied_stored"].append(f"{cmid!r} sent on {attempt.socket}: no reply, but stored")

    async def _read_histories(self) -> dict[int, list[dict]]:
        async with aiohttp.ClientSession() as session:
            return {conversation: await self._history(session, conversation, token) for conversation, token in sorted(self._readers.items())}

    async def _history(self, session: aiohttp.ClientSession, conversation: int, token: str) -> list[dict]:
        """Every message of the conversation, paged with `after`, from the first URL that answers."""
        errors = []
        for url in self.urls:
            messages: list[dict] = []
            try:
                while True:
                    async with session.get(
                        f"{url}/api/conversations/{conversation}/messages",
                        params={"after": str(messages[-1]["seq"] if messages else 0), "limit": str(HISTORY_PAGE)},
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=aiohttp.ClientTimeout(total=10),
                    ) as response:
                        body = await response.json()
                        if response.status != 200:
                            raise RuntimeError(f"{response.status} {body}")
                    messages += body["data"]
                    if len(body["data"]) < HISTORY_PAGE:
                        return messages
            except (aiohttp.ClientError, TimeoutError, RuntimeError) as exc:
                errors.append(f"{url}: {exc!r}")
        raise RuntimeError(f"no server answered the history of conversation {conversation}: {errors}")
