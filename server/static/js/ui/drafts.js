// Unsent text per conversation, kept in localStorage as it is typed, so that switching
// conversations, a reload or a crashed tab loses nothing. Per user; signing out on purpose
// forgets them (a shared computer), an expired session keeps them.

const SAVE_AFTER_MS = 300;

export class Drafts {
  constructor(store) {
    this.store = store;
    this.texts = new Map(); // conversation id → text
    this.loadedFor = null;
    this.timer = null;
  }

  key(userId = this.store.me?.id) {
    return userId ? `hubbub.drafts.${userId}` : null;
  }

  /** The signed-in user's drafts, read once per sign-in. */
  ready() {
    const me = this.store.me?.id ?? null;
    if (this.loadedFor === me) return;
    this.loadedFor = me;
    try {
      const saved = JSON.parse(localStorage.getItem(this.key()) || "{}");
      this.texts = new Map(Object.entries(saved).map(([id, text]) => [Number(id), text]));
    } catch {
      this.texts = new Map();
    }
  }

  get(id) {
    this.ready();
    return this.texts.get(id) || "";
  }

  set(id, text) {
    this.ready();
    if (text.trim()) this.texts.set(id, text);
    else this.texts.delete(id);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.save(), SAVE_AFTER_MS);
  }

  save() {
    clearTimeout(this.timer);
    const key = this.key(this.loadedFor);
    if (!key) return;
    // A draft chat with someone (negative id) does not outlive the page: it has no address.
    const kept = Object.fromEntries([...this.texts].filter(([id]) => id > 0));
    try {
      if (Object.keys(kept).length) localStorage.setItem(key, JSON.stringify(kept));
      else localStorage.removeItem(key);
    } catch {
      // storage full or disabled: the drafts last for this page
    }
  }

  /** Signing out on purpose: nothing of this user's typing stays behind. */
  forget() {
    clearTimeout(this.timer);
    const key = this.key(this.loadedFor ?? this.store.me?.id);
    if (key) localStorage.removeItem(key);
    this.texts = new Map();
    this.loadedFor = null;
  }

  /** Another user signs in on this page: read theirs on first use. */
  reset() {
    this.save();
    this.texts = new Map();
    this.loadedFor = null;
  }
}
