// Links in message text: web addresses and mailto: become links, and nothing else does (no
// javascript:, data:, ...). They open in a new tab without giving it a handle on this page
// (noopener) or telling the site where the click came from (noreferrer).

import { h } from "../dom.js";

const CANDIDATE = /\b(?:https?:\/\/|mailto:)[^\s<>"]+/gi;
const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);
// Punctuation that ends a sentence rather than the address: "see https://x.org/a."
const TRAILING = /[.,;:!?'")\]]+$/;

/** The text as text nodes and <a> elements, for h() to append. */
export function linkify(text) {
  const parts = [];
  let at = 0;
  for (const match of text.matchAll(CANDIDATE)) {
    const address = match[0].replace(TRAILING, "");
    let url;
    try {
      url = new URL(address);
    } catch {
      continue;
    }
    if (!SAFE_PROTOCOLS.has(url.protocol)) continue;
    parts.push(text.slice(at, match.index));
    parts.push(h("a", { href: url.href, target: "_blank", rel: "noopener noreferrer", "data-testid": "message-link" }, address));
    at = match.index + address.length;
  }
  parts.push(text.slice(at));
  return parts;
}
