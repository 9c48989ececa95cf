// The left column: who I am, the connection state, the conversation list with unread
// badges and presence dots, and the people directory for starting a direct chat.

import { $, h, show, toast } from "../dom.js";
import { displayName, formatTime, formatFullTime, previewOf } from "../format.js";
import { avatar } from "./avatar.js";

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
    try {
      const users = await api.searchUsers(peopleSearch.value.trim());
      if (mine !== searchSeq) return;
      for (const user of users) store.upsertUser(user);
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
            avatar(displayName(current), user.id, current.online),
            h("span", { class: "item-main" }, h("span", { class: "item-name", "data-testid": "person-name" }, displayName(current)), h("span", { class: "item-sub" }, `@${current.username}`)),
          ),
        );
      }),
    );
    peopleHint.textContent = users.length ? "" : "Nobody found.";
    show(peopleHint, !users.length);
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
      avatar(displayName(me), me.id, store.connection.state === "open"),
      h("span", { class: "item-main" }, h("span", { class: "item-name" }, displayName(me)), h("span", { class: "item-sub" }, `@${me.username}`)),
    );
  }

  function renderConnection() {
    const { state, retryAt } = store.connection;
    clearInterval(countdown);
    connection.dataset.state = state;
    show(connection, state !== "open" && state !== "idle");
    const queued = store.outbox.length;
    const tail = queued ? ` ${queued} message${queued === 1 ? "" : "s"} will be sent when you are back.` : "";
    if (state === "connecting") {
      connection.replaceChildren("Connecting…" + tail);
    } else if (state === "waiting") {
      const draw = () => {
        const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
        connection.replaceChildren(
          h("span", {}, `Offline. Reconnecting in ${seconds} s.${tail} `),
          h("button", { class: "link", "data-testid": "reconnect-now", onclick: () => chat.socket.retryNow() }, "Retry now"),
        );
      };
      draw();
      countdown = setInterval(draw, 1000);
    }
    renderMe();
  }

  function renderConversations() {
    const conversations = store.sortedConversations();
    list.replaceChildren(...conversations.map(renderItem));
    show($("#no-conversations"), conversations.length === 0);
    const total = store.totalUnread();
    const badge = $("#total-unread");
    badge.textContent = total > 99 ? "99+" : String(total);
    show(badge, total > 0);
    document.title = total ? `(${total}) Hubbub` : "Hubbub";
  }

  function renderItem(conversation) {
    const direct = conversation.type === "direct";
    const peer = store.peerOf(conversation);
    const name = direct ? displayName(peer) : conversation.name;
    const last = conversation.last_message;
    const typists = store.typingIn(conversation.id);
    const unread = conversation.unread_count || 0;
    return h(
      "li",
      {},
      h(
        "button",
        {
          class: `item conversation ${conversation.id === store.openId ? "active" : ""} ${unread ? "has-unread" : ""}`,
          "data-testid": "conversation-item",
          "data-conversation-id": conversation.id,
          "data-type": conversation.type,
          onclick: () => chat.openConversation(conversation.id),
        },
        avatar(name, direct ? peer?.id : conversation.id, direct ? Boolean(peer?.online) : undefined, { group: !direct }),
        h(
          "span",
          { class: "item-main" },
          h(
            "span",
            { class: "item-row" },
            h("span", { class: "item-name", "data-testid": "conversation-name" }, name),
            last ? h("time", { class: "item-time", title: formatFullTime(last.created_at) }, formatTime(last.created_at)) : null,
          ),
          h(
            "span",
            { class: "item-row" },
            typists.length
              ? h("span", { class: "item-sub typing-note" }, "typing…")
              : h("span", { class: "item-sub", "data-testid": "conversation-preview" }, previewOf(last, store.me.id) || (direct ? `@${peer?.username ?? ""}` : "New group")),
            unread ? h("span", { class: "badge", "data-testid": "unread-badge" }, unread > 99 ? "99+" : String(unread)) : null,
          ),
        ),
      ),
    );
  }

  store.addEventListener("change", (event) => {
    const { what } = event.detail;
    if (what === "conversations" || what === "users" || what === "typing" || what === "open") schedule(renderConversations);
    if (what === "connection" || what === "messages") schedule(renderConnection);
    if (what === "users" && tab === "people") schedule(refreshPeopleDots);
  });

  function refreshPeopleDots() {
    for (const dot of peopleList.querySelectorAll("[data-user-id]")) {
      const user = store.users.get(Number(dot.dataset.userId));
      const marker = dot.querySelector(".dot");
      if (user && marker) {
        marker.className = `dot ${user.online ? "online" : "offline"}`;
        marker.dataset.online = String(Boolean(user.online));
      }
    }
  }

  return {
    /** Ctrl+K: the people search, in view (on a phone the list hides behind an open chat). */
    findPeople() {
      if (window.matchMedia("(max-width: 720px)").matches) chat.closeConversation();
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
