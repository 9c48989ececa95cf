// Who has read one of our group messages (GET .../messages/{id}/readers), in a dialog opened
// from its "Read by" mark.

import { h, toast } from "../dom.js";
import { displayName } from "../format.js";
import { avatar } from "./avatar.js";

let dialog = null;

function theDialog() {
  if (dialog) return dialog;
  dialog = h(
    "dialog",
    { class: "dialog", "data-testid": "readers-dialog", "aria-labelledby": "readers-title" },
    h("h2", { id: "readers-title" }, "Read by"),
    h("ul", { class: "list member-list", "data-testid": "readers", "aria-labelledby": "readers-title" }),
    h("p", { class: "hint", "data-testid": "readers-unread" }),
    h("div", { class: "dialog-actions" }, h("button", { type: "button", class: "ghost", "data-testid": "readers-close", onclick: () => dialog.close() }, "Close")),
  );
  document.body.append(dialog);
  return dialog;
}

export async function showReaders(api, store, message) {
  let readers;
  const askedAt = store.userPushes;
  try {
    readers = await api.readers(message.conversation_id, message.id);
  } catch (error) {
    toast(`Could not load who read it: ${error.message}`);
    return;
  }
  for (const user of readers) store.upsertUser(user, askedAt);
  const el = theDialog();
  el.querySelector("[data-testid=readers]").replaceChildren(
    ...readers.map((user) => h("li", { class: "item", "data-testid": "reader" }, avatar(displayName(user), user.id, Boolean(user.online)), h("span", { class: "item-name", "data-testid": "reader-name" }, displayName(user)))),
  );
  // The members who have not read it yet, by name, as far as this page knows them.
  const read = new Set(readers.map((user) => user.id));
  const waiting = (store.conversations.get(message.conversation_id)?.memberIds ?? []).filter((id) => id !== message.sender_id && !read.has(id));
  el.querySelector("[data-testid=readers-unread]").textContent = waiting.length ? `Not read yet by ${waiting.map((id) => displayName(store.users.get(id))).join(", ")}.` : readers.length ? "Everyone has read it." : "";
  if (!readers.length) el.querySelector("[data-testid=readers]").append(h("li", { class: "hint" }, "Nobody has read it yet."));
  el.showModal();
}
