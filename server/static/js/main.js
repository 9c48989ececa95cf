// Start-up: pick the sign-in screen or the chat, and wire the pieces together.
// Modules: api.js (REST), socket.js (WebSocket, reconnect), chat.js (state changes, catch-up,
// outbox), store.js (state), ui/* (drawing), files.js (authenticated file fetches).

import { Api } from "./api.js";
import { TokenKeeper } from "./tokens.js";
import { Chat } from "./chat.js";
import { Store } from "./store.js";
import { $, h, show, toast } from "./dom.js";
import { forgetFiles } from "./files.js";
import { formatDay, formatTime } from "./format.js";
import { setupAuth, showForm } from "./ui/auth.js";
import { setupSidebar } from "./ui/sidebar.js";
import { setupConversation } from "./ui/conversation.js";
import { setupGroupDialog } from "./ui/groupDialog.js";
import { setupInfoPanel } from "./ui/infoPanel.js";
import { setupKeys } from "./ui/keys.js";
import { setupQuickSwitch } from "./ui/quickSwitch.js";
import { setupMessageSearch } from "./ui/messageSearch.js";
import { setupRouter } from "./router.js";
import { setupProfile } from "./ui/profile.js";
import { setupNotifications } from "./ui/notifications.js";
import { accountControls } from "./ui/account.js";
import { forgetBlocked, loadBlocked } from "./ui/blocking.js";
import { useAvatarApi } from "./ui/avatar.js";

const api = new Api();
useAvatarApi(api);
const keeper = new TokenKeeper(api);
const store = new Store();
const chat = new Chat(api, store);
const groupDialog = setupGroupDialog(chat, store, api);
const sidebar = setupSidebar(chat, store, api, { onLogout: logout, onOpenGroupDialog: () => groupDialog.open() });
const conversation = setupConversation(chat, store, api);
const messageSearch = setupMessageSearch(chat, store, api);
setupInfoPanel(chat, store, api);
setupKeys(chat, store, setupQuickSwitch(chat, store, sidebar));
const notifications = setupNotifications(chat, store);
const account = () => accountControls(api, { onDeleted: () => signedOut("Your account was deleted.") });
setupProfile(store, api, { extra: () => h("div", {}, notifications.controls(), account()) });
const router = setupRouter(chat, store);

// The token is dead (expired, or revoked by a logout elsewhere): back to the sign-in screen.
api.onUnauthorized = () => signedOut("Your session has ended. Please sign in again.");
chat.onSignedOut = () => signedOut("Your session has ended. Please sign in again.");
chat.onNotice = (text) => toast(text, "info");
chat.onForgotten = (gone, unsent) => conversation.handBack(gone, unsent);

setupAuth(api, async (login) => {
  keeper.adopt(login);
  await enter(login.user);
});

async function boot() {
  if (!keeper.load()) return showAuth();
  try {
    await enter(await api.me());
  } catch (error) {
    // 401 was handled by onUnauthorized; anything else (server down) also lands here.
    if (error.code !== 401) showAuth(error.code === 0 ? "The server cannot be reached." : error.message);
  }
}

async function enter(me) {
  show($("#auth-screen"), false);
  show($("#app"), true);
  sidebar.reset();
  conversation.reset();
  messageSearch.reset();
  loadBlocked(api); // their group messages are drawn collapsed
  await chat.start(me);
  router.restore();
}

function showAuth(message) {
  show($("#app"), false);
  show($("#auth-screen"), true);
  showForm("login");
  if (message) {
    const error = $("#login-form .form-error");
    error.textContent = message;
    show(error, true);
  }
}

async function logout() {
  // Signing out on purpose drops unsent messages and drafts too: on a shared computer they
  // must not linger. (A session that merely expired keeps them, to send after signing back
  // in.) Before the request: the socket's close (1008) may sign out before it answers.
  store.outbox = [];
  store.saveOutbox();
  conversation.forgetDrafts();
  try {
    await api.logout(); // revokes this token on the server and closes its sockets
  } catch {
    // Offline: the local sign-out still happens; the token expires on its own.
  }
  signedOut();
}

function signedOut(message) {
  if (!api.token) return; // already signed out
  chat.stop();
  api.token = null;
  keeper.clear();
  forgetBlocked();
  forgetFiles();
  store.reset();
  conversation.reset();
  showAuth(message);
}

window.addEventListener("unhandledrejection", (event) => {
  if (event.reason && typeof event.reason.code === "number") {
    event.preventDefault();
    if (event.reason.code !== 0 && event.reason.code !== 401) toast(event.reason.message);
  }
});

// A handle for the browser tests and for poking around in the console.
window.hubbub = { api, keeper, store, chat, socket: chat.socket, formatTime, formatDay };

boot();
