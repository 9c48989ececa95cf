// The right column: one conversation's messages, typing and read state, with the composer
// (composer.js) under them. Messages are drawn with textContent only (see dom.js).

import { $, h, show, toast } from "../dom.js";
import { dayOf, displayName, fileReference, formatDay, formatFullTime, formatSize, formatTime, presenceText } from "../format.js";
import { cachedImageUrl, downloadFile, imageUrl } from "../files.js";
import { avatar } from "./avatar.js";
import { confirmAction } from "./confirm.js";
import { linkify } from "./linkify.js";
import { highlightMentions } from "./mentions.js";
import { reactionRow, setupReactionPicker } from "./reactions.js";
import { showEditHistory } from "./editHistory.js";
import { setupImageViewer } from "./imageViewer.js";
import { setupForwardDialog } from "./forwardDialog.js";
import { showReaders } from "./readers.js";
import { setupComposer } from "./composer.js";
import { showUnsent } from "./unsent.js";
import { isBlocked, onBlockedChange } from "./blocking.js";
import { schedule } from "./sidebar.js";

const RECALLED = 3;
const READ = 2;
const NEAR_TOP_PX = 120;
const NEAR_BOTTOM_PX = 80;
const TEXT = 1;
const FLASH_MS = 1600;

export function setupConversation(chat, store, api) {
  const chatEl = $("#chat");
  const messagesEl = $("#messages");
  const itemsEl = $("#message-items");
  const olderStatus = $("#older-status");
  const typingEl = $("#typing");

  let shownId = null; // the conversation currently drawn
  let stickToBottom = true; // the user is reading the newest messages
  let unreadAfter = null; // the read marker when the conversation was opened: "New messages" goes below it
  let scrollToUnread = false; // the first drawing after the history arrives starts at that line
  const unfolded = new Set(); // ids of group messages of blocked people the user chose to see
  const composer = setupComposer(chat, store, {
    quoteText,
    isEditable: (message) => describe({ message }, null, store.conversations.get(shownId)).editable,
    onSent: () => {
      stickToBottom = true;
    },
  });
  const picker = setupReactionPicker(toggleReaction);
  const viewer = setupImageViewer(api);
  const forwardDialog = setupForwardDialog(chat, store);

  // --- layout: one column on a phone, two on a laptop (see app.css) -------------------------

  function renderOpen() {
    const id = store.openId;
    document.body.classList.toggle("conversation-open", id !== null);
    show($("#empty-state"), id === null);
    show(chatEl, id !== null);
    if (id !== shownId) {
      composer.switchTo(id);
      shownId = id;
      itemsEl.replaceChildren();
      readingWatch.disconnect();
      onScreen.clear();
      const conversation = store.conversations.get(id);
      unreadAfter = conversation?.unread_count ? conversation.last_read_seq : null;
      scrollToUnread = unreadAfter !== null;
      picker.close();
      stickToBottom = true;
      if (id !== null && window.matchMedia("(min-width: 721px)").matches) composer.focus();
    }
    if (id !== null) {
      renderHeader();
      renderMessages();
      renderTyping();
    }
  }

  $("#back-button").addEventListener("click", () => chat.closeConversation());

  function renderHeader() {
    const conversation = store.conversations.get(shownId);
    if (!conversation) return;
    const subtitle = $("#chat-subtitle");
    if (conversation.type === "direct") {
      const peer = store.peerOf(conversation);
      $("#chat-name").textContent = displayName(peer);
      $("#chat-avatar").replaceChildren(avatar(displayName(peer), peer?.id, Boolean(peer?.online), { picture: peer?.avatar }));
      subtitle.textContent = presenceText(peer);
      subtitle.dataset.online = String(Boolean(peer?.online));
    } else {
      $("#chat-name").textContent = conversation.name;
      $("#chat-avatar").replaceChildren(avatar(conversation.name, conversation.id, undefined, { group: true }));
      const ids = conversation.memberIds || [];
      const online = ids.filter((id) => store.users.get(id)?.online).length;
      subtitle.textContent = ids.length ? `${ids.length} members, ${online} online` : "group";
      delete subtitle.dataset.online;
    }
  }

  // --- messages -----------------------------------------------------------------------------

  /** The list to draw: server messages by seq, each group notice after the message that was
   * the newest when it happened (`after_seq`), then our queued messages in the order typed. */
  function itemsOf(id) {
    const view = store.views.get(id);
    const items = [];
    const notices = view ? view.notices() : [];
    let next = 0;
    const noticesUpTo = (seq) => {
      for (; next < notices.length && notices[next].after_seq < seq; next += 1) {
        if (noticeText(notices[next])) items.push({ key: `n${notices[next].id}`, notice: notices[next] });
      }
    };
    let divided = unreadAfter === null;
    let day = null;
    for (const message of view ? view.sorted() : []) {
      noticesUpTo(message.seq);
      if (dayOf(message.created_at) !== day) {
        day = dayOf(message.created_at);
        items.push({ key: `d${day}`, day: message.created_at });
      }
      if (!divided && message.seq > unreadAfter && message.sender_id !== store.me.id && message.status !== RECALLED) {
        items.push({ key: "unread", divider: true });
        divided = true;
      }
      items.push({ key: `s${message.seq}`, message });
    }
    noticesUpTo(Infinity);
    for (const entry of store.outbox) {
      if (entry.conversation_id === id) items.push({ key: `p${entry.client_msg_id}`, entry });
    }
    return items;
  }

  function renderMessages() {
    const id = shownId;
    const conversation = store.conversations.get(id);
    const view = store.views.get(id);
    if (!conversation) return;
    const items = itemsOf(id);
    const oldFirst = itemsEl.firstElementChild?.dataset.key;
    const oldHeight = messagesEl.scrollHeight;
    const oldTop = messagesEl.scrollTop;

    // Keyed redraw: an element is rebuilt only when what it shows changed (its "version"),
    // so images and the reading position survive a push.
    const existing = new Map([...itemsEl.children].map((el) => [el.dataset.key, el]));
    const wanted = [];
    let previous = null;
    for (const item of items) {
      const shape = describe(item, previous, conversation);
      const old = existing.get(item.key);
      wanted.push(old && old.dataset.version === shape.version ? old : drawItem(item, shape, conversation));
      previous = item;
    }
    itemsEl.replaceChildren(...wanted);
    watchReading(existing, wanted);

    olderStatus.textContent = !view?.loaded ? "Loading…" : view.hasOlder ? (view.loadingOlder ? "Loading older messages…" : "") : items.length ? "This is the beginning of the conversation." : "No messages yet. Say hello!";

    const newFirst = itemsEl.firstElementChild?.dataset.key;
    const divider = itemsEl.querySelector("[data-key=unread]");
    if (scrollToUnread && view?.loaded) {
      // Opened with unread messages: start at the first of them, not at the bottom.
      scrollToUnread = false;
      if (divider) messagesEl.scrollTop += divider.getBoundingClientRect().top - messagesEl.getBoundingClientRect().top - 8;
      else messagesEl.scrollTop = messagesEl.scrollHeight;
      stickToBottom = messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight < NEAR_BOTTOM_PX;
    } else if (oldFirst && newFirst !== oldFirst && existing.has(oldFirst)) {
      // Older messages went in above: keep what the user was looking at in place.
      messagesEl.scrollTop = oldTop + (messagesEl.scrollHeight - oldHeight);
    } else if (stickToBottom) {
      messagesEl.scrollTop = messagesEl.scrollHeight;
    }
    // A first page shorter than the screen cannot be scrolled up: fetch more right away.
    if (view?.loaded && view.hasOlder && messagesEl.scrollHeight <= messagesEl.clientHeight) loadOlder();
  }

  /** What one item shows, and a version string that changes whenever that does. */
  function describe(item, previous, conversation) {
    const me = store.me.id;
    if (item.notice) return { version: `n|${noticeText(item.notice)}` };
    if (item.divider) return { version: "d" };
    if (item.day) return { version: formatDay(item.day) };
    if (item.entry) {
      const e = item.entry;
      return { mine: true, version: `p|${e.state}|${e.error}|${e.msg_type}|${Math.round((e.progress ?? 0) * 100)}` };
    }
    const m = item.message;
    const mine = m.sender_id === me;
    const prevSender = previous?.message ? previous.message.sender_id : previous?.entry ? me : null;
    const showSender = !mine && conversation.type === "group" && prevSender !== m.sender_id;
    const read = mine && conversation.type === "direct" && (m.status === READ || m.seq <= (conversation.peerReadSeq || 0));
    // Our group messages count their readers (history pages carry read_count).
    const others = Math.max(0, (conversation.memberIds?.length ?? 0) - 1);
    const readBy = mine && conversation.type === "group" && m.read_count !== undefined ? (others && m.read_count >= others ? "Read by everyone" : m.read_count ? `Read by ${m.read_count}` : "") : "";
    const age = Date.now() + store.clockSkew - m.created_at;
    const recallable = mine && m.status !== RECALLED && age < (conversation.recall_window_seconds ?? 120) * 1000;
    // Owners remove anyone's messages, admins those of plain members (PROTOCOL §4, roles).
    const myRole = conversation.role;
    const senderRole = conversation.roles?.get(m.sender_id) ?? "member";
    const removable = !mine && m.status !== RECALLED && conversation.type === "group" && (myRole === "owner" || (myRole === "admin" && senderRole === "member"));
    const editable = mine && m.msg_type === TEXT && m.status !== RECALLED && age < (conversation.edit_window_seconds ?? 900) * 1000;
    const senderName = showSender ? displayName(store.users.get(m.sender_id)) : "";
    // A group message of someone the user blocks is drawn folded away, until asked for.
    const collapsed = !mine && conversation.type === "group" && m.status !== RECALLED && isBlocked(m.sender_id) && !unfolded.has(m.id);
    // Everyone this message names (sender, quoted sender, reactors, mentioned) by name.
    const people = [showSender ? m.sender_id : null, m.reply_to?.sender_id, m.forwarded_from?.sender_id, m.recalled_by, ...(m.reactions || []).flatMap((r) => r.user_ids), ...(m.mentions || [])].filter((id) => id !== null && id !== undefined);
    for (const id of people) if (!store.users.has(id)) chat.fetchUser(id);
    // Names as shown (a nickname changed by user.updated redraws the message).
    const names = people.map((id) => displayName(store.users.get(id))).join(",");
    return {
      mine,
      showSender,
      read,
      recallable,
      removable,
      editable,
      senderName,
      readBy,
      collapsed,
      version: [collapsed, m.status, m.content, m.edited_at, m.recalled_by, m.forwarded_from?.sender_id, read, readBy, recallable, removable, editable, senderName, names, JSON.stringify(m.reactions || []), JSON.stringify(m.reply_to), formatTime(m.created_at)].join("|"),
    };
  }

  function drawItem(item, shape, conversation) {
    if (item.day) return h("li", { class: "day", "data-testid": "day-separator", "data-key": item.key, "data-version": shape.version }, h("span", {}, shape.version));
    if (item.divider) return h("li", { class: "unread-divider", "data-testid": "unread-divider", "data-key": item.key, "data-version": shape.version }, h("span", {}, "New messages"));
    if (item.notice) return h("li", { class: "notice", "data-testid": "notice", "data-key": item.key, "data-version": shape.version }, noticeText(item.notice));
    return item.entry ? drawPending(item, item.entry) : drawMessage(item, item.message, shape, conversation);
  }

  /** "Alice added Dan", "Carol left the group": a stored notice (NoticeVO) as a sentence;
   * "" for a kind this client does not know (it is then not drawn). */
  function noticeText({ kind, actor_id: by, subject_id: userId, data }) {
    const who = (id) => (id === store.me.id ? "You" : displayName(store.users.get(id)));
    const whom = (id) => (id === store.me.id ? "you" : displayName(store.users.get(id)));
    if (kind === "created") return `${who(by)} created the group “${data?.name ?? ""}”`;
    if (kind === "owner") return `${who(by)} handed the group over to ${whom(userId)}`;
    if (kind === "role") return data?.role === "admin" ? `${who(by)} made ${whom(userId)} an admin` : `${who(by)} made ${whom(userId)} a member again`;
    if (kind === "renamed") return `${who(by)} renamed the group to “${data?.name ?? ""}”`;
    if (kind === "added") return `${who(by)} added ${whom(userId)}`;
    if (kind === "left") return `${who(userId)} left the group`;
    if (kind === "removed") return `${who(by)} removed ${whom(userId)}`;
    return "";
  }

  function drawMessage(item, m, shape, conversation) {
    if (shape.collapsed) return drawCollapsed(item, m, shape);
    const recalled = m.status === RECALLED;
    const body = recalled ? h("div", { class: "body recalled", "data-testid": "message-body" }, recallText(m, shape, conversation)) : drawBody(m);
    const edited = m.edited_at && !recalled
      ? h("button", { type: "button", class: "edited", "data-testid": "edited-mark", title: `Edited ${formatFullTime(m.edited_at)}: show the earlier versions`, onclick: () => showEditHistory(api, m) }, "edited")
      : null;
    let receipt = null;
    if (shape.readBy && !recalled) {
      receipt = h("button", { type: "button", class: "read-by", "data-testid": "read-by", title: "Who has read it", onclick: () => showReaders(api, store, m) }, `✓✓ ${shape.readBy}`);
    } else if (shape.mine && !recalled) {
      receipt = shape.read
        ? h("span", { class: "receipt read", "data-testid": "receipt", "data-state": "read", title: "Read" }, "✓✓")
        : h("span", { class: "receipt", "data-testid": "receipt", "data-state": "sent", title: "Sent" }, "✓");
    }
    const li = h(
      "li",
      {
        class: `msg ${shape.mine ? "mine" : "theirs"} ${recalled ? "is-recalled" : ""} ${m.msg_type === 2 && !recalled ? "is-image" : ""} ${m.mentions?.includes(store.me.id) ? "mentions-me" : ""}`,
        "data-testid": "message",
        "data-key": item.key,
        "data-version": shape.version,
        "data-seq": m.seq,
        "data-id": m.id,
        "data-status": m.status,
        "data-mine": String(shape.mine),
      },
      shape.showSender ? h("div", { class: "sender", "data-testid": "message-sender" }, shape.senderName) : null,
      h(
        "div",
        { class: "line" },
        h(
          "div",
          { class: "bubble" },
          m.forwarded_from && !recalled
            ? h("div", { class: "forwarded", "data-testid": "forwarded-mark" }, `Forwarded from ${m.forwarded_from.sender_id === store.me.id ? "you" : displayName(store.users.get(m.forwarded_from.sender_id))}`)
            : null,
          m.reply_to && !recalled ? drawQuote(m.reply_to) : null,
          body,
          h("div", { class: "meta" }, edited, h("time", { title: formatFullTime(m.created_at), "data-testid": "message-time" }, formatTime(m.created_at)), receipt),
        ),
        recalled ? null : drawActions(m, shape),
      ),
      recalled ? null : reactionRow(m, store, toggleReaction),
    );
    return li;
  }

  /** A blocked person's group message, folded: it stays in its place (and is read as usual),
   * and "Show" draws it whole. */
  function drawCollapsed(item, m, shape) {
    const unfold = () => {
      unfolded.add(m.id);
      renderMessages();
    };
    return h(
      "li",
      { class: "msg theirs is-collapsed", "data-testid": "message", "data-collapsed": "true", "data-key": item.key, "data-version": shape.version, "data-seq": m.seq, "data-id": m.id, "data-status": m.status, "data-mine": "false" },
      h(
        "div",
        { class: "collapsed-note", "data-testid": "collapsed-note" },
        "Message from someone you blocked ",
        h("button", { type: "button", class: "ghost", "data-testid": "show-collapsed", "aria-label": "Show the message from someone you blocked", onclick: unfold }, "Show"),
      ),
    );
  }

  /** "You recalled a message", "Bob recalled a message", or for a moderation recall
   * "Alice removed a message" (the moderator, named by recalled_by). */
  function recallText(m, shape, conversation) {
    const who = (id) => (id === store.me.id ? "You" : displayName(store.users.get(id)));
    if (m.recalled_by && m.recalled_by !== m.sender_id) return `${who(m.recalled_by)} removed a message`;
    if (shape.mine) return "You recalled a message";
    return `${shape.senderName || (conversation.type === "direct" ? displayName(store.peerOf(conversation)) : displayName(store.users.get(m.sender_id)))} recalled a message`;
  }

  /** Reply, react, edit and recall: shown on hover or focus (always on touch screens). */
  function drawActions(m, shape) {
    return h(
      "div",
      { class: "actions" },
      h("button", { type: "button", class: "action", "data-testid": "reply-button", "aria-label": "Reply", title: "Reply", onclick: () => composer.startReply(m) }, "↩"),
      h("button", { type: "button", class: "action", "data-testid": "react-button", "aria-label": "Add a reaction", title: "Add a reaction", onclick: (event) => picker.open(event.currentTarget, m) }, "☺"),
      h("button", { type: "button", class: "action", "data-testid": "forward-button", "aria-label": "Forward", title: "Forward to another conversation", onclick: () => forwardDialog.open(m) }, "↪"),
      shape.editable ? h("button", { type: "button", class: "action", "data-testid": "edit-button", "aria-label": "Edit", title: "Edit (or press Up in an empty composer)", onclick: () => composer.startEdit(m) }, "✎") : null,
      shape.recallable ? h("button", { type: "button", class: "recall", "data-testid": "recall-button", title: "Recall this message for everyone", onclick: () => recall(m.id) }, "Recall") : null,
      shape.removable ? h("button", { type: "button", class: "recall", "data-testid": "remove-message", title: "Remove this message for everyone (as a moderator)", onclick: () => removeMessage(m) }, "Remove") : null,
    );
  }

  /** The quoted message above a reply; a click shows the original. */
  function drawQuote(quote) {
    return h(
      "button",
      { type: "button", class: "quote", "data-testid": "quote", "data-reply-to": quote.id, title: "Show the original message", onclick: () => jumpTo(quote) },
      h("span", { class: "quote-sender" }, quote.sender_id === store.me.id ? "You" : displayName(store.users.get(quote.sender_id))),
      h("span", { class: "quote-text", dir: "auto" }, quoteText(quote)),
    );
  }

  function quoteText(quote) {
    if (quote.status === RECALLED) return "Recalled message";
    if (quote.msg_type === 2) return `Photo${quote.preview ? `: ${quote.preview}` : ""}`;
    if (quote.msg_type === 3) return `File: ${quote.preview}`;
    return quote.preview;
  }

  /** Scrolls to a quoted message, loading older pages until it is there. */
  async function jumpTo(quote) {
    const id = shownId;
    const view = store.views.get(id);
    for (let pages = 0; view && !view.bySeq.has(quote.seq) && view.hasOlder && pages < 50; pages += 1) {
      if (!(await chat.loadOlder(id))) break;
    }
    if (id !== shownId) return;
    renderMessages();
    const target = itemsEl.querySelector(`[data-testid=message][data-seq="${quote.seq}"]`);
    if (!target) return toast("The original message is not available.");
    stickToBottom = false;
    target.scrollIntoView({ block: "center" });
    target.classList.add("flash");
    setTimeout(() => target.classList.remove("flash"), FLASH_MS);
  }

  /** A message asked for from elsewhere (a search hit), once its conversation is shown. */
  function applyFocus() {
    if (!store.focus || store.focus.id !== shownId) return;
    const { seq } = store.focus;
    store.focus = null;
    jumpTo({ seq });
  }

  async function toggleReaction(m, emoji, add) {
    try {
      await chat.react(m.id, emoji, add);
    } catch (error) {
      toast(error.code === 0 ? "You are offline: reactions need a connection." : `Could not react: ${error.message}`);
    }
  }

  function drawBody(m) {
    const ref = fileReference(m);
    if (m.msg_type === 2 && ref) return drawImage(ref);
    if (m.msg_type === 3 && ref) return drawFile(ref);
    return h("div", { class: "body text", "data-testid": "message-body", dir: "auto" }, highlightMentions(linkify(m.content), m, store));
  }

  function drawImage(ref) {
    const img = h("img", { class: "image", alt: ref.name || "image", "data-testid": "message-image", "data-file-id": ref.file_id });
    const cached = cachedImageUrl(ref.file_id);
    if (cached) {
      img.src = cached;
    } else {
      img.classList.add("loading");
      imageUrl(api, ref.file_id)
        .then((url) => {
          img.src = url;
        })
        .catch(() => img.replaceWith(h("div", { class: "body file-missing" }, "Image not available")));
    }
    img.addEventListener("load", () => {
      img.classList.remove("loading");
      if (stickToBottom) messagesEl.scrollTop = messagesEl.scrollHeight;
    });
    // Clicking shows it large; saving is a button there.
    return h("button", { class: "body image-button", "data-testid": "image-open", title: `${ref.name} (${formatSize(ref.size ?? 0)})`, "aria-label": `Show ${ref.name || "the image"}`, onclick: () => viewer.open(ref) }, img);
  }

  function drawFile(ref) {
    return h(
      "button",
      { class: "body file", "data-testid": "message-file", "data-file-id": ref.file_id, title: "Download", onclick: () => save(ref) },
      h("span", { class: "file-icon", "aria-hidden": "true" }, (ref.name?.split(".").pop() || "file").slice(0, 4).toUpperCase()),
      h("span", { class: "file-text" }, h("span", { class: "file-name" }, ref.name || "file"), h("span", { class: "file-size" }, formatSize(ref.size ?? 0))),
    );
  }

  function drawPending(item, e) {
    const failed = e.state === "failed";
    const ref = e.msg_type === 1 ? null : fileReference(e);
    let body;
    if (ref) body = e.msg_type === 2 ? drawImage(ref) : drawFile(ref);
    else if (e.msg_type === 1) body = h("div", { class: "body text", "data-testid": "message-body", dir: "auto" }, e.content);
    else body = drawUpload(e);
    let status;
    if (failed) {
      status = h(
        "span",
        { class: "pending-state failed", "data-testid": "send-error" },
        `Not sent (${e.error}). `,
        // Retry only where a retry can work; otherwise the text goes back to be changed.
        e.retryable !== false ? h("button", { class: "link", "data-testid": "retry-send", onclick: () => chat.retrySend(e.client_msg_id) }, "Retry") : null,
        " ",
        e.msg_type === 1 ? h("button", { class: "link", "data-testid": "edit-failed", onclick: () => composer.backToComposer(e) }, "Edit") : null,
        " ",
        h("button", { class: "link", "data-testid": "discard-send", onclick: () => chat.discardSend(e.client_msg_id) }, "Discard"),
      );
    } else {
      const label = { uploading: `Uploading ${Math.round(e.progress * 100)}%`, sending: "Sending…", queued: "Queued" }[e.state];
      status = h("span", { class: "pending-state", "data-testid": "pending-state", title: e.state === "queued" ? "Waiting for the connection" : label }, label);
    }
    return h(
      "li",
      {
        class: `msg mine pending ${failed ? "failed" : ""}`,
        "data-testid": "message",
        "data-key": item.key,
        "data-version": describe(item, null, {}).version,
        "data-pending": e.state,
        "data-client-msg-id": e.client_msg_id,
        "data-mine": "true",
      },
      h("div", { class: "line" }, h("div", { class: "bubble" }, e.reply_to ? drawQuote(e.reply_to) : null, body, h("div", { class: "meta" }, h("time", {}, formatTime(e.created_at)), status))),
    );
  }

  /** A file on its way up: name, size, progress and a way to stop it. */
  function drawUpload(e) {
    const uploading = e.state === "uploading";
    return h(
      "div",
      { class: "body file upload", "data-testid": "upload" },
      h("span", { class: "file-icon", "aria-hidden": "true" }, (e.name.split(".").pop() || "file").slice(0, 4).toUpperCase()),
      h(
        "span",
        { class: "file-text" },
        h("span", { class: "file-name" }, e.name),
        h("span", { class: "file-size" }, formatSize(e.size)),
        uploading ? h("progress", { max: 100, value: Math.round(e.progress * 100), "aria-label": `Uploading ${e.name}`, "data-testid": "upload-progress" }) : null,
      ),
      uploading ? h("button", { type: "button", class: "link", "data-testid": "upload-cancel", onclick: () => chat.cancelUpload(e.client_msg_id) }, "Cancel") : null,
    );
  }

  async function recall(messageId) {
    if (!(await confirmAction("Recall this message? It disappears for everyone in the conversation.", "Recall"))) return;
    try {
      await chat.recall(messageId);
    } catch (error) {
      toast(error.code === 403 ? "Too late to recall this message." : `Could not recall: ${error.message}`);
    }
  }

  async function removeMessage(m) {
    if (!(await confirmAction(`Remove this message by ${displayName(store.users.get(m.sender_id))} for everyone? The group will see that you removed it.`, "Remove"))) return;
    try {
      await chat.recall(m.id);
    } catch (error) {
      toast(`Could not remove the message: ${error.message}`);
    }
  }

  async function save(ref) {
    try {
      await downloadFile(api, ref);
    } catch (error) {
      toast(`Could not download ${ref.name}: ${error.message}`);
    }
  }

  // --- touch screens: a tap on a message shows its actions (there is no hover) ----------------

  const touch = window.matchMedia("(hover: none)");
  itemsEl.addEventListener("click", (event) => {
    if (!touch.matches || event.target.closest("a, button")) return;
    const tapped = event.target.closest("[data-testid=message][data-seq]");
    for (const el of itemsEl.querySelectorAll(".show-actions")) if (el !== tapped) el.classList.remove("show-actions");
    tapped?.classList.toggle("show-actions");
  });

  // --- scrolling: older pages when reaching the top -------------------------------------------

  messagesEl.addEventListener("scroll", () => {
    // A resize not yet observed that left the list scrolled to its end was the browser clamping
    // it: the observer below puts it back. Any other scroll is the user's, even mid-resize.
    const atEnd = messagesEl.scrollTop >= messagesEl.scrollHeight - messagesEl.clientHeight - 1;
    if (sizeOf() !== listSize && atEnd) return;
    stickToBottom = messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight < NEAR_BOTTOM_PX;
    rememberAnchor();
    if (messagesEl.scrollTop < NEAR_TOP_PX) loadOlder();
  });

  // --- resizing: a rotation or a narrower window keeps what was being read in place ----------

  let anchor = null; // {el, offset}: the first item in view, and how far below the top it was
  let listSize = "";
  const sizeOf = () => `${messagesEl.clientWidth}x${messagesEl.clientHeight}`;

  function rememberAnchor() {
    const top = messagesEl.getBoundingClientRect().top;
    anchor = null;
    for (const el of itemsEl.children) {
      const box = el.getBoundingClientRect();
      if (box.bottom > top) {
        anchor = { el, offset: box.top - top };
        return;
      }
    }
  }

  new ResizeObserver(() => {
    listSize = sizeOf();
    if (stickToBottom) messagesEl.scrollTop = messagesEl.scrollHeight;
    else if (anchor?.el.isConnected) messagesEl.scrollTop += anchor.el.getBoundingClientRect().top - messagesEl.getBoundingClientRect().top - anchor.offset;
    rememberAnchor();
  }).observe(messagesEl);

  // --- reading: a message is read once it has been on screen, not when the chat opens --------

  const onScreen = new Set(); // seqs of the drawn messages now mostly visible
  const readingWatch = new IntersectionObserver(
    (changes) => {
      for (const change of changes) {
        const seq = Number(change.target.dataset.seq);
        // Mostly visible, or (a message taller than the list) filling most of the list.
        const seen = change.intersectionRatio >= 0.6 || change.intersectionRect.height >= 0.6 * change.rootBounds.height;
        if (seen) onScreen.add(seq);
        else onScreen.delete(seq);
      }
      reportSeen();
    },
    { root: messagesEl, threshold: [0, 0.2, 0.4, 0.6, 0.8, 1] },
  );

  /** Watches the message elements just drawn, and stops watching the ones replaced. */
  function watchReading(before, now) {
    const drawnBefore = new Set(before.values());
    const drawnNow = new Set(now);
    for (const el of drawnBefore) {
      if (drawnNow.has(el) || !el.dataset.seq) continue;
      readingWatch.unobserve(el);
      onScreen.delete(Number(el.dataset.seq));
    }
    for (const el of drawnNow) {
      if (!drawnBefore.has(el) && el.dataset.seq) readingWatch.observe(el);
    }
  }

  function reportSeen() {
    if (shownId === null || !onScreen.size || document.visibilityState !== "visible") return;
    chat.seen(shownId, Math.max(...onScreen));
  }
  // A hidden tab reads nothing; what is on screen counts when it is shown again.
  document.addEventListener("visibilitychange", reportSeen);

  async function loadOlder() {
    const id = shownId;
    const view = store.views.get(id);
    if (!view || view.loadingOlder || !view.hasOlder) return;
    olderStatus.textContent = "Loading older messages…";
    await chat.loadOlder(id);
  }

  // Recall buttons disappear when the window is over; redraw now and then to notice.
  setInterval(() => {
    if (shownId !== null) schedule(renderMessages);
  }, 10_000);

  // --- typing -------------------------------------------------------------------------------

  function renderTyping() {
    const names = store.typingIn(shownId).map((id) => displayName(store.users.get(id)));
    typingEl.textContent =
      names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : names.length === 2 ? `${names[0]} and ${names[1]} are typing…` : "Several people are typing…";
    typingEl.classList.toggle("active", names.length > 0);
  }

  // --- store wiring -------------------------------------------------------------------------

  onBlockedChange(() => {
    if (shownId !== null) schedule(renderMessages);
  });

  store.addEventListener("change", (event) => {
    const { what, id } = event.detail;
    if (what === "open") schedule(renderOpen);
    else if (shownId === null) return;
    else if (what === "messages" && (id === shownId || id === null)) schedule(renderMessages);
    else if (what === "typing" && id === shownId) schedule(renderTyping);
    else if (what === "focus") schedule(applyFocus);
    else if (what === "users" || what === "conversations") {
      schedule(renderHeader);
      if (what === "users") schedule(renderMessages);
    }
  });

  return {
    /** Signing out on purpose: the drafts go too. */
    forgetDrafts() {
      composer.forgetDrafts();
    },
    /** A conversation went away: what was typed for it (queued texts, then its draft) is
     * shown to be copied. */
    handBack(gone, unsent) {
      const name = gone.type === "direct" ? displayName(store.peerOf(gone)) : gone.name;
      showUnsent(name, [...unsent, composer.takeDraft(gone.id)]);
    },
    reset() {
      composer.reset();
      unfolded.clear();
      shownId = null;
      itemsEl.replaceChildren();
      renderOpen();
    },
  };
}
