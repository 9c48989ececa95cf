// The session's tokens (PROTOCOL §3): a short-lived access token, renewed silently before it
// expires with the session's refresh token, which works once. Kept in localStorage so that a
// reload stays signed in. Tabs share them: a refresh runs under a Web Lock and first looks
// whether another tab refreshed already, because presenting a used refresh token again makes
// the server revoke the whole session as stolen. That look goes to IndexedDB, not
// localStorage: Chromium hands a tab's localStorage write to the other tabs a moment later,
// possibly after the lock has passed on, and a tab that then presented the token it still saw
// signed every tab out (tests/test_browser_account.py, two tabs); IndexedDB's transactions are
// seen by every tab in order. The socket needs none of this: it lives as long as its session; a
// reconnect takes the current token.

const KEY = "hubbub.session";
const OLD_KEY = "hubbub.token"; // a bare access token, kept before sessions existed
const EARLY_MS = 60_000; // refresh this long before expiry (a quarter of a shorter lifetime)
const RETRY_MS = 10_000; // the server could not be reached: try again after this

// The tokens every tab last got, in IndexedDB (see above); null where IndexedDB is missing or
// fails (then localStorage alone, as good as it gets).
const SHARED_DB = "hubbub";
const SHARED_STORE = "session";

function sharedStore(mode) {
  return new Promise((resolve, reject) => {
    const opening = indexedDB.open(SHARED_DB, 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore(SHARED_STORE);
    opening.onerror = () => reject(opening.error);
    opening.onsuccess = () => {
      const db = opening.result;
      const tx = db.transaction(SHARED_STORE, mode);
      for (const end of ["complete", "abort", "error"]) tx.addEventListener(end, () => db.close());
      resolve({ tx, store: tx.objectStore(SHARED_STORE) });
    };
  });
}

async function readShared() {
  try {
    const { store } = await sharedStore("readonly");
    return await new Promise((resolve, reject) => {
      const got = store.get(KEY);
      got.onsuccess = () => resolve(got.result ?? null);
      got.onerror = () => reject(got.error);
    });
  } catch {
    return null;
  }
}

/** `saved`, or nothing when null; resolves once other tabs would read it. */
async function writeShared(saved) {
  try {
    const { tx, store } = await sharedStore("readwrite");
    if (saved) store.put(saved, KEY);
    else store.delete(KEY);
    await new Promise((resolve, reject) => {
      tx.addEventListener("complete", resolve);
      tx.addEventListener("abort", () => reject(tx.error));
    });
  } catch {
    // No IndexedDB: localStorage alone.
  }
}

export class TokenKeeper {
  constructor(api) {
    this.api = api;
    this.saved = null; // {token, refresh_token, expires_at, lifetime} (ms)
    this.timer = null;
    this.running = null; // the refresh in flight, shared by everyone who needs it
    api.keeper = this;
    // Another tab's tokens (a late event may bring older ones than this tab has: harmless, as
    // the next refresh looks at the shared ones first).
    window.addEventListener("storage", (event) => {
      if (event.key === KEY && event.newValue && this.api.token) this.use(JSON.parse(event.newValue));
    });
  }

  /** Take the tokens of a login or refresh answer; resolves once every tab would see them. */
  adopt(answer) {
    const lifetime = answer.expires_in * 1000;
    const saved = { token: answer.token, refresh_token: answer.refresh_token, expires_at: Date.now() + lifetime, lifetime };
    localStorage.setItem(KEY, JSON.stringify(saved));
    localStorage.removeItem(OLD_KEY);
    this.use(saved);
    return writeShared(saved);
  }

  /** At start-up: whether tokens were stored (then api.token is set). */
  load() {
    const stored = localStorage.getItem(KEY);
    if (stored) {
      this.use(JSON.parse(stored));
      return true;
    }
    this.api.token = localStorage.getItem(OLD_KEY);
    return Boolean(this.api.token);
  }

  clear() {
    clearTimeout(this.timer);
    this.saved = null;
    localStorage.removeItem(KEY);
    localStorage.removeItem(OLD_KEY);
    writeShared(null);
  }

  use(saved) {
    this.saved = saved;
    this.api.token = saved.token;
    this.schedule();
  }

  refreshAt(saved = this.saved) {
    return saved.expires_at - Math.min(EARLY_MS, saved.lifetime / 4);
  }

  schedule(delay = null) {
    clearTimeout(this.timer);
    if (!this.saved?.refresh_token) return;
    const wait = delay ?? Math.max(0, this.refreshAt() - Date.now());
    this.timer = setTimeout(() => this.refresh().catch(() => this.schedule(RETRY_MS)), wait);
  }

  /** Before a request: refresh first when the token is about to expire (a sleeping laptop
   * misses its timer). Never throws: the request reports what went wrong. */
  async fresh() {
    if (this.saved?.refresh_token && Date.now() >= this.refreshAt()) await this.recover();
  }

  /** After a 401 or before a request: whether a working token is in hand now. */
  async recover() {
    try {
      return await this.refresh();
    } catch {
      return false;
    }
  }

  /** Resolves true with a new token, false when the session is over (401/403); throws when
   * the server cannot be reached. */
  refresh() {
    if (!this.running) this.running = this.refreshLocked().finally(() => (this.running = null));
    return this.running;
  }

  refreshLocked() {
    const run = async () => {
      const before = this.saved;
      const stored = JSON.parse(localStorage.getItem(KEY) || "null");
      if (!before || !stored) return false; // signed out meanwhile, here or in another tab
      const latest = (await readShared()) ?? stored;
      if (latest.refresh_token !== before.refresh_token) {
        this.use(latest); // another tab refreshed: its tokens are ours too
        return true;
      }
      // Renewed by another tab a moment ago, and this tab had heard already (the tabs' timers
      // fire together): nothing is due, and one renewal is enough.
      if (Date.now() < this.refreshAt(latest)) return true;
      const response = await fetch("/api/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: before.refresh_token }),
      });
      if (response.ok) {
        // The newest tokens whatever this tab was handed meanwhile (a late storage event may
        // bring older ones): dropping them would leave only the used refresh token. Not after
        // signing out, though.
        const answer = (await response.json()).data;
        if (this.saved) await this.adopt(answer);
        return true;
      }
      if (response.status === 401 || response.status === 403) return false;
      throw new Error(`refresh failed: ${response.status}`);
    };
    return navigator.locks ? navigator.locks.request("hubbub.refresh", run) : run();
  }
}
