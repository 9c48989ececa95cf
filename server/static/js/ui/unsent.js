// Text typed for a conversation that went away (the user was removed, the group deleted, or
// left) before it was sent: handed back in a dialog to copy, never dropped in silence.

import { h, toast } from "../dom.js";

let dialog = null;

function theDialog() {
  if (dialog) return dialog;
  const text = h("textarea", { readonly: true, rows: 6, class: "unsent-text", "aria-labelledby": "unsent-title", "data-testid": "unsent-text" });
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text.value);
      toast("Copied.", "info");
    } catch {
      // No clipboard access: the text is selected for Ctrl+C instead.
      text.select();
    }
  };
  dialog = h(
    "dialog",
    { class: "dialog", "data-testid": "unsent-dialog", "aria-labelledby": "unsent-title" },
    h("h2", { id: "unsent-title", "data-testid": "unsent-title" }),
    h("p", { class: "hint", "data-testid": "unsent-why" }),
    text,
    h(
      "div",
      { class: "dialog-actions" },
      h("button", { type: "button", class: "primary", "data-testid": "unsent-copy", onclick: copy }, "Copy"),
      h("button", { type: "button", class: "ghost", "data-testid": "unsent-close", onclick: () => dialog.close() }, "Close"),
    ),
  );
  document.body.append(dialog);
  return dialog;
}

/** Shows `texts` (what was typed for the conversation called `name`), if there are any. */
export function showUnsent(name, texts) {
  const kept = texts.filter((text) => text && text.trim());
  if (!kept.length) return;
  const el = theDialog();
  // Another one gone while this is open: its texts join the ones shown.
  const shown = el.open ? [el.querySelector("[data-testid=unsent-text]").value] : [];
  el.querySelector("[data-testid=unsent-title]").textContent = el.open ? "Not sent" : `Not sent to “${name}”`;
  el.querySelector("[data-testid=unsent-why]").textContent =
    "This conversation is no longer yours to write in, so what you typed for it was not sent. Copy it to keep it.";
  el.querySelector("[data-testid=unsent-text]").value = [...shown, ...kept].join("\n\n");
  if (!el.open) el.showModal();
}
