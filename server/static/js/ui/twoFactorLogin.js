// The second step of signing in when two-factor authentication is on: the login answered 401
// with a challenge; a code from the app (or a recovery code) finishes it (POST /api/auth/login/2fa).

import { $, h, show } from "../dom.js";

/** Resolves with the login result once a right code is entered. */
export function secondFactor(api, challenge) {
  const loginForm = $("#login-form");
  const code = h("input", { name: "code", autocomplete: "one-time-code", required: true, autofocus: true, "data-testid": "login-code" });
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "login-code-submit" }, "Sign in");
  const form = h(
    "form",
    { class: "auth-form", "data-testid": "two-factor-form" },
    h("h2", {}, "Two-factor code"),
    h("p", { class: "hint" }, "Enter the code from your authenticator app, or a recovery code."),
    h("label", {}, "Code", code),
    error,
    submit,
  );
  loginForm.after(form);
  show(loginForm, false);
  code.focus();
  return new Promise((resolve) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      try {
        const result = await api.request("POST", "/auth/login/2fa", { body: { challenge, code: code.value.trim() } });
        form.remove();
        show(loginForm, true);
        resolve(result);
      } catch (failure) {
        const expired = failure.message === "invalid or expired two-factor challenge";
        error.textContent = { 401: expired ? "That took too long: sign in again." : "That code is wrong.", 429: "Too many attempts. Wait a minute and try again." }[failure.code] || failure.message;
        show(error, true);
        if (expired) {
          form.remove();
          show(loginForm, true);
        }
      } finally {
        submit.disabled = false;
      }
    });
  });
}
