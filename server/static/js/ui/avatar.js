// Round initials avatar with an optional presence dot, covered by the user's picture when
// their profile's `avatar` is an upload of this server.

import { h } from "../dom.js";
import { avatarOf } from "../format.js";
import { cachedImageUrl, imageUrl } from "../files.js";

const UPLOAD = /^\/api\/files\/(\d+)$/;
let filesApi = null;

/** The Api that fetches pictures: files are served only with the token (files.js). */
export function useAvatarApi(api) {
  filesApi = api;
}

/** `online`: true/false shows a dot (green/grey); undefined shows none (groups).
 * `picture`: the user's `avatar`; an upload's URL is drawn over the initials once fetched. */
export function avatar(name, id, online, { group = false, size = "", picture = null } = {}) {
  const { letter, colour } = avatarOf(name, id);
  const el = h(
    "span",
    { class: `avatar ${colour} ${group ? "group" : ""} ${size}`, "aria-hidden": "true" },
    letter,
    online === undefined
      ? null
      : h("span", { class: `dot ${online ? "online" : "offline"}`, "data-testid": "presence-dot", "data-online": String(Boolean(online)) }),
  );
  const fileId = Number(UPLOAD.exec(picture || "")?.[1]);
  if (fileId && filesApi) {
    const draw = (url) => el.prepend(h("img", { class: "avatar-picture", src: url, alt: "", "data-testid": "avatar-picture" }));
    const cached = cachedImageUrl(fileId);
    if (cached) draw(cached);
    // Not served (no longer the avatar, say): the initials stay.
    else imageUrl(filesApi, fileId).then(draw, () => {});
  }
  return el;
}
