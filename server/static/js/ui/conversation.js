// The right column: one conversation's messages, the composer, attachments, typing and
// read state. Messages are drawn with textContent only (see dom.js).

import { $, h, show, toast } from "../dom.js";
import { dayOf, displayName, fileReference, formatDay, formatFullTime, formatSize, formatTime, presenceText } from "../format.js";
import { cachedImageUrl, downloadFile, imageUrl } from "../files.js";
import { avatar } from "./avatar.js";
import { confirmAction } from "./confirm.js";
import { linkify } from "./linkify.js";
import { schedule } from "./sidebar.js";
import { MESSAGE_MAX_CHARS, UPLOAD_MAX_BYTES, charCount } from "../limits.js";

const RECALLED = 3;
const READ = 2;
const NEAR_TOP_PX = 120;
const NEAR_BOTTOM_PX = 80;
const COUNT_FROM = MESSAGE_MAX_CHARS - 400; // the counter shows from here on

export function setupConversation(chat, store, api) {
  const chatEl = $("#chat");
  const messagesEl = $("#messages");
  const itemsEl = $("#message-items");
  const olderStatus = $("#older-status");
  const input = $("#message-input");
  const fileInput = $("#file-input");
  const attachmentEl = $("#attachment");
  const typingEl = $("#typing");
  const limitEl = $("#composer-limit");
  const sendButton = $("#composer .send");

  let shownId = null; // the conversation currently drawn
  let stickToBottom = true; // the user is reading the newest messages
  let unreadAfter = null; // the read marker when the conversation was opened: "New messages" goes below it
  let scrollToUnread = false; // the first drawing after the history arrives starts at that line
  let attachment = null; // {file, previewUrl} waiting for Send
  const drafts = new Map(); // conversation id → unsent text, kept while switching

  // --- layout: one column on a phone, two on a laptop (see app.css) -------------------------

  function renderOpen() {
    const id = store.openId;
    document.body.classList.toggle("conversation-open", id !== null);
    show($("#empty-state"), id === null);
    show(chatEl, id !== null);
    if (id !== shownId) {
      if (shownId !== null) drafts.set(shownId, input.value);
      // A draft chat that just became the real conversation (chat.adoptDraft, negative ids)
      // keeps what is being typed in it.
      if (shownId < 0 && store.conversations.get(id)?.peer?.id === -shownId) drafts.set(id, input.value);
      shownId = id;
      itemsEl.replaceChildren();
      readingWatch.disconnect();
      onScreen.clear();
      const conversation = store.conversations.get(id);
      unreadAfter = conversation?.unread_count ? conversation.last_read_seq : null;
      scrollToUnread = unreadAfter !== null;
      clearAttachment();
      input.value = id !== null ? drafts.get(id) || "" : "";
      composerChanged();
      stickToBottom = true;
      if (id !== null && window.matchMedia("(min-width: 721px)").matches) input.focus();
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
      $("#chat-avatar").replaceChildren(avatar(displayName(peer), peer?.id, Boolean(peer?.online)));
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

  /** The list to draw: server messages by seq, each notice after the message that was the
   * newest when it happened, then our queued messages in the order typed. */
  function itemsOf(id) {
    const view = store.views.get(id);
    const items = [];
    const notices = view ? view.notices : [];
    let next = 0;
    const noticesUpTo = (seq) => {
      for (; next < notices.length && notices[next].afterSeq < seq; next += 1) items.push({ key: `n${next}`, notice: notices[next] });
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
    if (item.notice) return { version: `n|${noticeText(item.notice, conversation)}` };
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
    const recallable = mine && m.status !== RECALLED && Date.now() + store.clockSkew - m.created_at < (conversation.recall_window_seconds || 120) * 1000;
    const senderName = showSender ? displayName(store.users.get(m.sender_id)) : "";
    if (showSender && !store.users.has(m.sender_id)) chat.fetchUser(m.sender_id);
    return {
      mine,
      showSender,
      read,
      recallable,
      senderName,
      version: [m.status, m.content.length, read, recallable, senderName, formatTime(m.created_at)].join("|"),
    };
  }

  function drawItem(item, shape, conversation) {
    if (item.day) return h("li", { class: "day", "data-testid": "day-separator", "data-key": item.key, "data-version": shape.version }, h("span", {}, shape.version));
    if (item.divider) return h("li", { class: "unread-divider", "data-testid": "unread-divider", "data-key": item.key, "data-version": shape.version }, h("span", {}, "New messages"));
    if (item.notice) return h("li", { class: "notice", "data-testid": "notice", "data-key": item.key, "data-version": shape.version }, noticeText(item.notice, conversation));
    return item.entry ? drawPending(item, item.entry) : drawMessage(item, item.message, shape, conversation);
  }

  /** "Alice added Dan". Adding and renaming are owner-only, so the owner did those; a
   * removal does not say who made it, unless it was made here. */
  function noticeText({ kind, userId, name }, conversation) {
    const who = (id) => (id === store.me.id ? "You" : displayName(store.users.get(id)));
    if (kind === "renamed") return `${who(conversation.owner_id)} renamed the group to “${name}”`;
    if (kind === "added") return `${who(conversation.owner_id)} added ${who(userId)}`;
    if (kind === "removed-by-me") return `You removed ${who(userId)}`;
    return `${who(userId)} is no longer in the group`;
  }

  function drawMessage(item, m, shape, conversation) {
    const recalled = m.status === RECALLED;
    const body = recalled
      ? h("div", { class: "body recalled", "data-testid": "message-body" }, shape.mine ? "You recalled a message" : `${shape.senderName || (conversation.type === "direct" ? displayName(store.peerOf(conversation)) : "Someone")} recalled a message`)
      : drawBody(m);
    let receipt = null;
    if (shape.mine && !recalled) {
      receipt = shape.read
        ? h("span", { class: "receipt read", "data-testid": "receipt", "data-state": "read", title: "Read" }, "✓✓")
        : h("span", { class: "receipt", "data-testid": "receipt", "data-state": "sent", title: "Sent" }, "✓");
    }
    const li = h(
      "li",
      {
        class: `msg ${shape.mine ? "mine" : "theirs"} ${recalled ? "is-recalled" : ""} ${m.msg_type === 2 && !recalled ? "is-image" : ""}`,
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
          body,
          h("div", { class: "meta" }, h("time", { title: formatFullTime(m.created_at), "data-testid": "message-time" }, formatTime(m.created_at)), receipt),
        ),
        shape.recallable
          ? h("button", { class: "recall", "data-testid": "recall-button", title: "Recall this message for everyone", onclick: () => recall(m.id) }, "Recall")
          : null,
      ),
    );
    return li;
  }

  function drawBody(m) {
    const ref = fileReference(m);
    if (m.msg_type === 2 && ref) return drawImage(ref);
    if (m.msg_type === 3 && ref) return drawFile(ref);
    return h("div", { class: "body text", "data-testid": "message-body", dir: "auto" }, linkify(m.content));
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
    // Clicking saves the full image under its name.
    return h("button", { class: "body image-button", title: `${ref.name} (${formatSize(ref.size ?? 0)})`, onclick: () => save(ref) }, img);
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
        e.msg_type === 1 ? h("button", { class: "link", "data-testid": "edit-failed", onclick: () => backToComposer(e) }, "Edit") : null,
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
      h("div", { class: "line" }, h("div", { class: "bubble" }, body, h("div", { class: "meta" }, h("time", {}, formatTime(e.created_at)), status))),
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

  /** A refused text goes back into the composer (after anything typed since), to be changed. */
  function backToComposer(e) {
    input.value = input.value.trim() ? `${input.value}\n${e.content}` : e.content;
    chat.discardSend(e.client_msg_id);
    composerChanged();
    input.focus();
  }

  async function recall(messageId) {
    if (!(await confirmAction("Recall this message? It disappears for everyone in the conversation.", "Recall"))) return;
    try {
      await chat.recall(messageId);
    } catch (error) {
      toast(error.code === 403 ? "Too late to recall this message." : `Could not recall: ${error.message}`);
    }
  }

  async function save(ref) {
    try {
      await downloadFile(api, ref);
    } catch (error) {
      toast(`Could not download ${ref.name}: ${error.message}`);
    }
  }

  // --- scrolling: older pages when reaching the top -------------------------------------------

  messagesEl.addEventListener("scroll", () => {
    stickToBottom = messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight < NEAR_BOTTOM_PX;
    if (messagesEl.scrollTop < NEAR_TOP_PX) loadOlder();
  });

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

  // --- composer -----------------------------------------------------------------------------

  function autoGrow() {
    // CSSOM writes are allowed under the page's CSP (only style attributes in markup are not).
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  }

  /** Length counter from near the limit on, a warning and no sending over it: the text is
   * never cut, the user decides what goes. */
  function composerChanged() {
    autoGrow();
    const count = charCount(input.value);
    const over = count - MESSAGE_MAX_CHARS;
    show(limitEl, count >= COUNT_FROM);
    limitEl.dataset.over = String(over > 0);
    const counter = `${count.toLocaleString("en")} / ${MESSAGE_MAX_CHARS.toLocaleString("en")}`;
    limitEl.textContent = over > 0 ? `${counter}: ${over.toLocaleString("en")} character${over === 1 ? "" : "s"} over the limit. Shorten the message to send it.` : counter;
    sendButton.disabled = over > 0;
  }

  input.addEventListener("input", () => {
    composerChanged();
    if (shownId !== null && input.value.trim()) chat.typing(shownId);
  });

  input.addEventListener("keydown", (event) => {
    // Enter sends, Shift+Enter is a new line; never while an input method is composing.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });

  $("#composer").addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });

  function submit() {
    const id = shownId;
    if (id === null) return;
    const text = input.value;
    if (!text.trim() && !attachment) return;
    if (charCount(text) > MESSAGE_MAX_CHARS) return; // the warning says why
    // The file uploads in its outbox entry; the composer is free meanwhile.
    if (attachment) {
      chat.sendFile(id, attachment.file);
      clearAttachment();
    }
    if (text.trim()) {
      chat.send(id, text);
      input.value = "";
      drafts.delete(id);
      composerChanged();
    }
    stickToBottom = true;
    input.focus();
  }

  // --- attachments: pick, paste or drop; previewed until Send -------------------------------

  fileInput.addEventListener("change", () => {
    if (fileInput.files.length) attach(fileInput.files[0]);
    fileInput.value = "";
  });

  input.addEventListener("paste", (event) => {
    const file = [...(event.clipboardData?.files || [])][0];
    if (file) {
      event.preventDefault();
      attach(file);
    }
  });

  chatEl.addEventListener("dragover", (event) => event.preventDefault());
  chatEl.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer?.files?.[0];
    if (file) attach(file);
  });

  function attach(file) {
    if (file.size > UPLOAD_MAX_BYTES) {
      toast(`“${file.name}” is ${formatSize(file.size)}; files can be at most ${formatSize(UPLOAD_MAX_BYTES)}.`);
      return;
    }
    clearAttachment();
    const isImage = /^image\/(png|jpeg|gif|webp|bmp)$/.test(file.type);
    attachment = { file, previewUrl: isImage ? URL.createObjectURL(file) : null };
    attachmentEl.replaceChildren(
      attachment.previewUrl ? h("img", { class: "attachment-thumb", src: attachment.previewUrl, alt: "" }) : h("span", { class: "file-icon", "aria-hidden": "true" }, (file.name.split(".").pop() || "file").slice(0, 4).toUpperCase()),
      h("span", { class: "file-text" }, h("span", { class: "file-name", "data-testid": "attachment-name" }, file.name), h("span", { class: "file-size" }, `${formatSize(file.size)} · press Enter or Send`)),
      h("button", { type: "button", class: "icon-button", "data-testid": "attachment-remove", "aria-label": "Remove attachment", onclick: clearAttachment }, "✕"),
    );
    show(attachmentEl, true);
    input.focus();
  }

  function clearAttachment() {
    if (attachment?.previewUrl) URL.revokeObjectURL(attachment.previewUrl);
    attachment = null;
    attachmentEl.replaceChildren();
    show(attachmentEl, false);
  }

  // --- store wiring -------------------------------------------------------------------------

  store.addEventListener("change", (event) => {
    const { what, id } = event.detail;
    if (what === "open") schedule(renderOpen);
    else if (shownId === null) return;
    else if (what === "messages" && (id === shownId || id === null)) schedule(renderMessages);
    else if (what === "typing" && id === shownId) schedule(renderTyping);
    else if (what === "users" || what === "conversations") {
      schedule(renderHeader);
      if (what === "users") schedule(renderMessages);
    }
  });

  return {
    reset() {
      drafts.clear();
      input.value = "";
      composerChanged();
      shownId = null;
      itemsEl.replaceChildren();
      renderOpen();
    },
  };
}
