// The signed-in user's own profile, opened from their name at the top of the list: the
// display name, the picture (an uploaded image, which everyone signed in may then see), and a
// password change (POST /api/auth/password: the other sessions are
// signed out by the server, this one goes on).

import { $, h, show } from "../dom.js";
import { displayName } from "../format.js";

/** `extra()`: more of the dialog (the notification switches), made anew at each opening. */
export function setupProfile(store, api, { extra = () => null } = {}) {
  const nickname = h("input", { name: "nickname", maxlength: 64, autocomplete: "nickname", "data-testid": "profile-nickname" });
  const nameStatus = h("p", { class: "form-status", role: "status", "data-testid": "profile-name-status" });
  const picture = h("input", { type: "file", accept: "image/png,image/jpeg,image/gif,image/webp", "data-testid": "profile-avatar-file", onchange: savePicture });
  const pictureStatus = h("p", { class: "form-status", role: "status", "data-testid": "profile-avatar-status" });
  const current = h("input", { name: "current_password", type: "password", autocomplete: "current-password", required: true, "data-testid": "password-current" });
  const fresh = h("input", { name: "new_password", type: "password", autocomplete: "new-password", required: true, minlength: 6, maxlength: 128, "data-testid": "password-new" });
  const again = h("input", { name: "new_password_again", type: "password", autocomplete: "new-password", required: true, "data-testid": "password-again" });
  const passwordStatus = h("p", { class: "form-status", role: "status", "data-testid": "password-status" });
  // Password managers file the new password under this account.
  const username = h("input", { name: "username", autocomplete: "username", hidden: true, readonly: true, tabindex: -1, "aria-hidden": "true" });

  const dialog = h(
    "dialog",
    { class: "dialog profile-dialog", "data-testid": "profile-dialog", "aria-labelledby": "profile-title" },
    h("h2", { id: "profile-title" }, "Your profile"),
    h("p", { class: "subtitle", "data-testid": "profile-username" }),
    h(
      "form",
      { class: "profile-form", "data-testid": "profile-name-form", onsubmit: saveName },
      h("label", {}, "Display name", nickname),
      nameStatus,
      h("button", { class: "primary", "data-testid": "profile-name-save" }, "Save name"),
    ),
    h("div", { class: "profile-form" }, h("label", {}, "Picture (everyone signed in can see it)", picture), pictureStatus),
    h(
      "form",
      { class: "profile-form", "data-testid": "password-form", onsubmit: changePassword },
      h("h3", { class: "info-section" }, "Change password"),
      username,
      h("label", {}, "Current password", current),
      h("label", {}, "New password (at least 6 characters)", fresh),
      h("label", {}, "New password again", again),
      passwordStatus,
      h("button", { class: "primary", "data-testid": "password-save" }, "Change password"),
    ),
    h("div", { class: "profile-extra" }),
    h("div", { class: "dialog-actions" }, h("button", { type: "button", class: "ghost", "data-testid": "profile-close", onclick: () => dialog.close() }, "Close")),
  );
  document.body.append(dialog);

  $("#me").addEventListener("click", open);

  function open() {
    const me = store.me;
    if (!me) return;
    dialog.querySelector("[data-testid=profile-username]").textContent = `@${me.username} · ${me.email ?? ""}`;
    nickname.value = me.nickname || "";
    username.value = me.username;
    for (const input of [current, fresh, again]) input.value = "";
    picture.value = "";
    for (const status of [nameStatus, pictureStatus, passwordStatus]) say(status, "");
    dialog.querySelector(".profile-extra").replaceChildren(extra() ?? "");
    dialog.showModal();
    nickname.focus();
  }

  async function saveName(event) {
    event.preventDefault();
    try {
      const me = await api.updateMe({ nickname: nickname.value.trim() || null });
      adopt(me);
      say(nameStatus, `Saved: you are “${displayName(me)}”.`);
    } catch (error) {
      say(nameStatus, error.code === 422 ? error.detail : error.message, true);
    }
  }

  /** Uploads the chosen image and makes it the avatar (the server checks it is an image). */
  async function savePicture() {
    const file = picture.files[0];
    if (!file) return;
    say(pictureStatus, "Uploading…");
    try {
      const uploaded = await api.uploadFile(file);
      adopt(await api.updateMe({ avatar: uploaded.url }));
      say(pictureStatus, "Saved: this is your picture now.");
    } catch (error) {
      say(pictureStatus, error.code === 422 ? "That is not an image." : error.code === 413 ? "That image is too large." : error.message, true);
    }
  }

  function adopt(me) {
    store.me = { ...store.me, ...me };
    store.upsertUser(me);
    store.changed("users");
    store.changed("connection"); // redraws the name and picture at the top of the list
  }

  async function changePassword(event) {
    event.preventDefault();
    if (!current.value || !fresh.value) return say(passwordStatus, "Fill in your current and your new password.", true);
    if (fresh.value !== again.value) return say(passwordStatus, "The two new passwords differ.", true);
    try {
      await api.changePassword(current.value, fresh.value);
      for (const input of [current, fresh, again]) input.value = "";
      say(passwordStatus, "Password changed. Your other sessions were signed out; this one goes on.");
    } catch (error) {
      const why = {
        0: "The server cannot be reached.",
        403: "The current password is wrong.",
        429: "Too many attempts. Wait a minute and try again.",
      }[error.code];
      say(passwordStatus, why || (error.code === 422 ? error.detail : error.message), true);
    }
  }

  function say(el, text, failed = false) {
    el.textContent = text;
    el.dataset.failed = String(failed);
    show(el, Boolean(text));
  }
}
