// The "⋯" menu of a conversation in the list: mute, pin and archive, each the caller's own
// setting (PROTOCOL §2: muted, pinned, archived). One menu element serves every item.

import { h, toast } from "../dom.js";

export function setupConversationMenu(chat) {
  let opener = null;
  const menu = h("div", { class: "conversation-menu", role: "menu", "data-testid": "conversation-menu", hidden: true });
  document.body.append(menu);

  function entry(label, testid, settings, id) {
    return h(
      "button",
      {
        type: "button",
        role: "menuitem",
        class: "menu-item",
        "data-testid": testid,
        onclick: async () => {
          close();
          try {
            await chat.updateSettings(id, settings);
          } catch (error) {
            toast(error.code === 0 ? "You are offline: try again when the connection is back." : `Could not change the setting: ${error.message}`);
          }
        },
      },
      label,
    );
  }

  function open(button, conversation) {
    if (opener === button) return close();
    opener = button;
    const { id, muted, pinned, archived } = conversation;
    menu.replaceChildren(
      entry(muted ? "Unmute" : "Mute notifications", muted ? "menu-unmute" : "menu-mute", { muted: !muted }, id),
      entry(pinned ? "Unpin" : "Pin to the top", pinned ? "menu-unpin" : "menu-pin", { pinned: !pinned }, id),
      entry(archived ? "Unarchive" : "Archive", archived ? "menu-unarchive" : "menu-archive", { archived: !archived }, id),
    );
    menu.hidden = false;
    button.setAttribute("aria-expanded", "true");
    const box = button.getBoundingClientRect();
    menu.style.top = `${Math.min(window.innerHeight - menu.offsetHeight - 8, box.bottom + 4)}px`;
    menu.style.left = `${Math.max(8, Math.min(window.innerWidth - menu.offsetWidth - 8, box.right - menu.offsetWidth))}px`;
    menu.querySelector("button").focus();
  }

  function close() {
    if (!opener) return;
    const button = opener;
    opener = null;
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
    if (menu.contains(document.activeElement) && button.isConnected) button.focus();
  }

  menu.addEventListener("keydown", (event) => {
    const items = [...menu.querySelectorAll("button")];
    const at = items.indexOf(document.activeElement);
    if (event.key === "Escape") {
      event.preventDefault(); // closes the menu only (ui/keys.js)
      close();
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      items[(at + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length].focus();
    }
  });
  document.addEventListener("mousedown", (event) => {
    if (opener && !menu.contains(event.target) && !opener.contains(event.target)) close();
  });
  return { open, close };
}
