// The versions of an edited message (GET .../messages/{id}/edits), oldest first, in a dialog
// opened from the message's "edited" mark.

import { h, toast } from "../dom.js";
import { formatFullTime } from "../format.js";

let dialog = null;

function theDialog() {
  if (dialog) return dialog;
  dialog = h(
    "dialog",
    { class: "dialog", "data-testid": "edit-history", "aria-labelledby": "edit-history-title" },
    h("h2", { id: "edit-history-title" }, "Edit history"),
    h("ol", { class: "versions", "data-testid": "versions" }),
    h("div", { class: "dialog-actions" }, h("button", { type: "button", class: "ghost", "data-testid": "edit-history-close", onclick: () => dialog.close() }, "Close")),
  );
  document.body.append(dialog);
  return dialog;
}

export async function showEditHistory(api, message) {
  let versions;
  try {
    versions = await api.messageEdits(message.conversation_id, message.id);
  } catch (error) {
    toast(`Could not load the edit history: ${error.message}`);
    return;
  }
  const el = theDialog();
  el.querySelector(".versions").replaceChildren(
    ...versions.map((version, index) =>
      h(
        "li",
        { class: "version", "data-testid": "version" },
        h("div", { class: "version-when" }, `${index === 0 ? "Original" : index === versions.length - 1 ? "Current" : `Edit ${index}`} · ${formatFullTime(version.created_at)}`),
        h("div", { class: "version-text", "data-testid": "version-text", dir: "auto" }, version.content),
      ),
    ),
  );
  if (!versions.length) el.querySelector(".versions").append(h("li", { class: "hint" }, "The message was recalled."));
  el.showModal();
}
