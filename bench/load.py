"""The load generator: worker processes, each driving its share of the sockets.

Why it looks like this:
- The server under test has the same two cores as the load, so the client must cost as little
  CPU per frame as possible: picows (a Cython WebSocket client whose callbacks get the frame
  bytes directly, no per-frame task or future) on uvloop, orjson for JSON.
- Several processes (default 2), so the load is not capped by one Python thread.
- Both ends of a 1:1 pair live in the same worker; every message carries its send time
  (time.time_ns(), the same clock in every process) in its content, so the receiver measures
  sender → recipient latency per message without talking to the sender.
- Closed loop (`closed`): each sender sends its next message when the reply to the previous
  one arrives (maximum sustained rate). Open loop (`open`): messages leave on a fixed schedule
  whatever the server does, and latency is counted from the scheduled time, so a server that
  falls behind shows it in its latency instead of slowing the load down (no coordinated omission).
- Everything is bounded: a warm-up, a measured window, a grace period for what is in flight,
  then the parent tells the workers to close; a worker whose parent is gone exits.

The same code speaks two wire protocols: Hubbub's JSON frames (Hubbub and the aiohttp peers)
and Socket.IO v5 over Engine.IO v4 (the python-socketio peer), written out here directly
rather than through python-socketio's own client, so both are driven at the same client cost.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import orjson

JSON = "json"
SOCKETIO = "socketio"
NS = 1_000_000_000
TICK_NS = 1_000_000  # open-loop scheduler tick (uvloop timer resolution): what is due within it leaves together


@dataclass
class SocketSpec:
    user_id: int
    token: str
    role: str  # "sender", "receiver", "idle" or "probe"
    target: dict | None = None  # a sender's {"receiver_id": id} or {"conversation_id": id}


@dataclass
class Plan:
    ws_url: str  # ws://127.0.0.1:PORT/ws, or ws://127.0.0.1:PORT/socket.io/?EIO=4&transport=websocket
    protocol: str = JSON
    mode: str = "closed"  # "closed", "open", "idle" or "probe"
    warmup: float = 2.0  # seconds sent but not counted: first messages create conversations
    duration: float = 10.0  # the measured window
    grace: float = 3.0  # after the window, how long to wait for what is still in flight
    content_size: int = 100  # characters of message content
    rate: float = 0.0  # open loop: messages per second from this worker, all its senders together
    probe_interval: float = 0.010  # probe: one ping every 10 ms
    latency_every: int = 1  # keep 1 in N delivery latencies (fan-out receives thousands per send)
    connect_concurrency: int = 64
    connect_attempts: int = 3


@dataclass
class Stats:
    t0: int = 0
    t1: int = 0
    offered: int = 0  # messages sent with a stamp inside the window
    sent: int = 0  # messages stamped inside the window that got a reply
    acked: int = 0  # 2xx replies that arrived inside the window
    delivered: int = 0  # message.new frames that arrived inside the window
    codes: Counter = field(default_factory=Counter)  # reply codes of messages stamped inside the window
    reply_ns: list = field(default_factory=list)  # send → reply, messages stamped inside the window
    deliver_ns: list = field(default_factory=list)  # send → message.new at the recipient, likewise
    probes: list = field(default_factory=list)  # (sent at, round trip) of pings, ns
    closes: Counter = field(default_factory=Counter)  # close codes the server sent
    cpu_window: float = 0.0  # this worker's CPU seconds inside the window
    unanswered: int = 0  # messages stamped inside the window still without reply after the grace


def content_of(stamp_ns: int, size: int) -> str:
    head = f"{stamp_ns:019d}|"
    return head + "x" * max(0, size - len(head))


# --- the client side of one socket ---------------------------------------------------------


def _client_class():
    # picows is imported in the workers only: the parent process never opens a socket.
    from picows import WSListener, WSMsgType

    class Client(WSListener):
        __slots__ = ("w", "spec", "transport", "ready", "sent", "next_id", "socketio")

        def __init__(self, worker: Worker, spec: SocketSpec) -> None:
            super().__init__()
            self.w = worker
            self.spec = spec
            self.transport = None
            self.ready = worker.loop.create_future()
            self.sent: dict[int, int] = {}  # frame id → stamp, until its reply arrives
            self.next_id = 0
            self.socketio = worker.plan.protocol == SOCKETIO

        # picows callbacks: called by the protocol, synchronously, for each event.
        def on_ws_connected(self, transport) -> None:
            self.transport = transport
            if not self.socketio and not self.ready.done():
                self.ready.set_result(None)

        def on_ws_frame(self, transport, frame) -> None:
            kind = frame.msg_type
            if kind == WSMsgType.TEXT:
                if self.socketio:
                    self.w.on_socketio(self, frame.get_payload_as_bytes())
                else:
                    self.w.on_json(self, frame.get_payload_as_bytes())
            elif kind == WSMsgType.CLOSE:
                self.w.stats.closes[frame.get_close_code()] += 1
                transport.send_close(frame.get_close_code())
                transport.disconnect()

        def on_ws_disconnected(self, transport) -> None:
            if not self.ready.done():
                self.ready.set_exception(ConnectionError("disconnected before ready"))
            self.w.open.discard(self)

        def send_frame(self, payload: bytes) -> None:
            self.transport.send(WSMsgType.TEXT, payload)

        def send_message(self, stamp: int) -> None:
            self.next_id += 1
            frame_id = self.next_id
            data = dict(self.spec.target, content=content_of(stamp, self.w.plan.content_size))
            self.sent[frame_id] = stamp
            stats = self.w.stats
            if stats.t0 <= stamp < stats.t1:
                stats.offered += 1
            if self.socketio:
                self.send_frame(b"42%d" % frame_id + orjson.dumps(["send_message", data]))
            else:
                self.send_frame(orjson.dumps({"type": "send_message", "id": frame_id, "data": data}))

        def send_ping(self, stamp: int) -> None:
            self.next_id += 1
            self.sent[self.next_id] = stamp
            if self.socketio:
                self.send_frame(b'42%d["ping"]' % self.next_id)
            else:
                self.send_frame(b'{"type":"ping","id":%d}' % self.next_id)

    return Client, WSMsgType


# --- one worker process ------------------------------------------------------------------


class Worker:
    def __init__(self, index: int, specs: list[SocketSpec], plan: Plan, inbox, outbox) -> None:
        self.index = index
        self.specs = specs
        self.plan = plan
        self.inbox = inbox  # parent → worker pipe end
        self.outbox = outbox  # worker → parent pipe end
        self.stats = Stats()
        self.clients: list = []
        self.open: set = set()
        self.senders: list = []
        self.deliveries_seen = 0
        self.stop_requested = False

    # Control messages from the parent arrive on a pipe; a thread turns them into loop events.
    def _read_control(self, queue: asyncio.Queue) -> None:
        while True:
            try:
                message = self.inbox.recv()
            except (EOFError, OSError):
                message = ("close",)  # the parent is gone: clean up and exit
            self.loop.call_soon_threadsafe(queue.put_nowait, message)
            if message[0] == "close":
                return

    async def run(self) -> None:
        self.loop = asyncio.get_running_loop()
        control: asyncio.Queue = asyncio.Queue()
        threading.Thread(target=self._read_control, args=(control,), daemon=True).start()
        errors = await self.connect_all()
        self.outbox.send(("ready", {"worker": self.index, "opened": len(self.open), "wanted": len(self.specs), "errors": dict(errors)}))
        while True:
            message = await control.get()
            if message[0] == "go":
                driving = asyncio.ensure_future(self.drive(message[1]))
                while not driving.done():
                    waiter = asyncio.ensure_future(control.get())
                    await asyncio.wait({driving, waiter}, return_when=asyncio.FIRST_COMPLETED)
                    if waiter.done():
                        if waiter.result()[0] == "stop":
                            self.stop_requested = True
                        elif waiter.result()[0] == "close":
                            driving.cancel()
                            break
                    else:
                        waiter.cancel()
                if not driving.cancelled():
                    self.outbox.send(("result", self.result()))
            elif message[0] == "stop":
                self.stop_requested = True
            elif message[0] == "close":
                break
        await self.close_all()
        self.outbox.send(("closed", {"worker": self.index, "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))

    async def connect_all(self) -> Counter:
        from picows import ws_connect

        Client, _ = _client_class()
        errors: Counter = Counter()
        gate = asyncio.Semaphore(self.plan.connect_concurrency)
        url = self.plan.ws_url

        async def connect(spec: SocketSpec) -> None:
            for attempt in range(self.plan.connect_attempts):
                async with gate:
                    try:
                        full = url if self.plan.protocol == SOCKETIO else f"{url}?token={spec.token}"
                        _, client = await ws_connect(lambda: Client(self, spec), full, websocket_handshake_timeout=30, enable_auto_pong=True)
                        await asyncio.wait_for(client.ready, 30)
                    except Exception as exc:  # noqa: BLE001 - counted and retried; the count is a result
                        errors[type(exc).__name__] += 1
                        await asyncio.sleep(0.2 * (attempt + 1))
                        continue
                self.clients.append(client)
                self.open.add(client)
                if spec.role == "sender" or spec.role == "probe":
                    self.senders.append(client)
                return

        await asyncio.gather(*(connect(spec) for spec in self.specs))
        return errors

    async def close_all(self) -> None:
        for client in list(self.open):
            try:
                client.transport.send_close(1000)
                client.transport.disconnect()
            except Exception:  # noqa: BLE001 - already gone
                pass
        deadline = time.monotonic() + 5
        while self.open and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    # --- driving ------------------------------------------------------------------------

    async def drive(self, start_ns: int) -> None:
        plan, stats = self.plan, self.stats
        stats.t0 = start_ns + int(plan.warmup * NS)
        stats.t1 = stats.t0 + int(plan.duration * NS)
        cpu = {}
        self.loop.call_later(max(0.0, (stats.t0 - time.time_ns()) / NS), lambda: cpu.__setitem__("t0", time.process_time()))
        await _sleep_until(start_ns)
        if plan.mode == "closed":
            for client in self.senders:
                client.send_message(time.time_ns())
            await _sleep_until(stats.t1)
        elif plan.mode == "open":
            await self.open_loop(start_ns, stats.t1)
        elif plan.mode == "probe":
            await self.probe_loop(start_ns, stats.t1)
        else:  # idle: the sockets only stay open for the window
            while time.time_ns() < stats.t1 and not self.stop_requested:
                await asyncio.sleep(0.05)
        cpu["t1"] = time.process_time()
        stats.cpu_window = cpu["t1"] - cpu.get("t0", cpu["t1"])
        # What is still in flight may still arrive: wait for the replies, a little for pushes.
        deadline = time.monotonic() + plan.grace
        while any(c.sent for c in self.senders) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if plan.mode in ("closed", "open"):
            await asyncio.sleep(min(0.3, plan.grace))
        stats.unanswered = sum(1 for c in self.senders for stamp in c.sent.values() if stats.t0 <= stamp < stats.t1)

    async def open_loop(self, start_ns: int, end_ns: int) -> None:
        """Message k of this worker leaves at start + k/rate on sender k mod n: every sender
        gets rate/n messages per second, evenly spaced, whatever the replies do."""
        senders = self.senders
        if not senders or self.plan.rate <= 0:
            await _sleep_until(end_ns)
            return
        interval = NS / self.plan.rate
        k, n = 0, len(senders)
        while True:
            now = time.time_ns()
            if now >= end_ns or self.stop_requested:
                return
            due = start_ns + int(k * interval)
            while due <= now and due < end_ns:
                # Stamped with when it was due if the generator fell behind (a backlog is charged
                # to the latency, no coordinated omission); within a tick, with when it left, so
                # the tick's own granularity is not.
                senders[k % n].send_message(due if now - due > TICK_NS else now)
                k += 1
                due = start_ns + int(k * interval)
            # At least one tick: uvloop's timers have 1 ms resolution, and a shorter sleep
            # returns at once, which would spin a core the server needs.
            await asyncio.sleep(max(TICK_NS, due - time.time_ns()) / NS)

    async def probe_loop(self, start_ns: int, end_ns: int) -> None:
        """Event-loop lag seen from outside: a ping every interval, its round trip recorded."""
        interval = int(self.plan.probe_interval * NS)
        k = 0
        while not self.stop_requested and time.time_ns() < end_ns:
            due = start_ns + k * interval
            for client in self.senders:
                client.send_ping(time.time_ns())
            k += 1
            await asyncio.sleep(max(0.0, (due + interval - time.time_ns()) / NS))

    # --- frames in ----------------------------------------------------------------------

    def on_reply(self, client, frame_id, code, now: int) -> None:
        stamp = client.sent.pop(frame_id, None)
        if stamp is None:
            return
        stats = self.stats
        if client.spec.role == "probe":
            stats.probes.append((stamp, now - stamp))
            return
        ok = code is not None and 200 <= code < 300
        if stats.t0 <= stamp < stats.t1:
            stats.sent += 1
            stats.codes[code] += 1
            stats.reply_ns.append(now - stamp)
        if ok and stats.t0 <= now < stats.t1:
            stats.acked += 1
        if self.plan.mode == "closed" and now < stats.t1 and not self.stop_requested:
            client.send_message(now)

    def on_delivery(self, content: str, now: int) -> None:
        stats = self.stats
        if stats.t0 <= now < stats.t1:
            stats.delivered += 1
        try:
            stamp = int(content[:19])
        except (ValueError, TypeError):
            return
        if stats.t0 <= stamp < stats.t1:
            stats.deliver_ns.append(now - stamp)

    def on_json(self, client, payload: bytes) -> None:
        now = time.time_ns()
        every = self.plan.latency_every
        if every > 1 and payload.startswith(b'{"type":"message.new"'):
            # Fan-out: count every push, parse only a sample of them for latency.
            self.deliveries_seen += 1
            if self.deliveries_seen % every:
                if self.stats.t0 <= now < self.stats.t1:
                    self.stats.delivered += 1
                return
        msg = orjson.loads(payload)
        kind = msg.get("type")
        if kind == "reply":
            self.on_reply(client, msg.get("id"), msg.get("code"), now)
        elif kind == "message.new":
            self.on_delivery(msg["data"]["content"], now)

    def on_socketio(self, client, payload: bytes) -> None:
        """Engine.IO v4 packet types: 0 open, 2 ping, 4 message; Socket.IO v5 inside a message:
        0 connect, 2 event, 3 ack, 4 connect error."""
        now = time.time_ns()
        head = payload[:2]
        if head == b"42":  # event: 42["message.new",{...}]
            every = self.plan.latency_every
            if every > 1 and payload.startswith(b'42["message.new"'):
                self.deliveries_seen += 1
                if self.deliveries_seen % every:
                    if self.stats.t0 <= now < self.stats.t1:
                        self.stats.delivered += 1
                    return
            name, data = orjson.loads(payload[2:])[:2]
            if name == "message.new":
                self.on_delivery(data["content"], now)
        elif head == b"43":  # ack: 43<id>[reply]
            body = payload[2:]
            digits = 0
            while digits < len(body) and 48 <= body[digits] <= 57:
                digits += 1
            reply = orjson.loads(body[digits:])[0]
            self.on_reply(client, int(body[:digits]), reply.get("code"), now)
        elif payload == b"2":
            client.send_frame(b"3")  # Engine.IO heartbeat: answer the server's ping
        elif payload[:1] == b"0":  # Engine.IO open: now connect to the namespace, with the token
            client.send_frame(b"40" + orjson.dumps({"token": client.spec.token}))
        elif head == b"40":
            if not client.ready.done():
                client.ready.set_result(None)
        elif head == b"44":
            if not client.ready.done():
                client.ready.set_exception(ConnectionRefusedError(payload[2:].decode(errors="replace")))

    def result(self) -> dict:
        s = self.stats
        return {
            "worker": self.index,
            "t0": s.t0,
            "t1": s.t1,
            "offered": s.offered,
            "sent": s.sent,
            "acked": s.acked,
            "delivered": s.delivered,
            "codes": dict(s.codes),
            "reply_ns": s.reply_ns,
            "deliver_ns": s.deliver_ns,
            "probes": s.probes,
            "closes": dict(s.closes),
            "cpu_window": s.cpu_window,
            "unanswered": s.unanswered,
            "open_at_end": len(self.open),
        }


async def _sleep_until(wall_ns: int) -> None:
    delay = (wall_ns - time.time_ns()) / NS
    if delay > 0:
        await asyncio.sleep(delay)


def worker_main(index: int, specs: list[SocketSpec], plan: Plan, inbox, outbox) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    import logging

    logging.getLogger("picows").setLevel(logging.CRITICAL)  # refused connections are counted, not logged
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(Worker(index, specs, plan, inbox, outbox).run())


# --- the parent side ---------------------------------------------------------------------


class WorkerFailed(RuntimeError):
    pass


class LoadRun:
    """Worker processes for one measurement. Use as a context manager: leaving it closes
    every socket and ends the workers (by their own pids) whatever happened."""

    def __init__(self, shares: list[tuple[list[SocketSpec], Plan]]) -> None:
        ctx = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited loop or sockets
        self.procs = []
        self.to_workers = []
        self.from_workers = []
        for index, (specs, plan) in enumerate(shares):
            inbox_r, inbox_w = ctx.Pipe(duplex=False)
            outbox_r, outbox_w = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=worker_main, args=(index, specs, plan, inbox_r, outbox_w), name=f"bench-load-{index}", daemon=True)
            proc.start()
            inbox_r.close()
            outbox_w.close()
            self.procs.append(proc)
            self.to_workers.append(inbox_w)
            self.from_workers.append(outbox_r)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def __enter__(self) -> LoadRun:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def _send(self, message: tuple) -> None:
        for pipe in self.to_workers:
            try:
                pipe.send(message)
            except (BrokenPipeError, OSError):
                pass

    def _collect(self, kind: str, timeout: float) -> list[dict]:
        deadline = time.monotonic() + timeout
        answers = []
        for index, pipe in enumerate(self.from_workers):
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WorkerFailed(f"worker {index}: no {kind!r} within {timeout}s")
                if pipe.poll(min(left, 0.5)):
                    got, body = pipe.recv()
                    if got == kind:
                        answers.append(body)
                        break
                elif not self.procs[index].is_alive():
                    raise WorkerFailed(f"worker {index} exited with {self.procs[index].exitcode} before {kind!r}")
        return answers

    def wait_ready(self, timeout: float = 600) -> list[dict]:
        return self._collect("ready", timeout)

    def go(self, start_wall_ns: int) -> None:
        self._send(("go", start_wall_ns))

    def stop(self) -> None:
        self._send(("stop",))

    def results(self, timeout: float) -> list[dict]:
        return self._collect("result", timeout)

    def close(self, timeout: float = 60) -> list[dict]:
        closed = []
        self._send(("close",))
        try:
            closed = self._collect("closed", timeout)
        except (WorkerFailed, EOFError, OSError):
            pass
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()  # this worker, by its own pid
                proc.join(5)
        for pipe in self.to_workers + self.from_workers:
            pipe.close()
        self.procs = []
        self.to_workers = []
        self.from_workers = []
        return closed


def split_round_robin(items: list, parts: int) -> list[list]:
    return [items[i::parts] for i in range(parts)]


def merge(results: list[dict]) -> dict:
    """Sum the counters of all workers, concatenate their samples."""
    merged = {"offered": 0, "sent": 0, "acked": 0, "delivered": 0, "unanswered": 0, "cpu_window": 0.0, "codes": Counter(), "closes": Counter(),
              "reply_ns": [], "deliver_ns": [], "probes": [], "open_at_end": 0}
    for r in results:
        for key in ("offered", "sent", "acked", "delivered", "unanswered", "cpu_window", "open_at_end"):
            merged[key] += r[key]
        merged["codes"].update(r["codes"])
        merged["closes"].update(r["closes"])
        merged["reply_ns"] += r["reply_ns"]
        merged["deliver_ns"] += r["deliver_ns"]
        merged["probes"] += r["probes"]
    merged["codes"] = {str(k): v for k, v in sorted(merged["codes"].items(), key=lambda kv: str(kv[0]))}
    merged["closes"] = {str(k): v for k, v in merged["closes"].items()}
    return merged


def default_workers() -> int:
    return max(2, min(4, (os.cpu_count() or 2)))
