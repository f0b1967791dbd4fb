// A break, on both sides of a room: "Break" and the time left, counted down from the seconds
// the server says are left (so a page that comes back shows the same), with this page's
// camera and microphone paused (track.enabled = false, never stopped) until it ends. The
// therapist starts one of 2, 5 or 10 minutes and may end it early; the young person says
// "I'm back", which tells the therapist.

import { state } from "./room.js";
import { t } from "./strings.js";

function clock(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export class Breaks {
  /**
   * @param signalling the page's Signalling
   * @param getStream () => this page's camera and microphone stream, or null
   * @param onBack (therapist) called with the participant id of someone who is back
   */
  constructor(signalling, getStream, onBack = () => {}) {
    this.signalling = signalling;
    this.getStream = getStream;
    this.banner = document.getElementById("break-banner");
    this.left = this.banner.querySelector("[data-break-left]");
    this.note = this.banner.querySelector("[data-break-note]");
    this.endsAt = 0;
    this.timer = null;
    state.onBreak = { on: false, secondsLeft: 0 };
    state.localTracks = () =>
      (this.getStream()?.getTracks() ?? []).map((t) => ({
        kind: t.kind,
        enabled: t.enabled,
        live: t.readyState === "live",
      }));
    signalling.on("break", (m) => this.show(m));
    signalling.on("break_back", (m) => {
      if (this.note)
        this.note.textContent = "They say they're back. End the break when you're ready.";
      onBack(m.participant);
    });
    for (const button of document.querySelectorAll("[data-break-minutes]")) {
      button.addEventListener("click", () =>
        signalling.send({ type: "start_break", minutes: Number(button.dataset.breakMinutes) }),
      );
    }
    document
      .getElementById("end-break")
      ?.addEventListener("click", () => signalling.send({ type: "end_break" }));
    const back = document.getElementById("back-from-break");
    back?.addEventListener("click", () => {
      if (signalling.send({ type: "back_from_break" }) && this.note)
        this.note.textContent = t("Your therapist knows you're back.");
    });
  }

  /** Ask the server whether a break is on (on coming into the room, or opening it again). */
  ask() {
    this.signalling.send({ type: "break_status" });
  }

  show(message) {
    if (message.on) this.start(message.seconds_left, message.minutes);
    else this.stop();
  }

  start(secondsLeft, minutes) {
    this.endsAt = Date.now() + secondsLeft * 1000;
    this.banner.hidden = false;
    this.banner.dataset.minutes = String(minutes);
    if (this.note) this.note.textContent = "";
    for (const b of document.querySelectorAll("[data-break-minutes]")) b.disabled = true;
    this.pause();
    clearInterval(this.timer);
    this.tick();
    this.timer = setInterval(() => this.tick(), 1000);
  }

  tick() {
    const seconds = (this.endsAt - Date.now()) / 1000;
    this.left.textContent = clock(seconds);
    state.onBreak = { on: true, secondsLeft: Math.max(0, Math.ceil(seconds)) };
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    if (this.banner.hidden) return;
    this.banner.hidden = true;
    for (const b of document.querySelectorAll("[data-break-minutes]")) b.disabled = false;
    state.onBreak = { on: false, secondsLeft: 0 };
    this.resume();
  }

  /** Camera and microphone off for the break; their buttons wait until it ends. */
  pause() {
    for (const id of ["mute", "camera"]) {
      const button = document.getElementById(id);
      if (button) button.disabled = true;
    }
    for (const track of this.getStream()?.getTracks() ?? []) track.enabled = false;
  }

  /** Back as the person had them: what their Mute and Camera off buttons say. */
  resume() {
    const off = (id) => document.getElementById(id)?.getAttribute("aria-pressed") === "true";
    const stream = this.getStream();
    for (const track of stream?.getAudioTracks() ?? []) track.enabled = !off("mute");
    for (const track of stream?.getVideoTracks() ?? []) track.enabled = !off("camera");
    for (const id of ["mute", "camera"]) {
      const button = document.getElementById(id);
      if (button) button.disabled = false;
    }
  }
}
