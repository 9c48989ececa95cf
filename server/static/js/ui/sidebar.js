// The left column: who I am, the connection state, the conversation list with unread
// badges and presence dots, and the people directory for starting a direct chat.

import { $, h, show, toast } from "../dom.js";
import { displayName, formatTime, formatFullTime, previewOf } from "../format.js";
import { avatar } from "./avatar.js";
import { setupConversationMenu } from "./conversationMenu.js";

export function setupSidebar(chat, store, api, { onLogout, onOpenGroupDialog }) {
  const list = $("#conversation-list");
  const peopleList = $("#people-list");
  const peopleSearch = $("#people-search");
  const peopleHint = $("#people-hint");
  const connection = $("#connection");
  let tab = "chats";
  let searchTimer = null;
  let searchSeq = 0;
  let countdown = null;
  let wasDown = false; // the connection was lost since it was last open: say when it is back
  let backTimer = null;
  const chatConnection = $("#chat-connection");
  window.addEventListener("online", () => schedule(renderConnection));
  window.addEventListener("offline", () => schedule(renderConnection));
  let showArchived = false;
  const menu = setupConversationMenu(chat);
  const archivedToggle = $("#archived-toggle");
  // Up and Down move between the conversations of the list (Tab still goes through it all).
  $("#chats-panel").addEventListener("keydown", (event) => {
    if (!["ArrowDown", "ArrowUp", "Home", "End"].includes(event.key) || !event.target.matches?.(".conversation")) return;
    const items = [...$("#chats-panel").querySelectorAll(".conversation")];
    const at = items.indexOf(event.target);
    const to = { ArrowDown: Math.min(at + 1, items.length - 1), ArrowUp: Math.max(at - 1, 0), Home: 0, End: items.length - 1 }[event.key];
    event.preventDefault();
    items[to].focus();
  });
  archivedToggle.addEventListener("click", () => {
    showArchived = !showArchived;
    renderConversations();
  });

  $("#logout-button").addEventListener("click", onLogout);
  $("#new-group-button").addEventListener("click", onOpenGroupDialog);
  for (const button of document.querySelectorAll(".tab")) {
    button.addEventListener("click", () => selectTab(button.dataset.tab));
  }

  function selectTab(name) {
    tab = name;
    for (const button of document.querySelectorAll(".tab")) button.setAttribute("aria-selected", String(button.dataset.tab === name));
    show($("#chats-panel"), name === "chats");
    show($("#people-panel"), name === "people");
    if (name === "people") {
      peopleSearch.focus();
      searchPeople();
    }
  }

  peopleSearch.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(searchPeople, 200);
  });

  async function searchPeople() {
    const mine = ++searchSeq; // answers to older keystrokes may come back later; ignore them
    const askedAt = store.userPushes;
    try {
      const users = await api.searchUsers(peopleSearch.value.trim());
      if (mine !== searchSeq) return;
      for (const user of users) store.upsertUser(user, askedAt);
      renderPeople(users.filter((user) => user.id !== store.me.id));
    } catch (error) {
      if (mine === searchSeq) toast(`Could not search: ${error.message}`);
    }
  }

  function renderPeople(users) {
    peopleList.replaceChildren(
      ...users.map((user) => {
        const current = store.users.get(user.id) || user;
        return h(
          "li",
          {},
          h(
            "button",
            { class: "item", "data-testid": "person-item", "data-user-id": user.id, onclick: () => openDirect(current) },
            ...personParts(current),
          ),
        );
      }),
    );
    peopleHint.textContent = users.length ? "" : "Nobody found.";
    show(peopleHint, !users.length);
  }

  /** A person's picture and names in the People list, and what they were drawn from. */
  function personParts(user) {
    return [
      avatar(displayName(user), user.id, user.online, { picture: user.avatar }),
      h("span", { class: "item-main", "data-drawn": JSON.stringify([displayName(user), user.username, user.avatar]) }, h("span", { class: "item-name", "data-testid": "person-name" }, displayName(user)), h("span", { class: "item-sub" }, `@${user.username}`)),
    ];
  }

  async function openDirect(user) {
    selectTab("chats");
    try {
      await chat.openDirect(user);
    } catch (error) {
      toast(`Could not open the chat: ${error.message}`);
    }
  }

  function renderMe() {
    const me = store.me;
    if (!me) return;
    $("#me").replaceChildren(
      avatar(displayName(me), me.id, store.connection.state === "open", { picture: me.avatar }),
      h("span", { class: "item-main" }, h("span", { class: "item-name" }, displayName(me)), h("span", { class: "item-sub" }, `@${me.username}`)),
    );
  }

  /** The connection as a line above the list (and, on a phone, above the open chat): it
   * only informs; reading, scrolling and writing (into the outbox) go on meanwhile. */
  function renderConnection() {
    const { state, retryAt } = store.connection;
    clearInterval(countdown);
    const offline = navigator.onLine === false && state !== "open";
    const shown = offline ? "offline" : state === "open" && wasDown ? "online" : state;
    connection.dataset.state = shown;
    show(connection, shown !== "open" && shown !== "idle");
    if (state === "waiting" || offline) wasDown = true;
    if (state === "open" && wasDown) {
      // "Back online" for a moment, then out of the way.
      clearTimeout(backTimer);
      backTimer = setTimeout(() => {
        wasDown = false;
        renderConnection();
      }, 2500);
    }
    const queued = store.outbox.length;
    const tail = queued ? ` ${queued} message${queued === 1 ? "" : "s"} will be sent when you are back.` : "";
    if (shown === "online") {
      connection.replaceChildren("Back online.");
    } else if (offline) {
      connection.replaceChildren(`Offline: no network. You can read and write; nothing is lost.${tail}`);
    } else if (state === "connecting") {
      connection.replaceChildren("Connecting…" + tail);
    } else if (state === "waiting") {
      const draw = () => {
        const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
        connection.replaceChildren(
          h("span", {}, `Offline. Reconnecting in ${seconds} s.${tail} `),
          h("button", { class: "link", "data-testid": "reconnect-now", onclick: () => chat.socket.retryNow() }, "Retry now"),
        );
        chatConnection.textContent = connection.firstChild.textContent;
      };
      draw();
      countdown = setInterval(draw, 1000);
    }
    chatConnection.dataset.state = connection.dataset.state;
    chatConnection.textContent = connection.hidden ? "" : connection.firstChild?.textContent ?? connection.textContent;
    show(chatConnection, !connection.hidden);
    renderMe();
  }

  function renderConversations() {
    const conversations = store.sortedConversations();
    const archived = store.sortedConversations({ archived: true });
    if (!archived.length) showArchived = false;
    redraw(list, conversations);
    // Archived chats stay out of the list, behind a button at its end.
    redraw($("#archived-list"), showArchived ? archived : []);
    show(archivedToggle, archived.length > 0);
    archivedToggle.textContent = `${showArchived ? "Hide" : "Show"} archived (${archived.length})`;
    archivedToggle.setAttribute("aria-expanded", String(showArchived));
    show($("#no-conversations"), conversations.length === 0 && archived.length === 0);
    const total = store.totalUnread();
    const badge = $("#total-unread");
    badge.textContent = total > 99 ? "99+" : String(total);
    show(badge, total > 0);
    document.title = total ? `(${total}) Hubbub` : "Hubbub";
  }

  /** Keyed redraw: an item is rebuilt only when what it shows changed, and the list is only
   * rearranged when its order did. A click whose press and release straddle a redraw (a burst
   * of presence pushes, say) then still reaches its item, and the focus stays where it is. */
  function redraw(listEl, conversations) {
    const old = new Map([...listEl.children].map((el) => [el.dataset.key, el]));
    const wanted = conversations.map((conversation) => {
      const version = versionOf(conversation);
      const kept = old.get(String(conversation.id));
      if (kept?.dataset.version === version) return kept;
      const el = renderItem(conversation);
      el.dataset.key = String(conversation.id);
      el.dataset.version = version;
      return el;
    });
    const same = wanted.length === listEl.children.length && wanted.every((el, index) => listEl.children[index] === el);
    if (!same) listEl.replaceChildren(...wanted);
  }

  function versionOf(conversation) {
    const peer = store.peerOf(conversation);
    const last = conversation.last_message;
    return JSON.stringify([
      conversation.name,
      displayName(peer),
      peer?.username,
      peer?.avatar,
      Boolean(peer?.online),
      last && [last.seq, last.status, last.content, last.msg_type, last.sender_id, formatTime(last.created_at)],
      store.typingIn(conversation.id).length > 0,
      conversation.unread_count || 0,
      conversation.mention_count || 0,
      Boolean(conversation.muted),
      Boolean(conversation.pinned),
      Boolean(conversation.archived),
      conversation.id === store.openId,
    ]);
  }

  function renderItem(conversation) {
    const direct = conversation.type === "direct";
    const peer = store.peerOf(conversation);
    const name = direct ? displayName(peer) : conversation.name;
    const last = conversation.last_message;
    const typists = store.typingIn(conversation.id);
    const unread = conversation.unread_count || 0;
    const mentioned = conversation.mention_count || 0;
    return h(
      "li",
      { class: "conversation-row" },
      h(
        "button",
        {
          class: `item conversation ${conversation.id === store.openId ? "active" : ""} ${unread ? "has-unread" : ""} ${conversation.muted ? "muted" : ""}`,
          "data-testid": "conversation-item",
          "data-conversation-id": conversation.id,
          "data-type": conversation.type,
          "data-pinned": String(Boolean(conversation.pinned)),
          "data-muted": String(Boolean(conversation.muted)),
          onclick: () => chat.openConversation(conversation.id),
        },
        avatar(name, direct ? peer?.id : conversation.id, direct ? Boolean(peer?.online) : undefined, { group: !direct, picture: direct ? peer?.avatar : null }),
        h(
          "span",
          { class: "item-main" },
          h(
            "span",
            { class: "item-row" },
            h("span", { class: "item-name", "data-testid": "conversation-name" }, name),
            conversation.muted ? h("span", { class: "item-flag", "data-testid": "muted-mark", title: "Muted", role: "img", "aria-label": "muted" }, "🔕") : null,
            conversation.pinned ? h("span", { class: "item-flag", "data-testid": "pinned-mark", title: "Pinned", role: "img", "aria-label": "pinned" }, "📌") : null,
            last ? h("time", { class: "item-time", title: formatFullTime(last.created_at) }, formatTime(last.created_at)) : null,
          ),
          h(
            "span",
            { class: "item-row" },
            typists.length
              ? h("span", { class: "item-sub typing-note" }, "typing…")
              : h("span", { class: "item-sub", "data-testid": "conversation-preview" }, previewOf(last, store.me.id) || (direct ? `@${peer?.username ?? ""}` : "New group")),
            mentioned ? h("span", { class: "badge mention-badge", "data-testid": "mention-badge", title: "You were mentioned", "aria-label": `${mentioned} mention${mentioned === 1 ? "" : "s"}` }, "@") : null,
            unread ? h("span", { class: "badge", "data-testid": "unread-badge" }, unread > 99 ? "99+" : String(unread)) : null,
          ),
        ),
      ),
      h(
        "button",
        {
          type: "button",
          class: "icon-button item-menu",
          "data-testid": "conversation-menu-button",
          "aria-label": `Options for ${name}`,
          "aria-haspopup": "menu",
          "aria-expanded": "false",
          onclick: (event) => menu.open(event.currentTarget, conversation),
        },
        "⋯",
      ),
    );
  }

  store.addEventListener("change", (event) => {
    const { what } = event.detail;
    if (what === "conversations" || what === "users" || what === "typing" || what === "open") schedule(renderConversations);
    if (what === "connection" || what === "messages") schedule(renderConnection);
    if (what === "users" && tab === "people") schedule(refreshPeople);
  });

  /** Presence dots in place; a person whose name or picture changed (user.updated) drawn
   * again inside the same button, so that the focus stays where it is. */
  function refreshPeople() {
    for (const item of peopleList.querySelectorAll("[data-user-id]")) {
      const user = store.users.get(Number(item.dataset.userId));
      if (!user) continue;
      if (item.querySelector(".item-main")?.dataset.drawn !== JSON.stringify([displayName(user), user.username, user.avatar])) {
        item.replaceChildren(...personParts(user));
        continue;
      }
      const marker = item.querySelector(".dot");
      if (marker) {
        marker.className = `dot ${user.online ? "online" : "offline"}`;
        marker.dataset.online = String(Boolean(user.online));
      }
    }
  }

  return {
    /** The people search, in view (on a phone the list hides behind an open chat), with
     * `q` typed in it when given. */
    findPeople(q = null) {
      if (window.matchMedia("(max-width: 720px)").matches) chat.closeConversation();
      if (q !== null) peopleSearch.value = q;
      selectTab("people");
    },
    reset() {
      selectTab("chats");
      peopleSearch.value = "";
      peopleList.replaceChildren();
      renderConversations();
      renderConnection();
    },
  };
}

// Many store changes arrive in one burst (a catch-up page, say): draw once after it.
const scheduled = new Set();
export function schedule(render) {
  if (scheduled.has(render)) return;
  scheduled.add(render);
  queueMicrotask(() => {
    scheduled.delete(render);
    render();
  });
}
