// "New group": a name and members picked from the people directory.

import { $, h, show } from "../dom.js";
import { displayName } from "../format.js";
import { avatar } from "./avatar.js";

export function setupGroupDialog(chat, store, api) {
  const dialog = $("#group-dialog");
  const form = $("#group-form");
  const search = $("#group-search");
  const candidates = $("#group-candidates");
  const chips = $("#group-selected");
  const error = form.querySelector(".form-error");
  const selected = new Map(); // user id → UserVO
  let searchTimer = null;
  let searchSeq = 0;

  form.querySelector("[data-action=cancel]").addEventListener("click", () => dialog.close());
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(find, 200);
  });

  async function find() {
    const mine = ++searchSeq;
    try {
      const users = await api.searchUsers(search.value.trim());
      if (mine !== searchSeq) return;
      drawCandidates(users.filter((user) => user.id !== store.me.id));
    } catch (err) {
      fail(err.message);
    }
  }

  function drawCandidates(users) {
    candidates.replaceChildren(
      ...users.map((user) =>
        h(
          "li",
          {},
          h(
            "label",
            { class: "item pick", "data-testid": "group-candidate", "data-user-id": user.id },
            h("input", { type: "checkbox", checked: selected.has(user.id), onchange: (event) => toggle(user, event.target.checked) }),
            avatar(displayName(user), user.id, user.online),
            h("span", { class: "item-main" }, h("span", { class: "item-name" }, displayName(user)), h("span", { class: "item-sub" }, `@${user.username}`)),
          ),
        ),
      ),
    );
    if (!users.length) candidates.append(h("li", { class: "hint" }, "Nobody found."));
  }

  function toggle(user, on) {
    if (on) selected.set(user.id, user);
    else selected.delete(user.id);
    drawChips();
  }

  function drawChips() {
    chips.replaceChildren(
      ...[...selected.values()].map((user) =>
        h(
          "span",
          { class: "chip" },
          displayName(user),
          h(
            "button",
            {
              type: "button",
              "aria-label": `Remove ${displayName(user)}`,
              onclick: () => {
                selected.delete(user.id);
                drawChips();
                const box = candidates.querySelector(`[data-user-id="${user.id}"] input`);
                if (box) box.checked = false;
              },
            },
            "✕",
          ),
        ),
      ),
    );
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = form.querySelector("[name=name]").value.trim();
    if (!name) return fail("Give the group a name.");
    const submit = form.querySelector("[type=submit]");
    submit.disabled = true;
    try {
      await chat.createGroup(name, [...selected.keys()]);
      dialog.close();
    } catch (err) {
      fail(err.code === 422 ? err.detail : err.message);
    } finally {
      submit.disabled = false;
    }
  });

  function fail(text) {
    error.textContent = text;
    show(error, true);
  }

  return {
    open() {
      form.reset();
      selected.clear();
      drawChips();
      show(error, false);
      candidates.replaceChildren();
      dialog.showModal();
      find();
    },
  };
}
