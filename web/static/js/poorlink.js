// Staying together on a poor connection. Every second the page's connections are measured
// (mesh.js `quality`: packets lost, round-trip time); when they stay poor, the page steps
// down by itself: lower resolution and frame rate first (`lower`), then lower still, with a
// calm suggestion to go to sound only; when they stay good, it steps back up. Anyone can
// choose "Use less data" or "Sound only" at any time. Sound only taken from the suggestion
// lasts while the connection is poor: once it is good again, video comes back by itself;
// chosen from the controls, it lasts until unchosen. Both sides see a short line saying
// what changed: this page in its own line, the others on this person's video (the server
// tells them: `media_mode`, server/edge/modes.py). Nothing is kept on the device.

import { t } from "./strings.js";

// what counts as poor and good, and for how many seconds in a row before a step (the
// browser tests make them shorter)
export const POOR = {
  badLoss: 0.08, // a share of packets lost in the last second
  badRtt: 0.6, // seconds
  goodLoss: 0.02,
  goodRtt: 0.35,
  downAfter: 3,
  upAfter: 8,
  backNoteMs: 6000, // "video is back" shown this long
  retakeMs: 30000, // video tried again and poor within this: back to sound only
};

// each step's most: shrunk by `scale`, at most `fps` frames and `bitrate` bits a second
const LEVELS = [
  { scale: 1, fps: 30, bitrate: null },
  { scale: 2, fps: 15, bitrate: 250_000 },
  { scale: 4, fps: 8, bitrate: 100_000 },
];
const LOWEST = LEVELS.length - 1;
const MIN_PACKETS = 20; // fewer in a second than this: its loss says little

/** One page's watch on its connections, and what it sends because of it. */
export class PoorLink {
  /**
   * @param {import("./signal.js").Signalling} signalling
   * @param {{getMesh: () => import("./mesh.js").Mesh | null, names: Map<string, string>,
   *   stage: HTMLElement, line: HTMLElement, suggestion: HTMLElement,
   *   soundOnly: HTMLElement | null, lessData: HTMLElement | null}} parts
   */
  constructor(signalling, parts) {
    this.signalling = signalling;
    this.parts = parts;
    this.settings = { ...POOR };
    this.level = 0; // the step the connection asked for (0: everything)
    this.bad = 0; // seconds in a row
    this.good = 0;
    this.counts = new Map(); // peer id -> packets lost and received so far
    this.chosenSound = false; // sound only, from the controls
    this.suggestedSound = false; // sound only, from the suggestion: lifted when it is better
    this.lessData = false;
    this.told = { mode: "full", why: "connection" };
    this.steps = []; // {at, mode, level}: each change, for the tests and the measurements
    this.backTimer = null;
    this.liftAfter = this.settings.upAfter; // good seconds before video is tried again
    this.videoTriedAt = 0; // when video was tried again after sound only, lately
    this.heard = []; // what this page was told of the others: for the tests
    this.modes = new Map(); // someone else's id -> what their page sends, when not everything
    signalling.listen("media_mode", (m) => this.theirs(m));
    // said while the socket was down (a thin line drops it too): said again once back
    signalling.listen("resumed", () => {
      if (this.told.mode !== "full") signalling.send({ type: "media_mode", ...this.told });
    });
    parts.suggestion.querySelector("button")?.addEventListener("click", () => {
      this.suggestedSound = true;
      this.apply();
    });
    this.toggle(parts.soundOnly, (on) => {
      this.chosenSound = on;
      if (!on) this.suggestedSound = false;
    });
    parts.suggestion.querySelector("button")?.addEventListener("click", () => {
      this.liftAfter = this.settings.upAfter;
    });
    this.toggle(parts.lessData, (on) => {
      this.lessData = on;
    });
  }

  toggle(button, set) {
    button?.addEventListener("click", () => {
      const on = button.getAttribute("aria-pressed") !== "true";
      button.setAttribute("aria-pressed", String(on));
      set(on);
      this.apply();
    });
  }

  /** The last second's measures of each connection (mesh.js `quality`). */
  observe(quality) {
    let loss = 0;
    let rtt = 0;
    for (const [id, q] of Object.entries(quality)) {
      if (q.state !== "connected") continue;
      const before = this.counts.get(id) ?? { lost: q.packetsLost, received: q.packetsReceived };
      const lost = q.packetsLost - before.lost;
      const received = q.packetsReceived - before.received;
      this.counts.set(id, { lost: q.packetsLost, received: q.packetsReceived });
      if (lost + received >= MIN_PACKETS) loss = Math.max(loss, lost / (lost + received));
      loss = Math.max(loss, q.sendLoss ?? 0);
      rtt = Math.max(rtt, q.rtt ?? 0);
    }
    for (const id of this.counts.keys()) if (!(id in quality)) this.counts.delete(id);
    for (const id of this.modes.keys()) this.note(id); // a video shown since it was said
    const s = this.settings;
    if (Date.now() - this.videoTriedAt > s.retakeMs) this.videoTriedAt = 0;
    if (loss > s.badLoss || rtt > s.badRtt) {
      this.good = 0;
      this.bad += 1;
      if (this.bad < s.downAfter) return;
      this.bad = 0;
      if (this.level < LOWEST) {
        this.level += 1;
        this.apply();
      } else if (this.videoTriedAt && !this.soundOnly()) {
        // video tried again after sound only, and still too much for the line: back to
        // sound only, as the person chose, and the next try waits twice as long
        this.suggestedSound = true;
        this.videoTriedAt = 0;
        this.liftAfter *= 2;
        this.apply();
      } else this.suggest(!this.soundOnly());
    } else if (loss < s.goodLoss && rtt < s.goodRtt) {
      this.bad = 0;
      this.good += 1;
      const wait = this.suggestedSound ? this.liftAfter : s.upAfter;
      if (this.good >= wait && (this.level > 0 || this.suggestedSound)) {
        this.good = 0;
        if (this.suggestedSound) {
          // sound only made the line good: whether video fits again is only known by trying
          this.suggestedSound = false;
          this.videoTriedAt = Date.now();
        } else this.level -= 1;
        this.apply();
      }
    } else {
      this.bad = 0;
      this.good = 0;
    }
  }

  soundOnly() {
    return this.chosenSound || this.suggestedSound;
  }

  suggest(shown) {
    this.parts.suggestion.hidden = !shown;
  }

  /** Send what the step and the choices allow, and say what changed. */
  apply() {
    const step = Math.max(this.level, this.lessData ? LOWEST : 0);
    const paused = this.soundOnly();
    this.getMesh()?.setCap({ ...LEVELS[step], paused });
    if (paused || this.level < LOWEST) this.suggest(false);
    const mode = paused ? "audio" : step > 0 ? "lower" : "full";
    const chosen = paused ? this.chosenSound : step > this.level && this.lessData;
    const why = chosen ? "chosen" : "connection";
    if (mode === this.told.mode && why === this.told.why) return;
    const was = this.told.mode;
    this.told = { mode, why };
    this.steps.push({ at: Date.now(), mode, level: step });
    this.signalling.send({ type: "media_mode", mode, why });
    this.say(mode, why, was);
  }

  getMesh() {
    return this.parts.getMesh();
  }

  /** This page's own line. */
  say(mode, why, was) {
    clearTimeout(this.backTimer);
    const line = this.parts.line;
    if (mode === "audio") {
      line.textContent =
        why === "chosen"
          ? t("Sound only: your video is paused.")
          : t(
              "Video paused to keep your sound clear. It comes back when the connection is better.",
            );
    } else if (mode === "lower") {
      line.textContent =
        why === "chosen"
          ? t("Using less data: your video is smaller.")
          : was === "audio"
            ? t("The connection is better: your video is back, smaller for now.")
            : t("The connection is slow, so your video is smaller for now.");
    } else {
      line.textContent =
        was === "audio" ? t("Your video is back.") : t("Your video is clear again.");
      this.backTimer = setTimeout(() => {
        line.textContent = "";
      }, this.settings.backNoteMs);
    }
  }

  /** Someone else's page sends less (or everything again): a line on their video. */
  theirs(message) {
    this.heard.push({ at: Date.now(), participant: message.participant, mode: message.mode });
    if (message.mode === "full") this.modes.delete(message.participant);
    else this.modes.set(message.participant, message);
    this.note(message.participant);
  }

  note(id) {
    const tile = this.parts.stage.querySelector(`[data-peer="${CSS.escape(id)}"]`);
    if (!tile) return;
    const message = this.modes.get(id);
    let note = tile.querySelector(".link-note");
    if (!message) {
      note?.remove();
      return;
    }
    if (!note) {
      note = document.createElement("span");
      note.className = "link-note";
      tile.querySelector("figcaption")?.append(note);
    }
    const name = this.parts.names.get(id);
    let text;
    if (message.mode === "audio")
      text = name
        ? t("{name}'s video is paused to keep the sound clear.", { name })
        : t("Their video is paused to keep the sound clear.");
    else if (message.why === "chosen")
      text = name ? t("{name} is using less data.", { name }) : t("They are using less data.");
    else
      text = name
        ? t("{name}'s connection is slow: their video is smaller.", { name })
        : t("Their connection is slow: their video is smaller.");
    if (note.textContent !== text) note.textContent = text;
  }
}

/** A page's watch, with its line, suggestion and choices where both room pages have them
 * (`_poorlink.html`; "Sound only" and "Use less data" among the controls). */
export function poorLinkOnPage(signalling, { getMesh, names, stage }) {
  return new PoorLink(signalling, {
    getMesh,
    names,
    stage,
    line: document.getElementById("link-line"),
    suggestion: document.getElementById("link-suggestion"),
    soundOnly: document.getElementById("sound-only"),
    lessData: document.getElementById("less-data"),
  });
}
