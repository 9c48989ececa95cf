// Search through the messages of the user's conversations (GET /api/search): a box above
// the conversation list; the hits replace the list while there is a query, newest first,
// with the matched words marked; a click opens the conversation at that message.

import { $, h, show, toast } from "../dom.js";
import { displayName, formatTime } from "../format.js";

const DEBOUNCE_MS = 300;

export function setupMessageSearch(chat, store, api) {
  const input = $("#message-search");
  const results = $("#search-results");
  const listEl = $("#conversation-list");
  let timer = null;
  let asked = 0; // answers to older keystrokes may arrive later: only the latest counts
  let next = null;
  let scope = null; // a conversation id: search only there (the open one, when asked)

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => run(false), DEBOUNCE_MS);
  });
  input.closest("form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(timer);
    run(false);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && input.value) {
      event.preventDefault(); // clears the search, leaves the open conversation alone (ui/keys.js)
      input.value = "";
      scope = null;
      run(false);
    }
  });

  const nameOf = (conversation) => (conversation?.type === "direct" ? displayName(store.peerOf(conversation)) : conversation?.name ?? "");

  async function run(more) {
    const q = input.value.trim();
    const searching = /[\p{L}\p{N}]/u.test(q);
    show(listEl, !searching);
    show(results, searching);
    show($("#archived-toggle"), !searching && store.sortedConversations({ archived: true }).length > 0);
    if (!searching) return results.replaceChildren();
    const mine = ++asked;
    if (scope !== null && !store.conversations.has(scope)) scope = null;
    try {
      const page = await api.search(q, { before: more ? next : undefined, conversationId: scope ?? undefined });
      if (mine !== asked) return;
      next = page.next_before;
      const hits = page.hits.map(drawHit);
      if (more) {
        results.querySelector("[data-testid=search-more]")?.closest("li").remove();
        results.append(...hits);
      } else {
        results.replaceChildren(scopeSwitch(), ...hits);
      }
      if (!results.querySelector("[data-testid=search-hit]")) results.append(h("li", { class: "hint", "data-testid": "search-none" }, "No messages found."));
      if (next !== null) {
        results.append(h("li", {}, h("button", { type: "button", class: "link search-more", "data-testid": "search-more", onclick: () => run(true) }, "More results")));
      }
    } catch (error) {
      if (mine !== asked) return;
      results.replaceChildren(h("li", { class: "hint", "data-testid": "search-none" }, error.code === 422 ? error.detail : `Could not search: ${error.message}`));
    }
  }

  /** "Only in <the open conversation>", or back to all of them. */
  function scopeSwitch() {
    const here = scope ?? (store.openId > 0 ? store.openId : null);
    if (here === null) return null;
    return h(
      "li",
      { class: "search-scope" },
      h(
        "button",
        {
          type: "button",
          class: "link",
          "data-testid": "search-scope",
          "aria-pressed": String(scope !== null),
          onclick: () => {
            scope = scope === null ? here : null;
            run(false);
          },
        },
        scope === null ? `Only in ${nameOf(store.conversations.get(here))}` : `Only in ${nameOf(store.conversations.get(here))} ✓ (show all)`,
      ),
    );
  }

  function drawHit({ message, snippet }) {
    const conversation = store.conversations.get(message.conversation_id);
    if (!store.users.has(message.sender_id)) chat.fetchUser(message.sender_id);
    const sender = message.sender_id === store.me.id ? "You" : displayName(store.users.get(message.sender_id));
    return h(
      "li",
      {},
      h(
        "button",
        {
          type: "button",
          class: "item search-hit",
          "data-testid": "search-hit",
          "data-conversation-id": message.conversation_id,
          "data-seq": message.seq,
          onclick: () => open(message),
        },
        h(
          "span",
          { class: "item-main" },
          h("span", { class: "item-row" }, h("span", { class: "item-name" }, nameOf(conversation)), h("time", { class: "item-time" }, formatTime(message.created_at))),
          h(
            "span",
            { class: "search-snippet", "data-testid": "search-snippet", dir: "auto" },
            `${sender}: `,
            // Plain text parts (PROTOCOL: never HTML); the matched words are marked.
            ...snippet.map((part) => (part.match ? h("mark", {}, part.text) : part.text)),
          ),
        ),
      ),
    );
  }

  async function open(message) {
    try {
      await chat.openAt(message.conversation_id, message.seq);
    } catch (error) {
      toast(`Could not open the message: ${error.message}`);
    }
  }

  return {
    reset() {
      input.value = "";
      scope = null;
      show(listEl, true);
      show(results, false);
      results.replaceChildren();
    },
  };
}
