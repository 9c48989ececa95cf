// A yes/no question before something that cannot be undone (recall, leave, delete), in a
// modal <dialog> rather than window.confirm, which freezes the page and cannot be styled.

import { $ } from "../dom.js";

/** Resolves true when the user chose `okLabel`; Esc or Cancel is false. */
export function confirmAction(text, okLabel) {
  const dialog = $("#confirm-dialog");
  $("#confirm-text").textContent = text;
  dialog.querySelector("[value=ok]").textContent = okLabel;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    // The safe answer has the focus: an Enter pressed out of habit does no harm.
    dialog.querySelector("[value=cancel]").focus();
  });
}
