// Reactions under a message (emoji, count, who on hover; a click toggles our own) and the
// small picker that adds one. The server keeps one reaction per user per emoji.

import { h } from "../dom.js";
import { displayName } from "../format.js";

export const QUICK_REACTIONS = ["👍", "❤️", "😂", "😮", "😢", "🎉"];

/** "You, Bob and 3 others": the reactors the server lists (the first 10), then a count. */
export function whoReacted(reaction, store) {
  const names = reaction.user_ids.map((id) => (id === store.me.id ? "You" : displayName(store.users.get(id))));
  const others = reaction.count - names.length;
  if (others > 0) names.push(`${others} other${others === 1 ? "" : "s"}`);
  return names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}` : names[0] || "";
}

/** The row of reactions under a message; `onToggle(message, emoji, add)`. */
export function reactionRow(message, store, onToggle) {
  if (!message.reactions?.length) return null;
  return h(
    "div",
    { class: "reactions", "data-testid": "reactions" },
    ...message.reactions.map((reaction) => {
      const who = whoReacted(reaction, store);
      return h(
        "button",
        {
          type: "button",
          class: `reaction${reaction.me ? " mine" : ""}`,
          "data-testid": "reaction",
          "data-emoji": reaction.emoji,
          "aria-pressed": String(Boolean(reaction.me)),
          "aria-label": `${reaction.emoji} ${reaction.count}: ${who}`,
          title: `${who} reacted with ${reaction.emoji}`,
          onclick: () => onToggle(message, reaction.emoji, !reaction.me),
        },
        h("span", { class: "reaction-emoji", "aria-hidden": "true" }, reaction.emoji),
        h("span", { class: "reaction-count", "aria-hidden": "true" }, String(reaction.count)),
      );
    }),
  );
}

/** One floating picker for the page: open(button, message) shows it next to the button;
 * Esc, a click elsewhere or a pick closes it. `onPick(message, emoji, add)`. */
export function setupReactionPicker(onPick) {
  let forMessage = null;
  let opener = null;
  const picker = h("div", { class: "reaction-picker", role: "group", "aria-label": "Add a reaction", "data-testid": "reaction-picker", hidden: true });
  document.body.append(picker);

  function open(button, message) {
    if (forMessage?.id === message.id) return close();
    forMessage = message;
    opener = button;
    const mine = new Set((message.reactions || []).filter((r) => r.me).map((r) => r.emoji));
    picker.replaceChildren(
      ...QUICK_REACTIONS.map((emoji) =>
        h(
          "button",
          {
            type: "button",
            class: `reaction-choice${mine.has(emoji) ? " mine" : ""}`,
            "data-testid": "reaction-choice",
            "data-emoji": emoji,
            "aria-pressed": String(mine.has(emoji)),
            onclick: () => {
              close();
              onPick(message, emoji, !mine.has(emoji));
            },
          },
          emoji,
        ),
      ),
    );
    picker.hidden = false;
    // Above the button, kept inside the window (CSSOM writes are allowed by the CSP).
    const box = button.getBoundingClientRect();
    const width = picker.offsetWidth;
    picker.style.left = `${Math.max(8, Math.min(window.innerWidth - width - 8, box.left + box.width / 2 - width / 2))}px`;
    picker.style.top = `${Math.max(8, box.top - picker.offsetHeight - 6)}px`;
    picker.querySelector("button").focus();
  }

  function close() {
    if (!forMessage) return;
    forMessage = null;
    picker.hidden = true;
    if (picker.contains(document.activeElement)) opener?.focus();
    opener = null;
  }

  picker.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault(); // the conversation stays open (ui/keys.js)
      close();
    }
  });
  document.addEventListener("mousedown", (event) => {
    if (forMessage && !picker.contains(event.target) && event.target !== opener && !opener?.contains(event.target)) close();
  });
  return { open, close };
}
