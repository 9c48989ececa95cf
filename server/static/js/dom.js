// Tiny DOM helpers. Everything user-supplied goes in as text nodes or attribute values:
// nothing in this client ever assigns innerHTML, so a message cannot become markup.

/**
 * h("li", {class: "msg", "data-seq": 3, onclick: fn}, "text", childNode, [more], null)
 * Strings become text nodes; null/undefined/false children are skipped; arrays are flattened.
 * Attribute values of false/null/undefined are left out; true sets an empty attribute.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (name === "text") {
      el.textContent = value;
    } else if (name === "value") {
      el.value = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** Shows or hides an element through the `hidden` attribute (CSS keeps [hidden] hidden). */
export function show(el, visible) {
  el.hidden = !visible;
}

let toastTimer = null;

/** A short message at the bottom of the screen, e.g. an upload that failed. */
export function toast(text, kind = "error") {
  const el = $("#toast");
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), 5000);
}
