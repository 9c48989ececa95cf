// Desktop notifications and a short sound for messages that arrive while the tab is hidden.
// Both are off until the user turns them on (in the profile dialog); turning notifications on
// asks the browser's permission then, from that click. Muted conversations stay silent,
// unless a message mentions the user.

import { h } from "../dom.js";
import { displayName, previewOf } from "../format.js";

const PREVIEW_CHARS = 120;

export function setupNotifications(chat, store) {
  let audio = null; // AudioContext, made on the click that turns the sound on

  const key = () => `hubbub.notify.${store.me?.id}`;
  function settings() {
    try {
      return { desktop: false, sound: false, ...JSON.parse(localStorage.getItem(key()) || "{}") };
    } catch {
      return { desktop: false, sound: false };
    }
  }
  function save(changes) {
    try {
      localStorage.setItem(key(), JSON.stringify({ ...settings(), ...changes }));
    } catch {
      // storage disabled: the choice lasts for this page only
    }
  }

  chat.onIncoming = (conversation, message) => {
    // A mention gets through a mute, as in the chat apps people know.
    const mentioned = message.mentions?.includes(store.me.id);
    if (document.visibilityState !== "hidden" || (conversation.muted && !mentioned) || message.sender_id === store.me.id) return;
    const { desktop, sound } = settings();
    if (desktop && "Notification" in window && Notification.permission === "granted") notify(conversation, message);
    if (sound) chime();
  };

  function notify(conversation, message) {
    const sender = displayName(store.users.get(message.sender_id));
    const title = conversation.type === "group" ? conversation.name : sender;
    const text = previewOf(message, store.me.id);
    const body = (conversation.type === "group" ? `${sender}: ${text}` : text).slice(0, PREVIEW_CHARS);
    const note = new Notification(message.mentions?.includes(store.me.id) ? `${title} (mentioned you)` : title, { body, tag: `hubbub-${conversation.id}` });
    note.onclick = () => {
      window.focus();
      chat.openConversation(conversation.id);
      note.close();
    };
  }

  /** Two soft tones, made here: no sound file to fetch. */
  function chime() {
    if (!audio) return;
    const start = audio.currentTime;
    for (const [offset, frequency] of [[0, 880], [0.12, 1320]]) {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = frequency;
      gain.gain.setValueAtTime(0.08, start + offset);
      gain.gain.exponentialRampToValueAtTime(0.001, start + offset + 0.25);
      tone.connect(gain).connect(audio.destination);
      tone.start(start + offset);
      tone.stop(start + offset + 0.25);
    }
  }

  function wakeAudio() {
    if (!audio && window.AudioContext) audio = new AudioContext();
    audio?.resume();
  }

  /** The two switches, for the profile dialog; redrawn each time it opens. */
  function controls() {
    const current = settings();
    const supported = "Notification" in window;
    const status = h("p", { class: "form-status", role: "status", "data-testid": "notify-status", hidden: true });
    const desktop = h("input", { type: "checkbox", "data-testid": "notify-desktop", disabled: !supported });
    desktop.checked = current.desktop && supported && Notification.permission === "granted";
    const sound = h("input", { type: "checkbox", "data-testid": "notify-sound" });
    sound.checked = current.sound;
    if (sound.checked) wakeAudio();
    desktop.addEventListener("change", async () => {
      status.hidden = true;
      if (desktop.checked && Notification.permission !== "granted") {
        const answer = await Notification.requestPermission();
        if (answer !== "granted") {
          desktop.checked = false;
          status.textContent = "The browser does not allow notifications for this site: allow them in its site settings first.";
          status.dataset.failed = "true";
          status.hidden = false;
        }
      }
      save({ desktop: desktop.checked });
    });
    sound.addEventListener("change", () => {
      if (sound.checked) wakeAudio();
      save({ sound: sound.checked });
    });
    return h(
      "fieldset",
      { class: "notify-settings", "data-testid": "notify-settings" },
      h("legend", { class: "info-section" }, "When Hubbub is in the background"),
      h("label", { class: "check" }, desktop, supported ? " Show desktop notifications" : " Desktop notifications (not supported by this browser)"),
      h("label", { class: "check" }, sound, " Play a sound for new messages"),
      status,
    );
  }

  return { controls };
}
