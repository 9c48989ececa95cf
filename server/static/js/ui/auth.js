// The sign-in and sign-up screens.

import { $, show } from "../dom.js";
import { secondFactor } from "./twoFactorLogin.js";

/**
 * Wires both forms. `onSignedIn(loginResult)` gets the server's {token, user, ...}.
 * A new account is signed in straight away: the walk-through's "register, then log in"
 * with one step fewer for the user.
 */
export function setupAuth(api, onSignedIn) {
  const loginForm = $("#login-form");
  const registerForm = $("#register-form");

  for (const button of document.querySelectorAll("[data-show]")) {
    button.addEventListener("click", () => showForm(button.dataset.show));
  }

  loginForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const identity = loginForm.identity.value.trim();
    const password = loginForm.password.value;
    if (!identity || !password) return fail(loginForm, "Enter your username (or email) and password.");
    await busy(loginForm, async () => {
      let result;
      try {
        result = await api.login(identity, password);
      } catch (error) {
        if (!error.data?.two_factor_required) throw error;
        result = await secondFactor(api, error.data.challenge);
      }
      loginForm.reset();
      onSignedIn(result);
    });
  });

  registerForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = {
      username: registerForm.username.value.trim(),
      email: registerForm.email.value.trim(),
      password: registerForm.password.value,
    };
    const nickname = registerForm.nickname.value.trim();
    if (nickname) fields.nickname = nickname;
    if (!/^[A-Za-z0-9_]{3,32}$/.test(fields.username)) return fail(registerForm, "Username: 3 to 32 letters, digits or underscores.");
    if (!fields.email.includes("@")) return fail(registerForm, "Enter a valid email address.");
    if (fields.password.length < 6) return fail(registerForm, "Password: at least 6 characters.");
    await busy(registerForm, async () => {
      await api.register(fields);
      const result = await api.login(fields.username, fields.password);
      registerForm.reset();
      onSignedIn(result);
    });
  });
}

export function showForm(which) {
  const login = which === "login";
  show($("#login-form"), login);
  show($("#register-form"), !login);
  for (const error of document.querySelectorAll("#auth-screen .form-error")) show(error, false);
  $(login ? "#login-form input" : "#register-form input").focus();
}

async function busy(form, work) {
  const submit = form.querySelector("[type=submit]");
  submit.disabled = true;
  show(form.querySelector(".form-error"), false);
  try {
    await work();
  } catch (error) {
    const messages = {
      0: "The server cannot be reached. Check your connection and try again.",
      401: "Wrong username, email or password.",
      403: "This account is disabled.",
      409: "That username or email is already taken.",
      429: "Too many attempts. Wait a minute and try again.",
    };
    fail(form, messages[error.code] || (error.code === 422 ? error.detail : error.message));
  } finally {
    submit.disabled = false;
  }
}

function fail(form, text) {
  const error = form.querySelector(".form-error");
  error.textContent = text;
  show(error, true);
}
