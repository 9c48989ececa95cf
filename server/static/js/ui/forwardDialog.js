// Forward: pick one of the user's conversations to send a copy of a message into.

import { h, toast } from "../dom.js";
import { displayName } from "../format.js";

export function setupForwardDialog(chat, store) {
  let message = null;
  const filter = h("input", { type: "search", placeholder: "Search conversations", autocomplete: "off", "aria-label": "Search conversations", "data-testid": "forward-search" });
  const list = h("ul", { class: "list pick-list", "aria-label": "Conversations", "data-testid": "forward-targets" });
  const dialog = h(
    "dialog",
    { class: "dialog", "data-testid": "forward-dialog", "aria-labelledby": "forward-title" },
    h("h2", { id: "forward-title" }, "Forward to…"),
    filter,
    list,
    h("div", { class: "dialog-actions" }, h("button", { type: "button", class: "ghost", "data-testid": "forward-cancel", onclick: () => dialog.close() }, "Cancel")),
  );
  document.body.append(dialog);
  filter.addEventListener("input", render);

  const nameOf = (conversation) => (conversation.type === "direct" ? displayName(store.peerOf(conversation)) : conversation.name);

  function render() {
    const typed = filter.value.trim().toLowerCase();
    const targets = [...store.sortedConversations(), ...store.sortedConversations({ archived: true })].filter((c) => nameOf(c).toLowerCase().includes(typed));
    list.replaceChildren(
      ...targets.map((conversation) =>
        h(
          "li",
          {},
          h("button", { type: "button", class: "item", "data-testid": "forward-target", "data-conversation-id": conversation.id, onclick: () => send(conversation) }, h("span", { class: "item-name" }, nameOf(conversation))),
        ),
      ),
    );
    if (!targets.length) list.append(h("li", { class: "hint" }, "No conversation by that name."));
  }

  async function send(conversation) {
    const forwarded = message;
    dialog.close();
    try {
      await chat.forward(forwarded.id, conversation.id);
      toast(`Forwarded to ${nameOf(conversation)}.`, "info");
    } catch (error) {
      toast(error.code === 0 ? "You are offline: forward again when the connection is back." : `Could not forward: ${error.message}`);
    }
  }

  return {
    open(m) {
      message = m;
      filter.value = "";
      render();
      dialog.showModal();
      filter.focus();
    },
  };
}
