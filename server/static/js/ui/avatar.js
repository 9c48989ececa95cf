// Round initials avatar with an optional presence dot.

import { h } from "../dom.js";
import { avatarOf } from "../format.js";

/** `online`: true/false shows a dot (green/grey); undefined shows none (groups). */
export function avatar(name, id, online, { group = false, size = "" } = {}) {
  const { letter, colour } = avatarOf(name, id);
  return h(
    "span",
    { class: `avatar ${colour} ${group ? "group" : ""} ${size}`, "aria-hidden": "true" },
    letter,
    online === undefined
      ? null
      : h("span", { class: `dot ${online ? "online" : "offline"}`, "data-testid": "presence-dot", "data-online": String(Boolean(online)) }),
  );
}
