// Deep links: the open conversation is in the address (/c/{id}), so a reload keeps it open
// and the browser's Back button goes back to the previous one, or to the list. The server
// serves this page for /c/* too (server/routes/client.py).

const PATH = /^\/c\/(\d+)$/;
const idInPath = () => Number(location.pathname.match(PATH)?.[1] ?? 0) || null;

export function setupRouter(chat, store) {
  let inAddress = idInPath();

  store.addEventListener("change", (event) => {
    if (event.detail.what !== "open") return;
    // A draft chat (negative id, see chat.js) has no address of its own yet.
    const id = store.openId > 0 ? store.openId : null;
    if (id === inAddress) return;
    inAddress = id;
    history.pushState(null, "", id === null ? "/" : `/c/${id}`);
  });

  window.addEventListener("popstate", () => {
    inAddress = idInPath();
    if (inAddress !== null && store.conversations.has(inAddress)) chat.openConversation(inAddress);
    else chat.closeConversation();
  });

  return {
    /** After signing in: opens the conversation the address names, if it is one of ours. */
    restore() {
      inAddress = idInPath();
      if (inAddress !== null && store.conversations.has(inAddress)) chat.openConversation(inAddress);
      else if (location.pathname !== "/") history.replaceState(null, "", "/");
    },
  };
}
