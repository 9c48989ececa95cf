// The controller: turns user actions into REST calls and socket frames, and server pushes
// into store changes. It owns the three guarantees the UI relies on:
//   - no duplicates: messages are keyed by seq, and an outbox entry is dropped as soon as a
//     message with its client_msg_id shows up, from whichever path;
//   - no holes: after every (re)connect, and whenever a push skips a seq, history is fetched
//     with after = the highest seq held without a gap below it, page by page;
//   - nothing typed is lost: sends go through an outbox (kept in localStorage) that is sent
//     in order, and re-sent after a reconnect with the same client_msg_id, which the server
//     answers with the original message when the first try had arrived.

import { ConversationView } from "./store.js";
import { ChatSocket } from "./socket.js";
import { displayName, fileReference, formatSize, uuid } from "./format.js";
import { UPLOAD_MAX_BYTES, isRetryable } from "./limits.js";

const PAGE = 100; // the server's history page limit: a full page means "there may be more"
const FIRST_PAGE = 50;
const UNREAD_CONTEXT = 5; // read messages shown above the first unread one
const TYPING_SEND_EVERY_MS = 3000;
const TYPING_SHOWN_MS = 5000;
const RECALLED = 3;
const READ = 2;

/** What a reply shows of the message it answers until the server's copy (QuoteVO) comes. */
function quoteOf(message) {
  const preview = message.msg_type === 1 ? [...message.content].slice(0, 100).join("") : (fileReference(message)?.name ?? "");
  return { id: message.id, seq: message.seq, sender_id: message.sender_id, msg_type: message.msg_type, status: message.status, preview };
}

// A draft direct chat (see Chat.openDirect) is keyed by the person's id, negated: real
// conversation ids are positive, so the two can never meet.
const draftId = (peerId) => -peerId;
const peerOfDraft = (id) => (id < 0 ? -id : null);

export class Chat {
  constructor(api, store) {
    this.api = api;
    this.store = store;
    this.socket = new ChatSocket(() => {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      // Browsers cannot put headers on a WebSocket handshake; the token goes in the query.
      return `${scheme}//${location.host}/ws?token=${encodeURIComponent(this.api.token)}`;
    });
    this.socket.addEventListener("state", (event) => {
      this.store.connection = event.detail;
      this.store.changed("connection");
    });
    this.socket.addEventListener("open", () => this.onConnected());
    this.socket.addEventListener("push", (event) => this.onPush(event.detail));
    this.socket.addEventListener("handshake-failed", () => this.checkToken());
    this.socket.addEventListener("revoked", () => this.onSignedOut?.());
    this.synced = false; // true once the catch-up after the latest connect has finished
    this.pumping = false;
    this.fills = new Map(); // conversation id → running gap fill
    this.refreshes = new Map(); // conversation id → pending refresh timer
    // Conversation id → the forgetting's number (this.forgets) when we left it or lost it: an
    // answer to a request made before then is stale and must not bring it back.
    this.forgottenAt = new Map();
    this.forgets = 0;
    this.markReadTimer = null;
    this.lastTypingSent = 0;
    this.typingTimers = new Map();
    this.readCountTimers = new Map(); // conversation id → pending read count refresh
    this.uploads = new Map(); // client_msg_id → AbortController of its running upload
    this.files = new Map(); // client_msg_id → File not uploaded yet (kept for a retry)
    this.onSignedOut = null; // set by main.js
    this.onNotice = null; // set by main.js: tells the user something happened elsewhere
    this.onIncoming = null; // set by main.js: someone else's new message (notifications)
    this.seenUpTo = new Map(); // conversation id → highest seq the user has had on screen
  }

  // --- lifecycle --------------------------------------------------------------------------

  async start(me) {
    this.store.me = me;
    this.store.upsertUser(me);
    this.store.loadOutbox();
    await this.refreshConversations();
    this.socket.start();
  }

  stop() {
    this.socket.stop();
    this.synced = false;
    for (const timer of this.refreshes.values()) clearTimeout(timer);
    this.refreshes.clear();
    for (const timer of this.typingTimers.values()) clearTimeout(timer);
    this.typingTimers.clear();
    for (const timer of this.readCountTimers.values()) clearTimeout(timer);
    this.readCountTimers.clear();
    for (const controller of this.uploads.values()) controller.abort();
  }

  /** A failed handshake hides its HTTP status from the page: ask REST whether the token is
   * still good. A 401 there signs out (Api.onUnauthorized); a network error just waits. */
  async checkToken() {
    try {
      await this.api.me();
    } catch {
      // handled by onUnauthorized, or a network problem the backoff takes care of
    }
  }

  /** Every successful (re)connect: catch up on what was missed, then send what was queued.
   * Sending waits for the catch-up so that our queued messages land after what we missed,
   * in the order the user saw. A failure other than a lost connection (a 503, say) is
   * retried on the same connection, or the outbox would wait for the next reconnect. */
  async onConnected() {
    const ws = this.socket.ws;
    const current = () => this.socket.ws === ws && this.socket.isOpen;
    this.synced = false;
    this.measureClock();
    for (let delay = 1000; current(); delay = Math.min(delay * 2, 10_000)) {
      try {
        await this.catchUp();
      } catch (error) {
        if (error.code === 0) return; // the connection (or the network) went away: next connect starts over
        console.warn("catch-up failed, retrying", error);
        await new Promise((resolve) => setTimeout(resolve, delay));
        continue;
      }
      if (!current()) return;
      this.synced = true;
      this.markOpenRead();
      this.pumpOutbox();
      return;
    }
  }

  /** The server's clock minus ours, so that the recall button disappears when the server's
   * recall window ends even if this device's clock is off. */
  async measureClock() {
    try {
      const sent = Date.now();
      const { ts } = await this.socket.request("ping");
      this.store.clockSkew = ts - (sent + Date.now()) / 2;
    } catch {
      // keep the previous estimate
    }
  }

  async catchUp() {
    // The list brings conversations created meanwhile and the right unread counts.
    await this.refreshConversations();
    for (const [id, view] of [...this.store.views]) {
      const conversation = this.store.conversations.get(id);
      if (!conversation || conversation.draft || !view.loaded) continue;
      await this.fillAfter(id);
      // Messages already held may have been edited, recalled or reacted to while we were
      // away: the changes after the last one we know, page by page (PROTOCOL §4, edits).
      for (;;) {
        const changed = await this.history(id, { changed_after: view.changeSeq, limit: PAGE });
        this.mergeMessages(id, changed);
        if (changed.length < PAGE) break;
      }
      // Read receipts are no change: our messages the peer has read show in the newest page.
      if (conversation.type === "direct") this.mergeMessages(id, await this.history(id, { limit: PAGE }));
    }
  }

  // --- conversations ----------------------------------------------------------------------

  async refreshConversations() {
    const askedAt = this.forgets;
    const usersAskedAt = this.store.userPushes;
    const list = await this.api.listConversations();
    const seen = new Set();
    for (const vo of list) {
      if (this.forgottenSince(vo.id, askedAt)) continue;
      seen.add(vo.id);
      this.store.upsertConversation(vo, usersAskedAt);
    }
    for (const [id, conversation] of [...this.store.conversations]) {
      if (!seen.has(id) && !conversation.draft) this.forgetConversation(id);
    }
    this.store.changed("conversations");
  }

  /** Reloads one conversation's VO (unread count, members), a moment later so that a burst
   * of pushes costs one request. */
  refreshConversation(id, delay = 150) {
    clearTimeout(this.refreshes.get(id));
    this.refreshes.set(
      id,
      setTimeout(async () => {
        this.refreshes.delete(id);
        const askedAt = this.forgets;
        const usersAskedAt = this.store.userPushes;
        try {
          const vo = await this.api.getConversation(id);
          if (this.forgottenSince(id, askedAt)) return;
          this.store.upsertConversation(vo, usersAskedAt);
          this.store.changed("conversations");
          if (id === this.store.openId) this.store.changed("messages", id);
        } catch (error) {
          if (error.code === 404) this.forgetConversation(id);
        }
      }, delay),
    );
  }

  /** The conversation is gone for us (removed, deleted, left). Its unsent texts are handed to
   * onForgotten with it, after the page has let go of it: nothing typed is dropped unseen. */
  /** Whether the conversation was forgotten after a request made at `askedAt` (this.forgets). */
  forgottenSince(id, askedAt) {
    return (this.forgottenAt.get(id) ?? 0) > askedAt;
  }

  forgetConversation(id) {
    this.forgottenAt.set(id, ++this.forgets);
    clearTimeout(this.refreshes.get(id));
    this.refreshes.delete(id);
    const conversation = this.store.conversations.get(id);
    const unsent = this.store.outbox.filter((entry) => entry.conversation_id === id && entry.msg_type === 1 && entry.content).map((entry) => entry.content);
    this.store.removeConversation(id);
    if (this.store.openId === id) {
      this.store.openId = null;
      this.store.changed("open");
    }
    this.store.changed("conversations");
    if (conversation) this.onForgotten?.(conversation, unsent);
  }

  async openConversation(id) {
    if (this.markReadTimer !== null) this.flushMarkRead(); // what was seen where we were
    this.store.openId = id;
    this.store.changed("open");
    this.store.changed("conversations");
    const conversation = this.store.conversations.get(id);
    if (!conversation) return;
    if (conversation.type === "group" && !conversation.memberIds) this.refreshConversation(id, 0);
    let view = this.store.views.get(id);
    if (!view) {
      view = new ConversationView();
      this.store.views.set(id, view);
    }
    if (conversation.draft) {
      view.loaded = true; // nothing on the server yet
      this.store.changed("messages", id);
    } else if (!view.loaded) {
      // Every change up to here shows in the pages about to be fetched.
      view.changeSeq = Math.max(view.changeSeq, conversation.last_change_seq ?? 0);
      try {
        // Unread messages beyond the newest page: start at the first unread one (with a few
        // read ones for context) and fetch forward from there, so it opens where reading stopped.
        const unreadFrom = conversation.unread_count ? conversation.last_read_seq + 1 : conversation.last_seq + 1;
        if (conversation.last_seq - unreadFrom >= FIRST_PAGE - UNREAD_CONTEXT) {
          this.mergeMessages(id, await this.history(id, { after: Math.max(0, unreadFrom - 1 - UNREAD_CONTEXT), limit: PAGE }));
          view.loaded = true;
          this.fillAfter(id).catch(() => {});
        } else {
          this.mergeMessages(id, await this.history(id, { limit: FIRST_PAGE }));
          view.loaded = true;
          // Pushes that came during the load may sit above a hole; close it.
          if (view.contiguousMax() < view.maxSeq) this.fillAfter(id).catch(() => {});
        }
      } catch (error) {
        console.warn("history failed", error);
      }
      this.store.changed("messages", id);
    }
  }

  closeConversation() {
    if (this.markReadTimer !== null) this.flushMarkRead();
    this.store.openId = null;
    this.store.changed("open");
    this.store.changed("conversations");
  }

  /** One older page, when the user scrolls to the top. */
  async loadOlder(id) {
    const view = this.store.views.get(id);
    if (!view || !view.loaded || view.loadingOlder || !view.hasOlder) return false;
    view.loadingOlder = true;
    try {
      this.mergeMessages(id, await this.history(id, { before: view.minSeq, limit: FIRST_PAGE }), { older: true });
      return true;
    } catch {
      return false;
    } finally {
      view.loadingOlder = false;
    }
  }

  /** Opens the direct chat with a person: the one that exists, or else a draft that only
   * this page knows. The server makes the conversation with the first message (send_message
   * by receiver_id), so looking someone up leaves nothing behind in either person's list. */
  openDirect(peer) {
    const existing = [...this.store.conversations.values()].find((c) => c.type === "direct" && !c.draft && c.peer?.id === peer.id);
    if (existing) return this.openConversation(existing.id);
    const now = Date.now();
    const id = draftId(peer.id);
    this.store.upsertConversation({ id, type: "direct", draft: true, peer, name: null, last_seq: 0, last_read_seq: 0, unread_count: 0, last_message: null, created_at: now, updated_at: now });
    return this.openConversation(id);
  }

  /** The draft with a person became the real conversation `realId` (our first message, or the
   * peer's): what was queued there moves over, and the open chat follows. */
  async adoptDraft(peerId, realId) {
    const id = draftId(peerId);
    for (const entry of this.store.outbox) if (entry.conversation_id === id) entry.conversation_id = realId;
    this.store.saveOutbox();
    if (!this.store.conversations.has(id)) return;
    const wasOpen = this.store.openId === id;
    this.store.removeConversation(id);
    if (!this.store.conversations.has(realId)) this.store.upsertConversation(await this.api.getConversation(realId));
    this.store.changed("conversations");
    if (wasOpen) this.openConversation(realId);
  }

  async createGroup(name, memberIds) {
    const vo = await this.api.createGroup(name, memberIds);
    this.store.upsertConversation(vo);
    this.store.changed("conversations");
    await this.openConversation(vo.id);
  }

  // --- groups -----------------------------------------------------------------------------
  // The pushes that follow (conversation.updated, member.*, conversation.deleted) update the
  // store; these only make the request and apply its answer at once.

  async updateGroup(id, fields) {
    this.store.upsertConversation(await this.api.updateGroup(id, fields));
    this.store.changed("conversations");
    this.store.changed("open");
  }

  async renameGroup(id, name) {
    this.store.upsertConversation(await this.api.renameGroup(id, name));
    this.store.changed("conversations");
    this.store.changed("open");
  }

  async addMembers(id, userIds) {
    const members = await this.api.addMembers(id, userIds);
    this.store.upsertConversation({ id, members });
    this.store.changed("conversations");
  }

  /** Removes a member, or leaves when `userId` is our own. */
  async removeMember(id, userId) {
    const leaving = userId === this.store.me.id;
    await this.api.removeMember(id, userId);
    if (leaving) this.forgetConversation(id);
    else this.refreshConversation(id, 0);
  }

  async deleteGroup(id) {
    await this.api.deleteConversation(id);
    this.forgetConversation(id);
  }

  /** Keeps the group notices (NoticeVO) of a history page or a push, each once by id, to
   * show among the messages after the message `after_seq` (PROTOCOL §4, notices). */
  mergeNotices(id, notices) {
    if (!notices.length || !this.store.conversations.has(id)) return;
    let view = this.store.views.get(id);
    if (!view) {
      view = new ConversationView();
      this.store.views.set(id, view);
    }
    let changed = false;
    for (const notice of notices) {
      if (!view.mergeNotice(notice)) continue;
      changed = true;
      for (const userId of [notice.actor_id, notice.subject_id]) if (userId !== null && !this.store.users.has(userId)) this.fetchUser(userId);
    }
    if (changed) this.store.changed("messages", id);
  }

  // --- history ----------------------------------------------------------------------------

  /** History over the socket when it is up (one connection, no extra handshakes), else REST:
   * the page's messages; the group notices among them go into the view on the way. */
  async history(id, params) {
    const page = this.socket.isOpen ? await this.socket.request("history", { conversation_id: id, ...params, with_notices: true }) : await this.api.history(id, params);
    this.mergeNotices(id, page.notices);
    return page.messages;
  }

  /** Fetches everything after the highest seq held without a hole, page by page, until a
   * short page says there is no more. One run per conversation at a time. */
  fillAfter(id) {
    const running = this.fills.get(id);
    if (running) {
      running.again = true;
      return running.promise;
    }
    const state = { again: false, promise: null };
    state.promise = (async () => {
      try {
        do {
          state.again = false;
          for (;;) {
            const view = this.store.views.get(id);
            if (!view) return;
            const page = await this.history(id, { after: view.contiguousMax(), limit: PAGE });
            this.mergeMessages(id, page);
            if (page.length < PAGE) break;
          }
        } while (state.again);
      } finally {
        this.fills.delete(id);
      }
    })();
    this.fills.set(id, state);
    return state.promise;
  }

  /** Puts server messages into the conversation's view and the sidebar's summary. */
  mergeMessages(id, messages, { older = false } = {}) {
    if (!this.store.me) return; // an answer that arrived after signing out
    const conversation = this.store.conversations.get(id);
    const view = this.store.views.get(id);
    let changed = false;
    for (const message of messages) {
      this.settleOutbox(message);
      if (view) view.changeSeq = Math.max(view.changeSeq, message.change_seq ?? 0);
      if (view && view.merge(message, this.store.me.id)) changed = true;
      if (conversation && message.seq >= (conversation.last_message?.seq ?? 0)) {
        // A message after the ones it had brings an archived conversation back (PROTOCOL §2).
        if (message.seq > conversation.last_seq) conversation.archived = false;
        conversation.last_message = message;
        conversation.last_seq = Math.max(conversation.last_seq, message.seq);
      }
      if (conversation?.type === "direct") {
        // The peer has read up to here when the server marked our message read, and also
        // when the peer wrote this message: sending moves the sender's own read marker
        // (PROTOCOL §2), though no message.read is pushed for that.
        const peerRead = message.sender_id !== this.store.me.id || message.status === READ;
        if (peerRead) conversation.peerReadSeq = Math.max(conversation.peerReadSeq || 0, message.seq);
      }
    }
    if (changed || messages.length) {
      this.store.changed("messages", id);
      if (!older) this.store.changed("conversations");
    }
  }

  // --- sending ----------------------------------------------------------------------------

  /** Queues a message; it shows at once as pending and goes out when the socket is up.
   * `replyTo`: the message (MessageVO) it answers, quoted above it. */
  send(conversationId, content, msgType = 1, { replyTo = null } = {}) {
    const entry = {
      client_msg_id: uuid(),
      conversation_id: conversationId,
      content,
      msg_type: msgType,
      created_at: Date.now(),
      state: "queued",
      error: null,
      reply_to: replyTo ? quoteOf(replyTo) : null,
    };
    this.store.outbox.push(entry);
    this.store.saveOutbox();
    this.store.changed("messages", conversationId);
    this.pumpOutbox();
    return entry;
  }

  /** Queues a file: its outbox entry uploads first (with progress, cancellable), then is
   * sent as the image (2) or file (3) message that refers to it. Messages queued after it in
   * the same conversation wait for it, so they arrive in the order they were sent. */
  sendFile(conversationId, file) {
    const entry = {
      client_msg_id: uuid(),
      conversation_id: conversationId,
      content: "",
      msg_type: 3,
      created_at: Date.now(),
      state: "uploading",
      progress: 0,
      name: file.name,
      size: file.size,
      error: null,
    };
    this.store.outbox.push(entry);
    this.files.set(entry.client_msg_id, file);
    this.upload(entry);
    return entry;
  }

  async upload(entry) {
    const controller = new AbortController();
    this.uploads.set(entry.client_msg_id, controller);
    entry.state = "uploading";
    entry.progress = 0;
    entry.error = null;
    this.store.changed("messages", entry.conversation_id);
    try {
      const vo = await this.api.uploadFile(this.files.get(entry.client_msg_id), {
        signal: controller.signal,
        onProgress: (fraction) => {
          entry.progress = fraction;
          this.store.changed("messages", entry.conversation_id);
        },
      });
      entry.content = JSON.stringify({ file_id: vo.id, name: vo.name, size: vo.size, mime: vo.mime });
      // The type is the server's sniffed one: only raster images are shown inline.
      entry.msg_type = /^image\/(png|jpeg|gif|webp|bmp)$/.test(vo.mime) ? 2 : 3;
      entry.state = "queued";
      this.files.delete(entry.client_msg_id);
      this.store.saveOutbox();
    } catch (error) {
      if (error.code === -1) return; // cancelled: cancelUpload has removed the entry
      entry.state = "failed";
      entry.retryable = isRetryable(error.code);
      entry.error = error.code === 413 ? `too large: files can be at most ${formatSize(UPLOAD_MAX_BYTES)}` : error.code === 0 ? "no connection" : error.message;
    } finally {
      this.uploads.delete(entry.client_msg_id);
    }
    this.store.changed("messages", entry.conversation_id);
    this.pumpOutbox();
  }

  cancelUpload(clientMsgId) {
    this.uploads.get(clientMsgId)?.abort();
    this.discardSend(clientMsgId);
  }

  /** Sends queued messages one at a time, in order, while the socket is up and synced. */
  async pumpOutbox() {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.socket.isOpen && this.synced) {
        const entry = this.nextToSend();
        if (!entry) break;
        // Mark what we are answering as read first: a send moves our marker on the server
        // too, but the peer is only told (message.read, ✓✓) by an explicit mark_read.
        await this.markRead(entry.conversation_id, this.store.conversations.get(entry.conversation_id)?.last_seq ?? 0);
        entry.state = "sending";
        this.store.changed("messages", entry.conversation_id);
        try {
          // A draft's first message names the person; the server makes the conversation.
          const peerId = peerOfDraft(entry.conversation_id);
          const message = await this.socket.request("send_message", {
            ...(peerId ? { receiver_id: peerId } : { conversation_id: entry.conversation_id }),
            content: entry.content,
            msg_type: entry.msg_type,
            client_msg_id: entry.client_msg_id,
            ...(entry.reply_to ? { reply_to: entry.reply_to.id } : {}),
          });
          if (peerId) await this.adoptDraft(peerId, message.conversation_id);
          this.afterOwnMessage(message);
        } catch (error) {
          if (error.code === 0) {
            // Connection lost before the reply: it may or may not have arrived. Sent again
            // with the same client_msg_id after the reconnect, so it is stored at most once.
            entry.state = "queued";
            this.store.changed("messages", entry.conversation_id);
            break;
          }
          if (error.code === 503 || error.code === 429) {
            entry.state = "queued";
            await new Promise((resolve) => setTimeout(resolve, error.data?.retry_after_ms ?? 2000));
            continue;
          }
          if (error.code === 404) {
            this.forgetConversation(entry.conversation_id);
            continue;
          }
          entry.state = "failed";
          entry.retryable = isRetryable(error.code);
          entry.error = error.code === 413 ? "too long" : error.message;
          this.store.saveOutbox();
          this.store.changed("messages", entry.conversation_id);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /** The oldest entry ready to go. An upload still running holds back what was queued after
   * it in its conversation; a failed entry holds back nothing. */
  nextToSend() {
    const uploading = new Set();
    for (const entry of this.store.outbox) {
      if (entry.state === "uploading") uploading.add(entry.conversation_id);
      else if (entry.state !== "failed" && !uploading.has(entry.conversation_id)) return entry;
    }
    return null;
  }

  retrySend(clientMsgId) {
    const entry = this.store.outbox.find((e) => e.client_msg_id === clientMsgId);
    if (!entry) return;
    if (!entry.content) return this.upload(entry); // the upload itself failed
    entry.state = "queued";
    entry.error = null;
    this.store.saveOutbox();
    this.store.changed("messages", entry.conversation_id);
    this.pumpOutbox();
  }

  discardSend(clientMsgId) {
    const entry = this.store.outbox.find((e) => e.client_msg_id === clientMsgId);
    if (!entry) return;
    this.store.outbox = this.store.outbox.filter((e) => e !== entry);
    this.files.delete(clientMsgId);
    this.store.saveOutbox();
    this.store.changed("messages", entry.conversation_id);
  }

  /** A server copy of a message we queued: the outbox entry has done its job. */
  settleOutbox(message) {
    if (!message.client_msg_id || message.sender_id !== this.store.me.id) return;
    const before = this.store.outbox.length;
    this.store.outbox = this.store.outbox.filter((e) => e.client_msg_id !== message.client_msg_id);
    if (this.store.outbox.length !== before) this.store.saveOutbox();
  }

  /** Our own message, from the send reply or from one of our other devices. */
  afterOwnMessage(message) {
    const conversation = this.store.conversations.get(message.conversation_id);
    this.mergeAndCheck(message);
    if (conversation && message.seq >= conversation.last_seq) {
      // Sending moves the sender's own read marker to the message (PROTOCOL §2).
      conversation.last_read_seq = Math.max(conversation.last_read_seq, message.seq);
      conversation.unread_count = 0;
      this.store.changed("conversations");
    }
  }

  /** Merges one live message; a seq that skips ahead of what we hold means a hole to fill. */
  mergeAndCheck(message) {
    const id = message.conversation_id;
    this.mergeMessages(id, [message]);
    const view = this.store.views.get(id);
    if (view && view.loaded && view.contiguousMax() < view.maxSeq) this.fillAfter(id).catch(() => {});
  }

  /** Edits a text message; the reply carries it as edited (the push skips this socket). */
  async editMessage(messageId, content) {
    const message = await this.socket.request("edit_message", { message_id: messageId, content });
    this.mergeMessages(message.conversation_id, [message]);
    return message;
  }

  /** Adds (or takes back) our reaction; the reply carries the caller's `me`. */
  async react(messageId, emoji, add) {
    const message = await this.socket.request(add ? "add_reaction" : "remove_reaction", { message_id: messageId, emoji });
    this.mergeMessages(message.conversation_id, [message]);
  }

  /** Sends a copy of a message into another conversation (PROTOCOL §4, forwards). */
  async forward(messageId, conversationId) {
    const message = await this.socket.request("forward_message", { message_id: messageId, conversation_id: conversationId, client_msg_id: uuid() });
    this.afterOwnMessage(message);
    return message;
  }

  /** Makes a member an admin or a member again (the owner's call). */
  async setRole(id, userId, role) {
    await this.api.setRole(id, userId, role);
    this.refreshConversation(id, 0);
  }

  async transferOwnership(id, userId) {
    this.store.upsertConversation(await this.api.transferOwnership(id, userId));
    this.store.changed("conversations");
    this.store.changed("open");
    this.refreshConversation(id, 0);
  }

  /** Opens a conversation at one of its messages (a search hit): the page around it when the
   * conversation is not loaded yet, older pages until it is there otherwise. */
  async openAt(id, seq) {
    const view = this.store.views.get(id);
    const conversation = this.store.conversations.get(id);
    if (conversation && !view?.loaded) {
      const fresh = new ConversationView();
      fresh.changeSeq = conversation.last_change_seq ?? 0;
      this.store.views.set(id, fresh);
      this.mergeMessages(id, await this.history(id, { after: Math.max(0, seq - 1 - UNREAD_CONTEXT), limit: PAGE }));
      fresh.loaded = true;
      this.fillAfter(id).catch(() => {});
    }
    await this.openConversation(id);
    this.store.focus = { id, seq };
    this.store.changed("focus", id);
  }

  /** Mute, pin or archive for this user only; other devices hear of it (conversation.updated). */
  async updateSettings(id, settings) {
    this.store.upsertConversation(await this.socket.request("conversation_settings", { conversation_id: id, ...settings }));
    this.store.changed("conversations");
  }

  async recall(messageId) {
    // The recalled push reaches this socket too and updates the view; the reply does the same
    // in case the push is late.
    const message = await this.socket.request("recall", { message_id: messageId });
    this.mergeMessages(message.conversation_id, [message]);
  }

  // --- reading and typing -----------------------------------------------------------------

  /** True when the user can actually see this conversation: open and the tab visible. */
  isWatching(id) {
    return this.store.openId === id && document.visibilityState === "visible";
  }

  /** The user has had the open conversation's messages up to `seq` on screen (the UI watches
   * which ones are): they are read, and not before. */
  seen(id, seq) {
    if (seq > (this.seenUpTo.get(id) ?? 0)) this.seenUpTo.set(id, seq);
    this.markOpenRead();
  }

  /** Moves the read marker of the open conversation to what was seen, a moment later so that
   * scrolling through a page costs one request. What was seen counts even when the user
   * switches to another conversation within that moment. */
  markOpenRead() {
    const id = this.store.openId;
    if (this.markReadTimer !== null && this.markReadFor !== id) this.flushMarkRead();
    clearTimeout(this.markReadTimer);
    this.markReadFor = id;
    this.markReadTimer = setTimeout(() => this.flushMarkRead(), 150);
  }

  flushMarkRead() {
    clearTimeout(this.markReadTimer);
    this.markReadTimer = null;
    const id = this.markReadFor;
    if (id !== null && id !== undefined) this.markRead(id, this.seenUpTo.get(id) ?? 0, { seen: true });
  }

  /** `seen`: the UI saw these messages on screen (so the user need not be watching now). */
  async markRead(id, seq, { seen = false } = {}) {
    if (id === null || (!seen && !this.isWatching(id)) || !this.socket.isOpen) return;
    const conversation = this.store.conversations.get(id);
    if (!conversation || seq <= conversation.last_read_seq) return;
    try {
      const marker = await this.socket.request("mark_read", { conversation_id: id, seq });
      conversation.last_read_seq = Math.max(conversation.last_read_seq, marker.last_read_seq);
      conversation.unread_count = marker.unread_count;
      this.settleMentions(conversation);
      this.store.changed("conversations");
    } catch {
      // retried on the next message seen or the next reconnect
    }
  }

  /** Mentions sit after the read marker: all read, none left; else the server counts. */
  settleMentions(conversation) {
    if (!conversation.mention_count) return;
    if (conversation.last_read_seq >= conversation.last_seq) conversation.mention_count = 0;
    else this.refreshConversation(conversation.id);
  }

  /** Called on every keystroke; tells the others at most every 3 s. */
  typing(id) {
    const now = Date.now();
    if (now - this.lastTypingSent < TYPING_SEND_EVERY_MS || !this.socket.isOpen || peerOfDraft(id)) return;
    this.lastTypingSent = now;
    this.socket.request("typing", { conversation_id: id }).catch(() => {});
  }

  stopTyping(conversationId, userId) {
    const who = this.store.typing.get(conversationId);
    if (who?.delete(userId)) this.store.changed("typing", conversationId);
  }

  // --- pushes -----------------------------------------------------------------------------

  onPush({ type, data }) {
    if (!this.store.me) return;
    const handler = this.pushHandlers[type];
    if (handler) handler.call(this, data);
  }

  pushHandlers = {
    "message.new"(message) {
      const id = message.conversation_id;
      const conversation = this.store.conversations.get(id);
      if (!conversation) {
        // conversation.created normally comes first; if not, fetch it and its history later.
        this.refreshConversation(id, 0);
        return;
      }
      this.stopTyping(id, message.sender_id);
      if (message.sender_id === this.store.me.id) {
        this.afterOwnMessage(message); // sent from another of our devices
        return;
      }
      // A member who writes has read everything before (no message.read says so).
      if (conversation.type === "group") this.refreshReadCounts(id);
      const counts = message.seq > conversation.last_read_seq && message.status !== RECALLED;
      const fresh = this.firstSighting(conversation, message.seq, counts);
      this.mergeAndCheck(message);
      if (fresh && counts) {
        conversation.unread_count = (conversation.unread_count || 0) + 1;
        if (message.mentions?.includes(this.store.me.id)) conversation.mention_count = (conversation.mention_count || 0) + 1;
        this.store.changed("conversations");
      }
      this.onIncoming?.(conversation, message);
    },

    "message.edited"(message) {
      const view = this.store.views.get(message.conversation_id);
      // One we do not hold yet is in history as edited (PROTOCOL §4, edits).
      if (view?.bySeq.has(message.seq) || this.store.conversations.get(message.conversation_id)?.last_message?.seq === message.seq) {
        this.mergeMessages(message.conversation_id, [message]);
      }
      this.requote(message.conversation_id, message.seq, { preview: [...message.content].slice(0, 100).join("") });
    },

    "message.reaction"({ conversation_id: id, message_id: messageId, user_id: userId, emoji, added, reactions, change_seq: changeSeq }) {
      const view = this.store.views.get(id);
      if (view) view.changeSeq = Math.max(view.changeSeq, changeSeq ?? 0);
      const held = view?.sorted().find((m) => m.id === messageId);
      if (!held) return;
      // Our own reaction from another device: `me` flips for that emoji.
      const mine = userId === this.store.me.id;
      const updated = reactions.map((r) => {
        const before = held.reactions?.find((old) => old.emoji === r.emoji);
        return { ...r, me: mine && r.emoji === emoji ? added : r.user_ids.includes(this.store.me.id) || Boolean(before?.me && r.count > r.user_ids.length) };
      });
      if (view.merge({ ...held, reactions: updated }, this.store.me.id)) this.store.changed("messages", id);
    },

    "message.read"({ conversation_id: id, user_id: userId, last_read_seq: seq }) {
      const conversation = this.store.conversations.get(id);
      if (!conversation) return;
      if (userId === this.store.me.id) {
        // Read on another of our devices: our unread count goes down here too.
        conversation.last_read_seq = Math.max(conversation.last_read_seq, seq);
        if (conversation.last_read_seq >= conversation.last_seq) conversation.unread_count = 0;
        else this.refreshConversation(id);
        this.settleMentions(conversation);
        this.store.changed("conversations");
        return;
      }
      if (conversation.type !== "direct") {
        this.refreshReadCounts(id);
        return;
      }
      conversation.peerReadSeq = Math.max(conversation.peerReadSeq || 0, seq);
      const view = this.store.views.get(id);
      if (view) {
        for (const message of view.sorted()) {
          if (message.seq <= seq && message.sender_id === this.store.me.id && message.status === 1) {
            view.merge({ ...message, status: READ });
          }
        }
      }
      this.store.changed("messages", id);
    },

    "message.recalled"({ conversation_id: id, seq, change_seq: changeSeq, recalled_by: recalledBy = null }) {
      const conversation = this.store.conversations.get(id);
      if (!conversation) return;
      const view = this.store.views.get(id);
      if (view) view.changeSeq = Math.max(view.changeSeq, changeSeq ?? 0);
      const held = view?.bySeq.get(seq);
      if (held) {
        const wasUnread = held.status !== RECALLED && held.sender_id !== this.store.me.id && seq > conversation.last_read_seq;
        view.merge({ ...held, status: RECALLED, content: "", recalled_by: recalledBy });
        if (wasUnread) conversation.unread_count = Math.max(0, (conversation.unread_count || 0) - 1);
        if (wasUnread && held.mentions?.includes(this.store.me.id)) conversation.mention_count = Math.max(0, (conversation.mention_count || 0) - 1);
      } else if (conversation.unread_count) {
        this.refreshConversation(id); // cannot tell locally whether it was counted
      }
      if (conversation.last_message?.seq === seq) {
        conversation.last_message = { ...conversation.last_message, status: RECALLED, content: "" };
      }
      this.requote(id, seq, { status: RECALLED, preview: "" });
      this.store.changed("messages", id);
      this.store.changed("conversations");
    },

    typing({ conversation_id: id, user_id: userId }) {
      if (userId === this.store.me.id) return;
      if (!this.store.typing.has(id)) this.store.typing.set(id, new Map());
      this.store.typing.get(id).set(userId, Date.now() + TYPING_SHOWN_MS);
      const key = `${id}:${userId}`;
      clearTimeout(this.typingTimers.get(key));
      this.typingTimers.set(
        key,
        setTimeout(() => {
          this.typingTimers.delete(key);
          this.stopTyping(id, userId);
        }, TYPING_SHOWN_MS),
      );
      if (!this.store.users.has(userId)) this.fetchUser(userId);
      this.store.changed("typing", id);
    },

    presence({ user_id: userId, online, last_seen: lastSeen }) {
      this.store.userPushed({ id: userId, online, last_seen: lastSeen });
      for (const conversation of this.store.conversations.values()) {
        if (conversation.peer?.id === userId) conversation.peer = { ...conversation.peer, online };
      }
      this.store.changed("users");
      this.store.changed("conversations");
    },

    /** A user's nickname or avatar changed (PROTOCOL §4 "Decided (profiles)"), ours on another
     * device included: every place that shows them draws from store.users. */
    "user.updated"(user) {
      this.store.userPushed(user);
      for (const conversation of this.store.conversations.values()) {
        if (conversation.peer?.id === user.id) conversation.peer = { ...conversation.peer, ...user };
      }
      if (user.id === this.store.me.id) {
        this.store.me = { ...this.store.me, username: user.username, nickname: user.nickname, avatar: user.avatar };
        this.store.changed("connection"); // redraws our own name and picture at the top of the list
      }
      this.store.changed("users");
      this.store.changed("conversations");
      this.store.changed("open");
    },

    "conversation.created"(vo) {
      this.store.upsertConversation(vo);
      this.store.changed("conversations");
      if (vo.peer) this.adoptDraft(vo.peer.id, vo.id);
    },

    "conversation.updated"(vo) {
      const old = this.store.conversations.get(vo.id);
      if (!old) return;
      this.store.upsertConversation(vo);
      this.store.changed("conversations");
      if (vo.id === this.store.openId) this.store.changed("open");
    },

    "conversation.deleted"({ conversation_id: id, by }) {
      const conversation = this.store.conversations.get(id);
      // Deleted by someone else: say who, and why it went away.
      if (conversation && by !== this.store.me.id) this.onNotice?.(`${displayName(this.store.users.get(by))} deleted the group “${conversation.name}”.`);
      this.forgetConversation(id);
    },

    "member.added"({ conversation_id: id, user_id: userId, by }) {
      // Added ourselves: conversation.created follows. Otherwise refresh the member list.
      if (userId === this.store.me.id || !this.store.conversations.has(id)) return;
      this.refreshConversation(id);
    },

    "member.updated"({ conversation_id: id, user_id: userId, role }) {
      const conversation = this.store.conversations.get(id);
      if (!conversation) return;
      if (conversation.roles) conversation.roles.set(userId, role);
      if (userId === this.store.me.id) conversation.role = role;
      this.store.changed("conversations");
      this.store.changed("open");
    },

    "member.removed"({ conversation_id: id, user_id: userId, by }) {
      const conversation = this.store.conversations.get(id);
      if (!conversation) return;
      if (userId === this.store.me.id) {
        if (by !== userId) this.onNotice?.(`${displayName(this.store.users.get(by))} removed you from “${conversation.name}”.`);
        this.forgetConversation(id);
        return;
      }
      this.refreshConversation(id);
    },

    /** A group notice, stored: history brings the same one again after a reload. */
    "conversation.notice"(notice) {
      this.mergeNotices(notice.conversation_id, [notice]);
    },
  };

  /** True the first time this seq is seen since the server last counted unread messages.
   * Comparing with the highest seq seen would not do: pushes from concurrent senders can
   * arrive out of order (N+1 before N), and N must still count. */
  firstSighting(conversation, seq, counts) {
    if (seq <= (conversation.countedUpTo ?? 0)) return false;
    if (!conversation.sightings) conversation.sightings = new Map();
    if (conversation.sightings.has(seq)) return false;
    conversation.sightings.set(seq, counts);
    return true;
  }

  /** The replies we hold quote a message as it is now (PROTOCOL §2, reply_to): an edit or a
   * recall of the quoted message changes their quotes too. */
  requote(id, seq, changes) {
    const view = this.store.views.get(id);
    if (!view) return;
    let changed = false;
    for (const message of view.sorted()) {
      if (message.reply_to?.seq === seq && view.merge({ ...message, reply_to: { ...message.reply_to, ...changes } }, this.store.me.id)) changed = true;
    }
    if (changed) this.store.changed("messages", id);
  }

  /** Our messages' read counts in a group come with history pages only (PROTOCOL §2,
   * read_count): after reads, the newest page again, once per burst. */
  refreshReadCounts(id) {
    const view = this.store.views.get(id);
    if (!view?.loaded || this.readCountTimers.has(id)) return;
    // Only while one of our messages on that page may still gain readers.
    const others = (this.store.conversations.get(id)?.memberIds?.length ?? 0) - 1;
    const waiting = view.sorted().slice(-FIRST_PAGE).some((m) => m.sender_id === this.store.me.id && m.status !== RECALLED && (m.read_count ?? 0) < others);
    if (!waiting) return;
    this.readCountTimers.set(
      id,
      setTimeout(async () => {
        this.readCountTimers.delete(id);
        try {
          this.mergeMessages(id, await this.history(id, { limit: FIRST_PAGE }));
        } catch {
          // the next read or catch-up brings them
        }
      }, 400),
    );
  }

  /** Names for group senders and typists we have not met yet. */
  async fetchUser(id) {
    if (this.store.users.has(id)) return;
    this.store.users.set(id, { id, username: "…" });
    const askedAt = this.store.userPushes;
    try {
      this.store.upsertUser(await this.api.getUser(id), askedAt);
      this.store.changed("users");
      this.store.changed("messages", this.store.openId);
    } catch {
      this.store.users.delete(id);
    }
  }
}
