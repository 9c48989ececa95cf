// Keyboard shortcuts: Esc leaves the open conversation (an open dialog takes Esc for itself
// first); Ctrl+K (⌘K on a Mac) jumps to a conversation by name (ui/quickSwitch.js), or on to
// the people search when none fits.

export function setupKeys(chat, store, quickSwitch) {
  document.addEventListener("keydown", (event) => {
    // An input method is using the keys, or a part of the page used this one (Esc that
    // closes a picker or cancels an edit leaves the conversation open).
    if (event.isComposing || event.defaultPrevented) return;
    if (event.key === "Escape" && store.openId !== null && !document.querySelector("dialog[open]")) {
      chat.closeConversation();
    } else if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
      event.preventDefault();
      quickSwitch.open();
    }
  });
}
