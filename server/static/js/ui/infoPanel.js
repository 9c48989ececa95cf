// The conversation's panel, opened by clicking the chat header. A group: its members with
// presence, and for everybody "Leave" and blocking a member; for the owner also rename, add,
// remove and delete (PROTOCOL §3: those are owner-only). A direct chat: who the peer is, and
// blocking them.

import { blockToggle, onBlockedChange } from "./blocking.js";
import { $, h, show, toast } from "../dom.js";
import { displayName, presenceText } from "../format.js";
import { avatar } from "./avatar.js";
import { confirmAction } from "./confirm.js";
import { schedule } from "./sidebar.js";

export function setupInfoPanel(chat, store, api) {
  const dialog = $("#info-dialog");
  const body = $("#info-body");
  let shownId = null;
  let parts = null; // the elements redrawn on store changes; the forms are built once per open
  let searchTimer = null;
  let searchSeq = 0;

  $("#chat-info-button").addEventListener("click", () => open(store.openId));
  dialog.querySelector("[data-action=close]").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    shownId = null;
    parts = null;
    body.replaceChildren();
  });

  function open(id) {
    const conversation = store.conversations.get(id);
    if (!conversation) return;
    shownId = id;
    build(conversation);
    dialog.showModal();
    if (conversation.type === "group") chat.refreshConversation(id, 0); // members as they are now
  }

  function build(conversation) {
    const owner = conversation.owner_id === store.me.id;
    parts = {
      title: h("h2", { id: "info-title", "data-testid": "info-title" }),
      sub: h("p", { class: "subtitle", "data-testid": "info-subtitle" }),
      members: h("ul", { class: "list member-list", "data-testid": "member-list", "aria-label": "Members" }),
      candidates: h("ul", { class: "list pick-list", "data-testid": "add-candidates", "aria-label": "People to add" }),
      error: h("p", { class: "form-error", role: "alert", "data-testid": "info-error", hidden: true }),
    };
    if (conversation.type === "direct") {
      const peer = store.peerOf(conversation);
      body.replaceChildren(h("div", { class: "info-head" }, parts.title, parts.sub), peer ? h("div", { class: "dialog-actions" }, blockToggle(api, peer)) : "");
      return render();
    }
    body.replaceChildren(
      h("div", { class: "info-head" }, parts.title, parts.sub),
      owner ? renameForm(conversation) : null,
      owner ? settingsForm(conversation) : null,
      h("h3", { class: "info-section" }, "Members"),
      parts.members,
      owner ? addSection() : null,
      parts.error,
      h(
        "div",
        { class: "info-danger" },
        owner
          ? h("button", { type: "button", class: "ghost danger-text", "data-testid": "delete-group", onclick: deleteGroup }, "Delete group")
          : h("button", { type: "button", class: "ghost danger-text", "data-testid": "leave-group", onclick: leaveGroup }, "Leave group"),
      ),
    );
    render();
  }

  function renameForm(conversation) {
    const input = h("input", { name: "name", maxlength: 64, required: true, value: conversation.name, "data-testid": "rename-input" });
    return h(
      "form",
      {
        class: "inline-form",
        "data-testid": "rename-form",
        onsubmit: async (event) => {
          event.preventDefault();
          const name = input.value.trim();
          if (!name) return fail("Give the group a name.");
          await attempt(() => chat.renameGroup(shownId, name));
        },
      },
      h("label", {}, "Group name", input),
      h("button", { class: "primary", "data-testid": "rename-save" }, "Rename"),
    );
  }

  /** The owner's rules for the group: how long messages can be recalled and edited, and who
   * may mention @all. "The server's default" sends null (PROTOCOL §3, PATCH). */
  function settingsForm(conversation) {
    const windows = [
      ["", "the server's default"],
      ["0", "never"],
      ["120", "2 minutes"],
      ["900", "15 minutes"],
      ["3600", "1 hour"],
      ["86400", "1 day"],
    ];
    const picker = (name, testid, current) => {
      const select = h("select", { name, "data-testid": testid }, ...windows.map(([value, label]) => h("option", { value }, label)));
      // The VO holds the window in force; a value of the list that matches it is shown.
      select.value = windows.some(([value]) => value === String(current)) ? String(current) : "";
      return select;
    };
    const recall = picker("recall_window_seconds", "recall-window", conversation.recall_window_seconds);
    const edit = picker("edit_window_seconds", "edit-window", conversation.edit_window_seconds);
    const everyone = h("input", { type: "checkbox", name: "mentions_all", "data-testid": "mentions-all" });
    everyone.checked = conversation.mentions_all !== false;
    const saved = h("span", { class: "form-status", role: "status", "data-testid": "group-settings-status" });
    const seconds = (select) => (select.value === "" ? null : Number(select.value));
    return h(
      "form",
      {
        class: "group-settings",
        "data-testid": "group-settings",
        onsubmit: async (event) => {
          event.preventDefault();
          saved.textContent = "";
          const fields = { recall_window_seconds: seconds(recall), edit_window_seconds: seconds(edit), mentions_all: everyone.checked };
          if (await attempt(() => chat.updateGroup(shownId, fields))) saved.textContent = "Saved.";
        },
      },
      // Folded: they are set once in a while, the members are what the panel is mostly for.
      h(
        "details",
        {},
        h("summary", { class: "info-section", "data-testid": "group-settings-open" }, "Group rules"),
        h("label", {}, "Members can recall a message for ", recall),
        h("label", {}, "Members can edit a message for ", edit),
        h("label", { class: "check" }, everyone, " Everyone may mention @all (else only you)"),
        h("div", { class: "inline-actions" }, h("button", { class: "primary", "data-testid": "group-settings-save" }, "Save rules"), saved),
      ),
    );
  }

  function addSection() {
    const input = h("input", { type: "search", placeholder: "Search by name", autocomplete: "off", "data-testid": "add-search" });
    input.addEventListener("input", () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => findPeople(input.value.trim()), 200);
    });
    return h("div", {}, h("label", { class: "info-section" }, "Add people", input), parts.candidates);
  }

  async function findPeople(q) {
    const mine = ++searchSeq; // an answer to an older keystroke may come back later
    if (!q) return parts?.candidates.replaceChildren();
    try {
      const users = await api.searchUsers(q);
      if (mine !== searchSeq || !parts) return;
      const members = new Set(store.conversations.get(shownId)?.memberIds || []);
      const found = users.filter((user) => !members.has(user.id));
      parts.candidates.replaceChildren(
        ...found.map((user) =>
          h(
            "li",
            { class: "item", "data-testid": "add-candidate", "data-user-id": user.id },
            avatar(displayName(user), user.id, user.online),
            h("span", { class: "item-main" }, h("span", { class: "item-name" }, displayName(user)), h("span", { class: "item-sub" }, `@${user.username}`)),
            h(
              "button",
              {
                type: "button",
                class: "ghost",
                "aria-label": `Add ${displayName(user)}`,
                onclick: async (event) => {
                  event.currentTarget.closest("li").remove();
                  await attempt(() => chat.addMembers(shownId, [user.id]));
                },
              },
              "Add",
            ),
          ),
        ),
      );
      if (!found.length) parts.candidates.append(h("li", { class: "hint" }, "Nobody found."));
    } catch (error) {
      fail(error.message);
    }
  }

  /** Redraws what the store can change while the panel is open: name, presence, members. */
  function render() {
    const conversation = store.conversations.get(shownId);
    if (!parts || !conversation) return;
    if (conversation.type === "direct") {
      const peer = store.peerOf(conversation);
      parts.title.textContent = displayName(peer);
      parts.sub.textContent = `@${peer?.username ?? ""} · ${presenceText(peer)}`;
      return;
    }
    const ids = conversation.memberIds || [];
    parts.title.textContent = conversation.name;
    parts.sub.textContent = ids.length ? `Group · ${ids.length} members` : "Group";
    const owner = conversation.owner_id === store.me.id;
    const admin = conversation.role === "admin";
    const roleOf = (id) => (id === conversation.owner_id ? "owner" : conversation.roles?.get(id) ?? "member");
    const rank = { owner: 0, admin: 1, member: 2 };
    // The owner first, then the admins, then everybody else, each by name.
    const members = ids.map((id) => store.users.get(id) || { id }).sort((a, b) => rank[roleOf(a.id)] - rank[roleOf(b.id)] || displayName(a).localeCompare(displayName(b)));
    parts.members.replaceChildren(
      ...members.map((user) => {
        const you = user.id === store.me.id;
        const role = roleOf(user.id) === "member" ? "" : roleOf(user.id);
        // The owner removes anyone and names admins; an admin removes plain members.
        const removable = !you && (owner || (admin && role === ""));
        return h(
          "li",
          { class: "item", "data-testid": "member", "data-user-id": user.id },
          avatar(displayName(user), user.id, Boolean(user.online), { picture: user.avatar }),
          h(
            "span",
            { class: "item-main" },
            h("span", { class: "item-name", "data-testid": "member-name" }, you ? `${displayName(user)} (you)` : displayName(user)),
            h("span", { class: "item-sub", "data-testid": "member-presence" }, [role, you ? "" : presenceText(user)].filter(Boolean).join(" · ")),
          ),
          h(
            "span",
            { class: "member-actions" },
            owner && !you && role === ""
              ? h("button", { type: "button", class: "ghost", "data-testid": "make-admin", "aria-label": `Make admin: ${displayName(user)}`, onclick: () => attempt(() => chat.setRole(shownId, user.id, "admin")) }, "Make admin")
              : null,
            owner && role === "admin"
              ? h("button", { type: "button", class: "ghost", "data-testid": "remove-admin", "aria-label": `Remove admin: ${displayName(user)}`, onclick: () => attempt(() => chat.setRole(shownId, user.id, "member")) }, "Remove admin")
              : null,
            owner && !you
              ? h("button", { type: "button", class: "ghost", "data-testid": "make-owner", "aria-label": `Make owner: ${displayName(user)}`, title: `Hand the group over to ${displayName(user)}`, onclick: () => handOver(user) }, "Make owner")
              : null,
            removable
              ? h("button", { type: "button", class: "ghost", "data-testid": "remove-member", "aria-label": `Remove ${displayName(user)}`, onclick: () => removeMember(user) }, "Remove")
              : null,
            you ? null : blockToggle(api, user),
          ),
        );
      }),
    );
  }

  async function removeMember(user) {
    const conversation = store.conversations.get(shownId);
    if (!(await confirmAction(`Remove ${displayName(user)} from “${conversation.name}”?`, "Remove"))) return;
    await attempt(() => chat.removeMember(conversation.id, user.id));
  }

  async function handOver(user) {
    const conversation = store.conversations.get(shownId);
    if (!(await confirmAction(`Hand “${conversation.name}” over to ${displayName(user)}? They become its owner; you stay as an admin.`, "Make owner"))) return;
    if (await attempt(() => chat.transferOwnership(conversation.id, user.id))) {
      build(store.conversations.get(shownId)); // the owner's controls go
    }
  }

  async function leaveGroup() {
    const conversation = store.conversations.get(shownId);
    if (!(await confirmAction(`Leave “${conversation.name}”? You will no longer get its messages.`, "Leave group"))) return;
    if (await attempt(() => chat.removeMember(conversation.id, store.me.id))) dialog.close();
  }

  async function deleteGroup() {
    const conversation = store.conversations.get(shownId);
    if (!(await confirmAction(`Delete “${conversation.name}” and its messages for all members? This cannot be undone.`, "Delete group"))) return;
    if (await attempt(() => chat.deleteGroup(conversation.id))) dialog.close();
  }

  /** Runs one request; a refusal is shown in the panel. True when it worked. */
  async function attempt(action) {
    show(parts.error, false);
    try {
      await action();
      return true;
    } catch (error) {
      fail(error.code === 422 ? error.detail : error.message);
      return false;
    }
  }

  function fail(text) {
    if (!parts) return toast(text);
    parts.error.textContent = text;
    show(parts.error, true);
  }

  store.addEventListener("change", (event) => {
    if (shownId === null) return;
    const { what } = event.detail;
    // The conversation went away (deleted, or we were removed) while the panel was open.
    if (!store.conversations.has(shownId)) dialog.close();
    else if (what === "conversations" || what === "users" || what === "open") schedule(render);
  });
  // A member's block button may have been drawn anew while its request was under way.
  onBlockedChange(() => {
    if (shownId !== null) schedule(render);
  });
}
