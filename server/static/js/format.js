// Display formatting shared by the sidebar and the conversation view.

const pad = (n) => String(n).padStart(2, "0");

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/**
 * Message times as the product walk-through describes them: "HH:MM" today,
 * "Yesterday HH:MM", "MM-DD HH:MM" earlier this year, "YYYY-MM-DD HH:MM" before that.
 * `ms` is the server's epoch milliseconds (UTC); shown in the browser's local time.
 */
export function formatTime(ms, now = new Date()) {
  const d = new Date(ms);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (sameDay(d, now)) return time;
  const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
  if (sameDay(d, yesterday)) return `Yesterday ${time}`;
  const date = `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  if (d.getFullYear() === now.getFullYear()) return `${date} ${time}`;
  return `${d.getFullYear()}-${date} ${time}`;
}

/** A person's presence line: "online", "last seen today at 14:05", or "offline" when the
 * time is unknown (the server tells it only in presence events, not in UserVO). */
export function presenceText(user, now = new Date()) {
  if (user?.online) return "online";
  if (!user?.last_seen) return "offline";
  const when = formatTime(user.last_seen, now);
  if (/^\d\d:\d\d$/.test(when)) return `last seen today at ${when}`;
  if (when.startsWith("Yesterday ")) return `last seen yesterday at ${when.slice(10)}`;
  return `last seen ${when}`;
}

/** The day a run of messages was sent, for the line above it: "Today", "Yesterday",
 * "Monday 3 March", and the year too when it is not this one. */
export function formatDay(ms, now = new Date()) {
  const d = new Date(ms);
  if (sameDay(d, now)) return "Today";
  if (sameDay(d, new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1))) return "Yesterday";
  const options = { weekday: "long", day: "numeric", month: "long" };
  if (d.getFullYear() !== now.getFullYear()) options.year = "numeric";
  return d.toLocaleDateString("en-GB", options).replace(",", "");
}

/** A key that changes from one local day to the next. */
export function dayOf(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

/** Full local date and time, for tooltips. */
export function formatFullTime(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** What people are called on screen: the nickname when they chose one. */
export function displayName(user) {
  if (!user) return "Someone";
  return user.nickname || user.username || `User ${user.id}`;
}

/** The avatar letter and one of eight colour classes, stable per id (no inline styles: CSP). */
export function avatarOf(name, id) {
  const letter = (name || "?").trim().charAt(0).toUpperCase() || "?";
  return { letter, colour: `c${Math.abs(Number(id) || 0) % 8}` };
}

/** Parses the JSON file reference of an image or file message; null when it is not one. */
export function fileReference(message) {
  if (message.msg_type !== 2 && message.msg_type !== 3) return null;
  try {
    const ref = JSON.parse(message.content);
    return ref && Number.isInteger(ref.file_id) ? ref : null;
  } catch {
    return null;
  }
}

/** One line for the sidebar preview of a conversation's last message. */
export function previewOf(message, meId) {
  if (!message) return "";
  const mine = message.sender_id === meId ? "You: " : "";
  if (message.status === 3) return `${mine}Message recalled`;
  if (message.msg_type === 2) return `${mine}Photo`;
  if (message.msg_type === 3) return `${mine}File: ${fileReference(message)?.name ?? "attachment"}`;
  return mine + message.content.replace(/\s+/g, " ");
}

/** A random UUID; crypto.randomUUID only exists on https or localhost, so fall back. */
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
