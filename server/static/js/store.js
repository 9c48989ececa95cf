// Client-side state in one place. The controller (chat.js) writes it; the UI modules read it
// and re-render when the store says what changed. No DOM here.

const RECALLED = 3;

/** The part of one conversation's history that this client holds, keyed by seq so that a
 * message arriving twice (push, then catch-up) is stored once. */
export class ConversationView {
  constructor() {
    this.bySeq = new Map();
    // Membership and name changes seen live ({afterSeq, kind, userId, name}), shown in the
    // conversation between the messages. The server keeps no record of them in history.
    this.notices = [];
    this.sortedCache = null;
    this.loadingOlder = false;
    this.loaded = false;
  }

  /** Adds or updates a message; returns true when something visible changed. */
  merge(message) {
    const old = this.bySeq.get(message.seq);
    if (!old) {
      this.bySeq.set(message.seq, { ...message });
      this.sortedCache = null;
      return true;
    }
    // Status only moves forward (unread → read, anything → recalled): an older copy of the
    // message (say, a history page fetched before a recall push) must not undo a change.
    const status = old.status === RECALLED || message.status === RECALLED ? RECALLED : Math.max(old.status, message.status);
    const merged = { ...old, ...message, status, content: status === RECALLED ? "" : message.content };
    if (merged.status === old.status && merged.content === old.content) return false;
    this.bySeq.set(message.seq, merged);
    this.sortedCache = null;
    return true;
  }

  sorted() {
    if (!this.sortedCache) this.sortedCache = [...this.bySeq.values()].sort((a, b) => a.seq - b.seq);
    return this.sortedCache;
  }

  get minSeq() {
    const all = this.sorted();
    return all.length ? all[0].seq : null;
  }

  /** Seqs start at 1 with no gaps (PROTOCOL §2), so anything above 1 means older pages exist. */
  get hasOlder() {
    const min = this.minSeq;
    return min !== null && min > 1;
  }

  /** The highest seq held with nothing missing between it and the oldest one held: where
   * catch-up continues from (`after`), so that a hole can never be skipped over. */
  contiguousMax() {
    const all = this.sorted();
    if (!all.length) return 0;
    let top = all[0].seq;
    for (const message of all) {
      if (message.seq > top + 1) break;
      top = message.seq;
    }
    return top;
  }

  get maxSeq() {
    const all = this.sorted();
    return all.length ? all[all.length - 1].seq : 0;
  }
}

export class Store extends EventTarget {
  constructor() {
    super();
    this.reset();
  }

  reset() {
    this.me = null;
    this.conversations = new Map(); // id → ConversationVO (+ peerReadSeq, members)
    this.views = new Map(); // id → ConversationView, for conversations opened at least once
    this.users = new Map(); // id → UserVO, for names and presence
    this.outbox = []; // messages not yet acknowledged by the server, oldest first
    this.typing = new Map(); // conversation id → Map(user id → expiry ms)
    this.openId = null;
    this.connection = { state: "idle", retryAt: null };
    this.clockSkew = 0; // server time minus local time, in ms
  }

  /** what: "conversations" | "messages" | "typing" | "connection" | "users" | "open" */
  changed(what, id = null) {
    this.dispatchEvent(new CustomEvent("change", { detail: { what, id } }));
  }

  upsertUser(user) {
    if (!user) return;
    const old = this.users.get(user.id);
    this.users.set(user.id, { ...old, ...user });
  }

  upsertConversation(vo) {
    const old = this.conversations.get(vo.id);
    const merged = { ...old, ...vo };
    // conversation.updated carries null markers (they differ per member): keep ours.
    for (const key of ["last_read_seq", "unread_count"]) {
      if (vo[key] === null || vo[key] === undefined) merged[key] = old ? old[key] : 0;
    }
    if (vo.unread_count !== null && vo.unread_count !== undefined) {
      // A server count covers every seq up to its last_seq. Pushes seen above that (see
      // Chat.firstSighting) are not in it yet, so the ones that counted are added on top.
      const later = [...(old?.sightings ?? [])].filter(([seq]) => seq > vo.last_seq);
      merged.sightings = new Map(later);
      merged.countedUpTo = vo.last_seq;
      merged.unread_count = vo.unread_count + later.filter(([, counted]) => counted).length;
    }
    // A pushed copy may be older than what we already hold.
    if (old && old.last_seq > merged.last_seq) {
      merged.last_seq = old.last_seq;
      merged.last_message = old.last_message;
    }
    merged.peerReadSeq = Math.max(old?.peerReadSeq ?? 0, vo.peerReadSeq ?? 0);
    if (vo.members) {
      for (const member of vo.members) this.upsertUser(member);
      merged.memberIds = vo.members.map((member) => member.id);
    } else if (old?.memberIds) {
      merged.memberIds = old.memberIds;
    }
    if (vo.peer) this.upsertUser(vo.peer);
    this.conversations.set(vo.id, merged);
    return merged;
  }

  removeConversation(id) {
    this.conversations.delete(id);
    this.views.delete(id);
    this.typing.delete(id);
    this.outbox = this.outbox.filter((entry) => entry.conversation_id !== id);
    this.saveOutbox();
  }

  /** The peer's current view of itself (presence updates land in users, not in the VO). */
  peerOf(conversation) {
    if (!conversation?.peer) return null;
    return this.users.get(conversation.peer.id) || conversation.peer;
  }

  /** Latest activity first, as the server orders them. */
  sortedConversations() {
    const activity = (c) => Math.max(c.last_message?.created_at ?? 0, c.updated_at ?? 0, c.created_at ?? 0);
    return [...this.conversations.values()].filter((c) => !c.draft).sort((a, b) => activity(b) - activity(a) || b.id - a.id);
  }

  totalUnread() {
    let total = 0;
    for (const conversation of this.conversations.values()) total += conversation.unread_count || 0;
    return total;
  }

  typingIn(conversationId) {
    const now = Date.now();
    const who = this.typing.get(conversationId);
    if (!who) return [];
    return [...who.entries()].filter(([, until]) => until > now).map(([userId]) => userId);
  }

  // The outbox outlives a page reload: a message typed offline is still sent later.
  outboxKey() {
    return this.me ? `hubbub.outbox.${this.me.id}` : null;
  }

  saveOutbox() {
    const key = this.outboxKey();
    if (!key) return;
    try {
      // A file not uploaded yet cannot be kept across a reload; only what can be sent is saved.
      const kept = this.outbox.filter((entry) => entry.content);
      if (kept.length) localStorage.setItem(key, JSON.stringify(kept));
      else localStorage.removeItem(key);
    } catch {
      // storage full or disabled: the outbox still works for this page's lifetime
    }
  }

  loadOutbox() {
    const key = this.outboxKey();
    try {
      const saved = key ? JSON.parse(localStorage.getItem(key) || "[]") : [];
      // Whatever was being sent when the page went away is simply sent again: the
      // client_msg_id makes the server answer with the original message if it arrived.
      this.outbox = saved.map((entry) => ({ ...entry, state: entry.state === "failed" ? "failed" : "queued" }));
    } catch {
      this.outbox = [];
    }
  }
}
