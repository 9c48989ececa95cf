// The WebSocket at /ws (PROTOCOL §4): request/reply by frame id, server pushes as events,
// and reconnection by itself with exponential backoff. What to do after a reconnect (catch
// up on history, flush the outbox) belongs to the caller, which listens for "open".

const BASE_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10_000;
const REQUEST_TIMEOUT_MS = 15_000;
// The server pings too, but a browser cannot see those: our own ping finds a dead link
// (laptop lid closed, Wi-Fi gone) within about half a minute instead of never.
const KEEPALIVE_MS = 25_000;
const MAX_RATE_LIMIT_RETRIES = 5;

export class SocketError extends Error {
  /** `code` is the reply's code, or 0 when the connection went away before a reply. */
  constructor(code, message, data = null) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Events: "state" (detail {state, retryAt}) with state one of idle, connecting, open,
 * waiting (backing off before the next try); "open" after every successful (re)connect;
 * "push" (detail {type, data}); "handshake-failed" when a connection could not be opened
 * (the browser hides the HTTP status, so the app checks its token over REST); "revoked"
 * when the server closed with 1008 (token expired or logged out).
 */
export class ChatSocket extends EventTarget {
  constructor(urlFor) {
    super();
    this.urlFor = urlFor;
    this.ws = null;
    this.state = "idle";
    this.retryAt = null;
    this.wanted = false;
    this.attempt = 0;
    this.nextId = 1;
    this.pending = new Map();
    this.retryTimer = null;
    this.keepaliveTimer = null;
    // A browser knows when the network comes back: then waiting out the backoff is pointless.
    window.addEventListener("online", () => this.retryNow());
  }

  get isOpen() {
    return this.state === "open";
  }

  start() {
    this.wanted = true;
    if (!this.ws) this.connect();
  }

  /** Closes for good (logout). */
  stop() {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    const ws = this.ws;
    if (ws) {
      this.closed(ws, 1000);
      ws.close(1000);
    }
    this.setState("idle");
  }

  /** Loses the connection the way a network failure would; the usual reconnect follows.
   * Used by the browser tests (window.hubbub.socket.drop()). */
  drop() {
    const ws = this.ws;
    if (!ws) return;
    this.closed(ws, 4000);
    try {
      ws.close(4000, "dropped by the client");
    } catch {
      // already closing
    }
  }

  /** Skips the rest of the backoff wait ("Retry now", or the browser is back online). */
  retryNow() {
    if (!this.wanted || this.ws) return;
    this.attempt = 0;
    this.connect();
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.setState("connecting");
    let ws;
    try {
      ws = new WebSocket(this.urlFor());
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      opened = true;
      this.attempt = 0;
      this.setState("open");
      this.keepaliveTimer = setInterval(() => this.keepalive(), KEEPALIVE_MS);
      this.dispatchEvent(new Event("open"));
    };
    ws.onmessage = (event) => {
      if (this.ws === ws) this.receive(event.data);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return; // a socket we already gave up on
      this.closed(ws, event.code);
      if (!opened) this.dispatchEvent(new Event("handshake-failed"));
    };
    ws.onerror = () => {}; // a close event always follows, and is handled there
  }

  /** Forgets `ws`, fails its unanswered requests and decides what comes next. */
  closed(ws, code) {
    if (this.ws !== ws) return;
    this.ws = null;
    ws.onopen = ws.onmessage = ws.onclose = null;
    clearInterval(this.keepaliveTimer);
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new SocketError(0, "connection lost"));
    }
    this.pending.clear();
    if (code === 1008) {
      // The token expired or was revoked: reconnecting with it would only fail again.
      this.wanted = false;
      this.setState("idle");
      this.dispatchEvent(new Event("revoked"));
    } else if (this.wanted) {
      this.scheduleRetry();
    } else {
      this.setState("idle");
    }
  }

  scheduleRetry() {
    // 0.5 s, 1 s, 2 s, ... up to 10 s, with jitter so that clients dropped together by a
    // server restart do not all come back in the same instant.
    const base = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** this.attempt);
    const delay = Math.min(MAX_BACKOFF_MS, base * (0.8 + Math.random() * 0.4));
    this.attempt += 1;
    this.retryAt = Date.now() + delay;
    this.setState("waiting");
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  setState(state) {
    if (state !== "waiting") this.retryAt = null;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, retryAt: this.retryAt } }));
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.type === "reply") {
      const waiter = this.pending.get(frame.id);
      if (!waiter) return;
      this.pending.delete(frame.id);
      clearTimeout(waiter.timer);
      if (frame.code >= 200 && frame.code < 300) waiter.resolve(frame.data);
      else waiter.reject(new SocketError(frame.code, frame.message, frame.data));
      return;
    }
    this.dispatchEvent(new CustomEvent("push", { detail: { type: frame.type, data: frame.data || {} } }));
  }

  /** Sends one frame and resolves with its reply's data; rejects with a SocketError.
   * A 429 is waited out and retried here, so callers only see it when it persists. */
  async request(type, data = {}, timeout = REQUEST_TIMEOUT_MS) {
    for (let tries = 0; ; tries += 1) {
      try {
        return await this.send(type, data, timeout);
      } catch (error) {
        if (error.code !== 429 || tries >= MAX_RATE_LIMIT_RETRIES) throw error;
        await sleep(error.data?.retry_after_ms ?? 1000);
      }
    }
  }

  send(type, data, timeout) {
    return new Promise((resolve, reject) => {
      if (!this.isOpen || !this.ws) {
        reject(new SocketError(0, "not connected"));
        return;
      }
      const id = this.nextId++;
      const ws = this.ws;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SocketError(0, "no reply"));
        // Replies come in order; one that never comes means the link is dead.
        if (this.ws === ws) this.drop();
      }, timeout);
      this.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ type, id, data }));
    });
  }

  keepalive() {
    this.request("ping", {}, 10_000).catch(() => {});
  }
}
