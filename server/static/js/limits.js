// The server's limits as PROTOCOL.md §5 gives their defaults. The server does not publish its
// settings, so a server configured differently is still the judge: its 413 is shown too.

export const MESSAGE_MAX_CHARS = 4000;
export const UPLOAD_MAX_BYTES = 20 * 1024 * 1024;

/** Length as the server counts it: characters (code points), not UTF-16 units, so an emoji
 * is one. */
export function charCount(text) {
  return [...text].length;
}

/** Whether a refused request may succeed when simply tried again: not reaching the server
 * (0), a timeout (408), rate limiting (429) or a server-side fault (5xx). Any other 4xx is an
 * answer about the request itself, and repeating it gets the same answer. */
export function isRetryable(code) {
  return code === 0 || code === 408 || code === 429 || code >= 500;
}
