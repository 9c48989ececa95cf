// The account part of the profile dialog (issue #18): the devices signed in (each can be
// signed out, or all the others at once), two-factor authentication (turn on with a QR code
// drawn by the server, recovery codes shown once; turn off with password and code), and
// deleting the account.

import { h, show } from "../dom.js";

/** A fresh section for each opening of the dialog. `onDeleted()` signs this page out. */
export function accountControls(api, { onDeleted }) {
  const sessions = h("ul", { class: "list", "data-testid": "session-list", "aria-label": "Signed-in devices" });
  const sessionStatus = status("session-status");
  const twoFactor = h("div", { "data-testid": "two-factor" });
  const deleting = deletion(api, onDeleted);
  const section = h(
    "div",
    { class: "account-controls" },
    h("h3", { class: "info-section" }, "Signed-in devices"),
    sessions,
    h("button", { type: "button", class: "ghost", "data-testid": "logout-others", onclick: logoutOthers }, "Sign out all other devices"),
    sessionStatus,
    h("h3", { class: "info-section" }, "Two-factor authentication"),
    twoFactor,
    deleting.form,
  );
  loadSessions();
  loadTwoFactor();
  return section;

  async function loadSessions() {
    try {
      const list = await api.request("GET", "/auth/sessions");
      sessions.replaceChildren(...list.map(sessionItem));
    } catch (error) {
      say(sessionStatus, error.message, true);
    }
  }

  function sessionItem(session) {
    const seen = session.current ? "this device" : `last seen ${new Date(session.last_seen_at).toLocaleString()}`;
    return h(
      "li",
      { class: "item", "data-testid": "session", "data-session-id": session.id, "data-current": String(session.current) },
      h("span", { class: "item-main" }, h("span", { class: "item-name" }, session.device), h("span", { class: "item-sub" }, seen)),
      session.current
        ? null
        : h("button", { type: "button", class: "ghost", "data-testid": "session-revoke", "aria-label": `Sign out ${session.device}`, onclick: () => revoke(session) }, "Sign out"),
    );
  }

  async function revoke(session) {
    try {
      await api.request("DELETE", `/auth/sessions/${session.id}`);
      say(sessionStatus, `Signed out: ${session.device}.`);
    } catch (error) {
      say(sessionStatus, error.code === 404 ? "That device was signed out already." : error.message, true);
    }
    loadSessions();
  }

  async function logoutOthers() {
    try {
      await api.request("POST", "/auth/logout-all");
      say(sessionStatus, "Every other device is signed out.");
    } catch (error) {
      say(sessionStatus, error.message, true);
    }
    loadSessions();
  }

  async function loadTwoFactor() {
    try {
      const state = await api.request("GET", "/auth/2fa");
      twoFactor.replaceChildren(state.enabled ? turnOff(state) : turnOn());
      deleting.askCode(state.enabled);
    } catch (error) {
      twoFactor.replaceChildren(h("p", { class: "form-error" }, error.message));
    }
  }

  function turnOn() {
    const password = h("input", { type: "password", autocomplete: "current-password", required: true, "data-testid": "two-factor-password" });
    const note = status("two-factor-status");
    const form = h(
      "form",
      { class: "profile-form", onsubmit: enrol },
      h("p", { class: "hint" }, "Off. With it on, signing in also asks for a code from an authenticator app."),
      h("label", {}, "Your password", password),
      note,
      h("button", { class: "primary", "data-testid": "two-factor-enrol" }, "Turn on"),
    );
    return form;

    async function enrol(event) {
      event.preventDefault();
      try {
        const enrolment = await api.request("POST", "/auth/2fa/enrol", { body: { password: password.value } });
        form.replaceWith(confirmation(enrolment));
      } catch (error) {
        say(note, failure(error), true);
      }
    }
  }

  function confirmation(enrolment) {
    const code = h("input", { inputmode: "numeric", autocomplete: "one-time-code", required: true, maxlength: 6, "data-testid": "two-factor-code" });
    const note = status("two-factor-status");
    const form = h(
      "form",
      { class: "profile-form", onsubmit: confirm },
      h("p", { class: "hint" }, "Scan this with your authenticator app, or type the key in, then enter the code it shows."),
      h("img", { src: enrolment.qr_svg, alt: "QR code of your two-factor key", width: 180, height: 180, "data-testid": "two-factor-qr" }),
      h("p", {}, "Key: ", h("code", { "data-testid": "two-factor-secret" }, enrolment.secret)),
      h("label", {}, "Code", code),
      note,
      h("button", { class: "primary", "data-testid": "two-factor-confirm" }, "Confirm"),
    );
    return form;

    async function confirm(event) {
      event.preventDefault();
      try {
        const { recovery_codes: codes } = await api.request("POST", "/auth/2fa/confirm", { body: { code: code.value.trim() } });
        deleting.askCode(true);
        form.replaceWith(
          h(
            "div",
            { "data-testid": "recovery-codes" },
            h("p", {}, "Two-factor authentication is on. Keep these recovery codes somewhere safe: each signs you in once without the app, and they are shown only now."),
            h("ul", {}, ...codes.map((one) => h("li", { "data-testid": "recovery-code" }, h("code", {}, one)))),
          ),
        );
      } catch (error) {
        say(note, failure(error), true);
      }
    }
  }

  function turnOff(state) {
    const password = h("input", { type: "password", autocomplete: "current-password", required: true, "data-testid": "two-factor-password" });
    const code = h("input", { autocomplete: "one-time-code", required: true, "data-testid": "two-factor-code" });
    const note = status("two-factor-status");
    return h(
      "form",
      { class: "profile-form", "data-testid": "two-factor-on", onsubmit: disable },
      h("p", { class: "hint" }, `On. ${state.recovery_codes_left} recovery codes left.`),
      h("label", {}, "Your password", password),
      h("label", {}, "A code from the app, or a recovery code", code),
      note,
      h("button", { class: "ghost danger-text", "data-testid": "two-factor-disable" }, "Turn off"),
    );

    async function disable(event) {
      event.preventDefault();
      try {
        await api.request("POST", "/auth/2fa/disable", { body: { password: password.value, code: code.value.trim() } });
        loadTwoFactor();
      } catch (error) {
        say(note, failure(error), true);
      }
    }
  }
}

/** The deletion form; `askCode(on)` shows the second factor's field, which the server
 * requires while two-factor is on. */
function deletion(api, onDeleted) {
  const password = h("input", { type: "password", autocomplete: "current-password", required: true, "data-testid": "delete-password" });
  const code = h("input", { autocomplete: "one-time-code", "data-testid": "delete-code" });
  const codeLabel = h("label", { hidden: true }, "A code from the app, or a recovery code", code);
  const sure = h("input", { type: "checkbox", required: true, "data-testid": "delete-confirm" });
  const note = status("delete-status");
  const form = h(
    "form",
    { class: "profile-form", "data-testid": "delete-account-form", onsubmit: remove },
    h("h3", { class: "info-section" }, "Delete account"),
    h("p", { class: "hint" }, "Your profile becomes “Deleted user” and every device is signed out. Messages you sent stay in others' chats."),
    h("label", {}, "Your password", password),
    codeLabel,
    h("label", { class: "check" }, sure, "I understand this cannot be undone"),
    note,
    h("button", { class: "ghost danger-text", "data-testid": "delete-account" }, "Delete my account"),
  );
  return { form, askCode };

  function askCode(on) {
    show(codeLabel, on);
    code.required = on;
  }

  async function remove(event) {
    event.preventDefault();
    const body = { password: password.value };
    if (!codeLabel.hidden) body.code = code.value.trim();
    try {
      await api.request("DELETE", "/users/me", { body });
      onDeleted();
    } catch (error) {
      // Two-factor turned on from another device since the dialog opened: ask for the code.
      if (error.code === 422 && error.data?.errors?.code) askCode(true);
      say(note, failure(error), true);
    }
  }
}

function failure(error) {
  return (
    {
      0: "The server cannot be reached.",
      403: error.message === "wrong two-factor code" ? "That code is wrong." : "The password is wrong.",
      429: "Too many attempts. Wait a minute and try again.",
    }[error.code] || (error.code === 422 ? error.detail : error.message)
  );
}

function status(testId) {
  return h("p", { class: "form-status", role: "status", "data-testid": testId, hidden: true });
}

function say(el, text, failed = false) {
  el.textContent = text;
  el.dataset.failed = String(failed);
  show(el, Boolean(text));
}
