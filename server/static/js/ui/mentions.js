// Mentions: `@username` (and `@all`) highlighted in the messages that mention someone, and
// suggestions among the conversation's members while "@" is being typed in the composer.
// The server decides who is mentioned (PROTOCOL §4, mentions); the client only shows it.

import { h, show } from "../dom.js";

// The server's rule: "@" not after a letter, digit, "_" or "@", then 3–32 name characters.
const MENTION = /(^|[^A-Za-z0-9_@])@([A-Za-z0-9_]{3,32})(?![A-Za-z0-9_])/g;
const TYPING_MENTION = /(^|[^A-Za-z0-9_@])@([A-Za-z0-9_]{0,32})$/;
const MAX_SUGGESTIONS = 8;

/** Text parts (strings and nodes, as linkify makes them) with the mentions the server
 * resolved wrapped in a highlighted span; mentions of this user stand out more. */
export function highlightMentions(parts, message, store) {
  if (!message.mentions?.length) return parts;
  const names = new Map();
  for (const id of message.mentions) {
    const username = store.users.get(id)?.username;
    if (username) names.set(username.toLowerCase(), id);
  }
  const meName = store.me.username.toLowerCase();
  return parts.flatMap((part) => {
    if (typeof part !== "string") return [part];
    const out = [];
    let at = 0;
    for (const match of part.matchAll(MENTION)) {
      const name = match[2].toLowerCase();
      if (name !== "all" && !names.has(name)) continue;
      const start = match.index + match[1].length;
      const end = start + 1 + match[2].length;
      out.push(part.slice(at, start));
      const me = name === meName || (name === "all" && message.mentions.includes(store.me.id));
      out.push(h("span", { class: `mention${me ? " is-me" : ""}`, "data-testid": "mention" }, part.slice(start, end)));
      at = end;
    }
    out.push(part.slice(at));
    return out;
  });
}

/** Suggestions under the composer while a mention is typed. `candidates()` gives the
 * people who can be mentioned here as [{username, name}]. Returns {onKey, close}: the
 * composer hands its keys to onKey first, which says whether it used them. */
export function setupMentionSuggestions(input, listEl, candidates) {
  let matches = [];
  let active = 0;
  let range = null;

  function update() {
    const before = input.value.slice(0, input.selectionStart);
    const typed = before.match(TYPING_MENTION);
    if (!typed || input.selectionStart !== input.selectionEnd) return close();
    const prefix = typed[2].toLowerCase();
    const found = candidates().filter((c) => c.username.toLowerCase().startsWith(prefix) || c.name.toLowerCase().startsWith(prefix));
    // Nothing to suggest: no one fits, or the name is typed out already (Enter then sends).
    if (!found.length || (found.length === 1 && found[0].username.toLowerCase() === prefix)) return close();
    matches = found.slice(0, MAX_SUGGESTIONS);
    range = [before.length - typed[2].length - 1, before.length];
    active = Math.min(active, matches.length - 1);
    render();
  }

  function render() {
    listEl.replaceChildren(
      ...matches.map((candidate, index) =>
        h(
          "li",
          {
            id: `mention-option-${index}`,
            role: "option",
            class: "mention-option",
            "aria-selected": String(index === active),
            "data-testid": "mention-option",
            "data-username": candidate.username,
            // mousedown, not click: the textarea keeps its focus and caret.
            onmousedown: (event) => {
              event.preventDefault();
              pick(index);
            },
          },
          h("span", { class: "mention-name" }, candidate.name),
          h("span", { class: "mention-username" }, `@${candidate.username}`),
        ),
      ),
    );
    show(listEl, true);
    input.setAttribute("aria-activedescendant", `mention-option-${active}`);
  }

  function close() {
    matches = [];
    active = 0;
    show(listEl, false);
    input.removeAttribute("aria-activedescendant");
  }

  function pick(index) {
    const [start, end] = range;
    input.setRangeText(`@${matches[index].username} `, start, end, "end");
    close();
    input.dispatchEvent(new Event("input"));
    input.focus();
  }

  input.addEventListener("input", update);
  input.addEventListener("click", update);
  input.addEventListener("blur", close);

  return {
    onKey(event) {
      if (!matches.length) return false;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        active = (active + (event.key === "ArrowDown" ? 1 : matches.length - 1)) % matches.length;
        render();
      } else if (event.key === "Enter" || event.key === "Tab") {
        pick(active);
      } else if (event.key === "Escape") {
        close();
      } else {
        return false;
      }
      event.preventDefault();
      return true;
    },
    close,
  };
}
