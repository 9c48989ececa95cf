// Keyboard shortcuts: Esc leaves the open conversation (an open dialog takes Esc for itself
// first); Ctrl+K (⌘K on a Mac) jumps to the people search, to find anyone and open their chat.

export function setupKeys(chat, store, sidebar) {
  document.addEventListener("keydown", (event) => {
    if (event.isComposing) return; // an input method is using the keys
    if (event.key === "Escape" && store.openId !== null && !document.querySelector("dialog[open]")) {
      chat.closeConversation();
    } else if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
      event.preventDefault();
      sidebar.findPeople();
    }
  });
}
