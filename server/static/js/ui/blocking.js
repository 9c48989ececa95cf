// Block or unblock a person (PROTOCOL §3 blocking): the button in a direct chat's panel and
// on each member of a group's.
// Whom the user blocks is asked once per page and kept up to date here; their group messages
// are drawn collapsed (ui/conversation.js asks `isBlocked`, and redraws on a change).

import { h } from "../dom.js";
import { displayName } from "../format.js";

let blocked = null; // Promise of the Set of blocked user ids
let blockedNow = new Set(); // that Set once it came, for drawing without waiting
const listeners = [];

export function forgetBlocked() {
  blocked = null;
  blockedNow = new Set();
}

/** Ask the server whom the user blocks (at sign-in): group messages are collapsed from then on. */
export function loadBlocked(api) {
  known(api).catch(() => {});
}

export function isBlocked(userId) {
  return blockedNow.has(userId);
}

/** `listener()` after every change of whom the user blocks. */
export function onBlockedChange(listener) {
  listeners.push(listener);
}

function changed() {
  for (const listener of listeners) listener();
}

export function blockToggle(api, user) {
  const button = h("button", { type: "button", class: "ghost danger-text", "data-testid": "block-toggle", onclick: toggle }, "…");
  draw();
  return button;

  async function draw() {
    const ids = await known(api);
    const on = ids.has(user.id);
    button.textContent = on ? "Unblock" : "Block";
    button.dataset.blocked = String(on);
    button.setAttribute("aria-label", `${on ? "Unblock" : "Block"} ${displayName(user)}`);
  }

  async function toggle() {
    const ids = await known(api);
    const on = ids.has(user.id);
    button.disabled = true;
    try {
      await api.request(on ? "DELETE" : "POST", `/users/${user.id}/block`);
      if (on) ids.delete(user.id);
      else ids.add(user.id);
      changed();
    } finally {
      button.disabled = false;
      draw();
    }
  }
}

function known(api) {
  if (!blocked) {
    const asked = (blocked = api.request("GET", "/users/blocked").then((users) => new Set(users.map((user) => user.id))));
    asked.then(
      (ids) => {
        // Not when signed out (or asked again) meanwhile.
        if (blocked !== asked) return;
        blockedNow = ids;
        changed();
      },
      () => {
        if (blocked === asked) blocked = null;
      },
    );
  }
  return blocked;
}
