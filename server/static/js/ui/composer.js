// The composer under a conversation: the text box (with its length counter, draft and mention
// suggestions), the attachment waiting for Send, and the reply or edit it is in. Nothing typed
// is lost: drafts are kept per conversation (drafts.js), a refused text comes back here.

import { $, h, show, toast } from "../dom.js";
import { displayName, fileReference, formatSize } from "../format.js";
import { setupMentionSuggestions } from "./mentions.js";
import { Drafts } from "./drafts.js";
import { MESSAGE_MAX_CHARS, UPLOAD_MAX_BYTES, charCount } from "../limits.js";

const COUNT_FROM = MESSAGE_MAX_CHARS - 400; // the counter shows from here on
const TEXT = 1;

/** `quoteText(quote)`: how a quoted message reads (shared with the message list);
 * `isEditable(message)`: whether our message may still be edited; `onSent()`: a message or
 * file went out (the list then follows to the bottom). */
export function setupComposer(chat, store, { quoteText, isEditable, onSent }) {
  const chatEl = $("#chat");
  const input = $("#message-input");
  const fileInput = $("#file-input");
  const attachmentEl = $("#attachment");
  const limitEl = $("#composer-limit");
  const sendButton = $("#composer .send");
  const contextEl = $("#composer-context");

  let shownId = null; // the conversation written in
  let attachment = null; // {file, previewUrl} waiting for Send
  const drafts = new Drafts(store); // conversation id → unsent text, kept across switches and reloads
  let replyTo = null; // the message the next one answers
  let editing = null; // {message, draft}: the message being edited, and what was typed before
  const mentions = setupMentionSuggestions(input, $("#mention-list"), mentionCandidates);

  /** Another conversation is shown (`id`, or null for none): the text typed goes to its draft
   * and the new one's draft comes back; attachment, reply and edit end. */
  function switchTo(id) {
    if (shownId !== null) drafts.set(shownId, editing ? editing.draft : input.value);
    // A draft chat that just became the real conversation (chat.adoptDraft, negative ids)
    // keeps what is being typed in it.
    if (shownId < 0 && store.conversations.get(id)?.peer?.id === -shownId) drafts.set(id, input.value);
    shownId = id;
    clearAttachment();
    replyTo = null;
    editing = null;
    renderContext();
    mentions.close();
    input.value = id !== null ? drafts.get(id) || "" : "";
    composerChanged();
  }

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
    if (shownId !== null && !editing) drafts.set(shownId, input.value);
    if (shownId !== null && input.value.trim()) chat.typing(shownId);
  });

  input.addEventListener("keydown", (event) => {
    if (event.isComposing) return; // an input method is using the keys
    if (mentions.onKey(event)) return;
    // Enter sends, Shift+Enter is a new line.
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      submit();
    } else if (event.key === "Escape" && (editing || replyTo)) {
      event.preventDefault(); // cancels the edit or reply, not the conversation (ui/keys.js)
      if (editing) cancelEdit();
      else setReply(null);
    } else if (event.key === "ArrowUp" && !input.value && !attachment && !editing) {
      const last = lastEditable();
      if (last) {
        event.preventDefault();
        startEdit(last);
      }
    }
  });

  /** A refused text goes back into the composer (after anything typed since), to be changed. */
  function backToComposer(e) {
    input.value = input.value.trim() ? `${input.value}\n${e.content}` : e.content;
    if (!editing) drafts.set(shownId, input.value);
    chat.discardSend(e.client_msg_id);
    composerChanged();
    input.focus();
  }

  // --- replying and editing -----------------------------------------------------------------

  function renderContext() {
    const target = editing?.message || replyTo;
    show(contextEl, Boolean(target));
    if (!target) return contextEl.replaceChildren();
    const who = target.sender_id === store.me.id ? "yourself" : displayName(store.users.get(target.sender_id));
    contextEl.dataset.mode = editing ? "edit" : "reply";
    contextEl.replaceChildren(
      h(
        "div",
        { class: "context-text" },
        h("span", { class: "context-title" }, editing ? "Editing message" : `Replying to ${who}`),
        h("span", { class: "context-preview", dir: "auto" }, editing ? "Enter saves, Esc cancels" : quoteText({ ...target, preview: target.msg_type === TEXT ? target.content.slice(0, 100) : fileReference(target)?.name ?? "" })),
      ),
      h("button", { type: "button", class: "icon-button", "data-testid": "context-cancel", "aria-label": editing ? "Cancel editing" : "Cancel reply", onclick: () => (editing ? cancelEdit() : setReply(null)) }, "✕"),
    );
  }

  function setReply(message) {
    replyTo = message;
    renderContext();
    input.focus();
  }

  function startReply(message) {
    if (editing) cancelEdit();
    setReply(message);
  }

  /** Our newest text message that may still be edited, for the Up key. */
  function lastEditable() {
    const messages = store.views.get(shownId)?.sorted() || [];
    for (let i = messages.length - 1; i >= 0; i -= 1) {
      const m = messages[i];
      if (m.sender_id !== store.me.id) continue;
      return isEditable(m) ? m : null;
    }
    return null;
  }

  function startEdit(message) {
    editing = { message, draft: editing ? editing.draft : input.value };
    replyTo = null;
    input.value = message.content;
    composerChanged();
    renderContext();
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  function cancelEdit() {
    input.value = editing?.draft ?? "";
    editing = null;
    if (shownId !== null) drafts.set(shownId, input.value);
    composerChanged();
    renderContext();
    input.focus();
  }

  async function saveEdit() {
    const { message } = editing;
    const text = input.value;
    if (!text.trim()) return toast("A message cannot be empty: recall it instead.");
    if (text === message.content) return cancelEdit();
    try {
      await chat.editMessage(message.id, text);
      if (editing?.message === message) cancelEdit();
    } catch (error) {
      const why = { 0: "you are offline", 403: "it can no longer be edited", 413: "it is too long" }[error.code] || error.message;
      toast(`Could not save the edit: ${why}.`);
    }
  }

  function mentionCandidates() {
    const conversation = store.conversations.get(shownId);
    if (!conversation) return [];
    const ids = conversation.type === "direct" ? [conversation.peer?.id] : conversation.memberIds || [];
    const people = ids
      .filter((id) => id && id !== store.me.id)
      .map((id) => store.users.get(id))
      .filter((user) => user?.username)
      .map((user) => ({ username: user.username, name: displayName(user) }))
      .sort((a, b) => a.name.localeCompare(b.name));
    const everyone = conversation.type === "group" && (conversation.mentions_all !== false || conversation.owner_id === store.me.id);
    return everyone ? [...people, { username: "all", name: "Everyone in the group" }] : people;
  }

  $("#composer").addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });

  function submit() {
    const id = shownId;
    if (id === null) return;
    if (editing) return saveEdit();
    const text = input.value;
    if (!text.trim() && !attachment) return;
    if (charCount(text) > MESSAGE_MAX_CHARS) return; // the warning says why
    // The file uploads in its outbox entry; the composer is free meanwhile.
    if (attachment) {
      chat.sendFile(id, attachment.file);
      clearAttachment();
    }
    if (text.trim()) {
      chat.send(id, text, TEXT, { replyTo });
      setReply(null);
      input.value = "";
      drafts.set(id, "");
      composerChanged();
    }
    onSent();
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

  return {
    switchTo,
    startReply,
    startEdit,
    backToComposer,
    focus() {
      input.focus();
    },
    /** Signing out on purpose: the drafts go too. */
    forgetDrafts() {
      drafts.forget();
    },
    /** The draft of a conversation that is gone, taken out of the drafts. */
    takeDraft(id) {
      const text = shownId === id ? (editing ? editing.draft : input.value) : drafts.get(id);
      drafts.set(id, "");
      return text;
    },
    reset() {
      drafts.reset();
      input.value = "";
      composerChanged();
      shownId = null;
    },
  };
}
