// Client-side state in one place. The controller (chat.js) writes it; the UI modules read it
// and re-render when the store says what changed. No DOM here.

const RECALLED = 3;
const PUSHED_USER_FIELDS = ["username", "nickname", "avatar", "online", "last_seen"];

function pick(object, keys) {
  return Object.fromEntries(keys.filter((key) => key in object).map((key) => [key, object[key]]));
}

/** The part of one conversation's history that this client holds, keyed by seq so that a
 * message arriving twice (push, then catch-up) is stored once. */
export class ConversationView {
  constructor() {
    this.bySeq = new Map();
    // The group's notices (NoticeVO: members added, removed or leaving, renamed, roles...),
    // by id: history pages and conversation.notice pushes may both bring one.
    this.noticesById = new Map();
    this.noticesCache = null;
    this.sortedCache = null;
    this.loadingOlder = false;
    this.loaded = false;
    this.changeSeq = 0; // the conversation's change seq this copy is current with (changed_after)
  }

  /** Adds or updates a message; returns true when something visible changed. `meId`: the
   * signed-in user, whose `me` on each reaction is kept when a pushed copy has none. */
  merge(message, meId = null) {
    const old = this.bySeq.get(message.seq);
    if (!old) {
      this.bySeq.set(message.seq, message.reactions ? { ...message, reactions: withMe(message.reactions, [], meId) } : { ...message });
      this.sortedCache = null;
      return true;
    }
    // Status only moves forward (unread → read, anything → recalled): an older copy of the
    // message (say, a history page fetched before a recall push) must not undo a change.
    const status = old.status === RECALLED || message.status === RECALLED ? RECALLED : Math.max(old.status, message.status);
    const merged = { ...old, ...message, status, content: status === RECALLED ? "" : message.content };
    // A pushed copy has no `me` on its reactions (PROTOCOL §2): keep what this user knows.
    if (message.reactions) merged.reactions = withMe(message.reactions, old.reactions, meId);
    if (status === RECALLED) merged.reactions = [];
    if (signature(merged) === signature(old)) return false;
    this.bySeq.set(message.seq, merged);
    this.sortedCache = null;
    return true;
  }

  /** Adds a notice; returns true when it is new. */
  mergeNotice(notice) {
    if (this.noticesById.has(notice.id)) return false;
    this.noticesById.set(notice.id, notice);
    this.noticesCache = null;
    return true;
  }

  /** Notices in the order they happened: each after the message `after_seq`, then by id. */
  notices() {
    if (!this.noticesCache) this.noticesCache = [...this.noticesById.values()].sort((a, b) => a.after_seq - b.after_seq || a.id - b.id);
    return this.noticesCache;
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

/** What a message shows: a change in any of it means a redraw. */
function signature(m) {
  return JSON.stringify([m.status, m.content, m.edited_at ?? null, m.reactions ?? [], m.reply_to ?? null, m.recalled_by ?? null, m.read_count ?? null]);
}

/** Reactions with the caller's `me` flag kept: from the copy itself when it has one, else
 * from the listed reactors (the first 10) or what was known before. */
export function withMe(reactions, before = [], meId = null) {
  return reactions.map((reaction) => {
    if ("me" in reaction) return reaction;
    const known = before?.find((r) => r.emoji === reaction.emoji)?.me ?? false;
    return { ...reaction, me: reaction.user_ids.includes(meId) || (known && reaction.count > reaction.user_ids.length) };
  });
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
    // Pushes about a user (user.updated, presence) are counted: a REST answer to a request made
    // before the last of them carries older values of what it pushed, and must not bring them back.
    this.userPushes = 0;
    this.userPushedAt = new Map(); // user id → this.userPushes when their last push arrived
    this.outbox = []; // messages not yet acknowledged by the server, oldest first
    this.typing = new Map(); // conversation id → Map(user id → expiry ms)
    this.openId = null;
    this.connection = { state: "idle", retryAt: null };
    this.clockSkew = 0; // server time minus local time, in ms
    this.focus = null; // {id, seq}: a message to bring into view (a search hit)
  }

  /** what: "conversations" | "messages" | "typing" | "connection" | "users" | "open" | "focus" */
  changed(what, id = null) {
    this.dispatchEvent(new CustomEvent("change", { detail: { what, id } }));
  }

  /** `askedAt`: this.userPushes when the request whose answer holds `user` was made; pushes
   * pass nothing. */
  upsertUser(user, askedAt = Infinity) {
    if (!user) return;
    const old = this.users.get(user.id);
    const stale = old && (this.userPushedAt.get(user.id) ?? 0) > askedAt;
    this.users.set(user.id, stale ? { ...old, ...user, ...pick(old, PUSHED_USER_FIELDS) } : { ...old, ...user });
  }

  /** What a push (user.updated, presence) says about a user. */
  userPushed(user) {
    this.userPushedAt.set(user.id, ++this.userPushes);
    this.upsertUser(user);
  }

  /** `askedAt`: as for upsertUser, for the members and the peer the VO carries. */
  upsertConversation(vo, askedAt = Infinity) {
    const old = this.conversations.get(vo.id);
    const merged = { ...old, ...vo };
    // conversation.updated carries null markers (they differ per member): keep ours.
    for (const key of ["last_read_seq", "unread_count", "mention_count"]) {
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
      for (const member of vo.members) this.upsertUser(member, askedAt);
      merged.memberIds = vo.members.map((member) => member.id);
      // MemberVO carries each member's role in this conversation (owner, admin, member).
      merged.roles = new Map(vo.members.filter((member) => member.role).map((member) => [member.id, member.role]));
    } else if (old?.memberIds) {
      merged.memberIds = old.memberIds;
      merged.roles = old.roles;
    }
    if (vo.peer) this.upsertUser(vo.peer, askedAt);
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

  /** Pinned first, then latest activity first, as the server orders them. `archived`: the
   * archived ones instead of the others. */
  sortedConversations({ archived = false } = {}) {
    const activity = (c) => Math.max(c.last_message?.created_at ?? 0, c.updated_at ?? 0, c.created_at ?? 0);
    return [...this.conversations.values()]
      .filter((c) => !c.draft && Boolean(c.archived) === archived)
      .sort((a, b) => Boolean(b.pinned) - Boolean(a.pinned) || activity(b) - activity(a) || b.id - a.id);
  }

  /** Unread messages for the tab title: muted conversations do not count. */
  totalUnread() {
    let total = 0;
    for (const conversation of this.conversations.values()) if (!conversation.muted) total += conversation.unread_count || 0;
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
