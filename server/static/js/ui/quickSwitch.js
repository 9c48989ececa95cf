// Ctrl+K (⌘K): "Jump to" a conversation by typing part of its name; arrows choose, Enter
// opens. When no conversation fits, the people search takes over to find someone new.

import { h } from "../dom.js";
import { displayName } from "../format.js";

const MAX_SHOWN = 8;

export function setupQuickSwitch(chat, store, sidebar) {
  let matches = [];
  let active = 0;
  const input = h("input", {
    type: "search",
    placeholder: "Conversation name",
    autocomplete: "off",
    "aria-label": "Jump to a conversation",
    "aria-controls": "quick-switch-list",
    "aria-autocomplete": "list",
    "data-testid": "quick-switch-input",
  });
  const list = h("ul", { id: "quick-switch-list", class: "list quick-switch-list", role: "listbox", "aria-label": "Conversations", "data-testid": "quick-switch-list" });
  const dialog = h(
    "dialog",
    { class: "dialog quick-switch", "data-testid": "quick-switch", "aria-labelledby": "quick-switch-title" },
    h("h2", { id: "quick-switch-title" }, "Jump to"),
    input,
    list,
    h("p", { class: "hint quick-switch-hint" }, "↑ ↓ to choose, Enter to open, Esc to close"),
  );
  document.body.append(dialog);

  const nameOf = (conversation) => (conversation.type === "direct" ? displayName(store.peerOf(conversation)) : conversation.name);

  function update() {
    const typed = input.value.trim().toLowerCase();
    const all = [...store.sortedConversations(), ...store.sortedConversations({ archived: true })];
    matches = all.filter((c) => nameOf(c).toLowerCase().includes(typed) || (c.peer?.username ?? "").toLowerCase().includes(typed)).slice(0, MAX_SHOWN);
    active = Math.min(active, Math.max(0, matches.length - 1));
    list.replaceChildren(
      ...matches.map((conversation, index) =>
        h(
          "li",
          {
            id: `quick-switch-${index}`,
            role: "option",
            class: "quick-switch-option",
            "aria-selected": String(index === active),
            "data-testid": "quick-switch-option",
            onmousedown: (event) => {
              event.preventDefault();
              go(index);
            },
          },
          nameOf(conversation),
          conversation.unread_count ? h("span", { class: "badge" }, String(conversation.unread_count)) : null,
        ),
      ),
      matches.length ? null : h("li", { class: "hint", "data-testid": "quick-switch-none" }, "No conversation by that name. Enter searches people."),
    );
    if (matches.length) input.setAttribute("aria-activedescendant", `quick-switch-${active}`);
    else input.removeAttribute("aria-activedescendant");
  }

  function go(index) {
    const picked = matches[index];
    const typed = input.value.trim();
    dialog.close();
    if (picked) return chat.openConversation(picked.id);
    sidebar.findPeople(typed);
  }

  input.addEventListener("input", () => {
    active = 0;
    update();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (matches.length) active = (active + (event.key === "ArrowDown" ? 1 : matches.length - 1)) % matches.length;
      update();
    } else if (event.key === "Enter") {
      event.preventDefault();
      go(active);
    }
  });

  return {
    open() {
      if (dialog.open) return;
      input.value = "";
      active = 0;
      update();
      dialog.showModal();
      input.focus();
    },
  };
}
