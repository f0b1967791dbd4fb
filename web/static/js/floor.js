// The group's rules for who speaks, on every page of a room (server/edge/floor.py): the
// therapist mutes everyone else and says whether they may unmute themselves; a young person
// or parent raises and lowers their hand; one person's video in the spotlight, large and
// first. The server sends the whole floor (`floor`) on every change and on coming back, so
// the page shows only what it was last told.
//
// Muted by the therapist: the microphone's tracks are turned off (`enabled = false`, never
// stopped), the Mute button is pressed, and while people may not unmute themselves it stays
// disabled and says why. The page reports each change of its own microphone (`mic`); the
// server refuses one against the rule and sends the floor again.

import { state } from "./room.js";
import { t } from "./strings.js";

const HAND_ICON = "✋";

/** The floor on one page. */
export class Floor {
  /**
   * @param signalling the page's Signalling
   * @param {{ host?: boolean, getStream: () => MediaStream | null, names: Map<string, string>,
   *   stage: HTMLElement, selfTile: HTMLElement, note?: HTMLElement }} options
   */
  constructor(signalling, { host = false, getStream, names, stage, selfTile, note }) {
    this.signalling = signalling;
    this.host = host;
    this.getStream = getStream;
    this.names = names;
    this.stage = stage;
    this.selfTile = selfTile;
    this.note = note;
    this.now = { allow_unmute: true, muted: false, hands: [], spotlight: null };
    state.floor = this.now;
    this.mute = document.getElementById("mute");
    this.why = document.getElementById("mute-why");
    this.hand = document.getElementById("hand");
    this.announce = document.getElementById("hands-said");
    signalling.on("floor", (m) => this.show(m));
    this.hand?.addEventListener("click", () => {
      const raised = this.hand.getAttribute("aria-pressed") !== "true";
      signalling.send({ type: "hand", raised });
    });
    // every change of this page's own microphone, by its button or by the floor, is reported
    if (this.mute && !host)
      new MutationObserver(() => {
        const on = this.mute.getAttribute("aria-pressed") !== "true";
        signalling.send({ type: "mic", on });
      }).observe(this.mute, { attributeFilter: ["aria-pressed"] });
    if (host) this.hostControls();
  }

  /** The floor as the server says it is now. */
  show(message) {
    const was = this.now;
    this.now = {
      allow_unmute: message.allow_unmute,
      muted: message.muted,
      hands: message.hands,
      spotlight: message.spotlight ?? null,
    };
    state.floor = this.now;
    if (!this.host) this.microphone(message.cause === "mute_all" && message.muted);
    this.showHands(was.hands);
    this.showSpotlight();
  }

  /** Muted by the therapist: off, and (while they may not unmute) held off, saying why. */
  microphone(justMuted) {
    const { muted, allow_unmute: allowed } = this.now;
    const held = muted && !allowed;
    if (muted && this.mute?.getAttribute("aria-pressed") !== "true") {
      this.mute.setAttribute("aria-pressed", "true");
    }
    if (muted) for (const track of this.getStream()?.getAudioTracks() ?? []) track.enabled = false;
    if (this.mute) this.mute.disabled = held || Boolean(state.onBreak?.on);
    if (this.why) {
      this.why.hidden = !held;
      this.why.textContent = held
        ? t(
            "Your therapist has turned microphones off for now. You can raise your hand or write in the chat.",
          )
        : "";
    }
    if (justMuted && this.note) {
      this.note.textContent = allowed
        ? t(
            "Your therapist has turned everyone's microphone off. You can turn yours back on with Mute in Me.",
          )
        : t(
            "Your therapist has turned everyone's microphone off for now. You can raise your hand or write in the chat.",
          );
    }
  }

  /** Hands up: on each tile, on this page's own button, and (the therapist) in a list. */
  showHands(before) {
    const up = new Set(this.now.hands);
    for (const tile of this.stage.querySelectorAll(".tile")) {
      const id = tile === this.selfTile ? state.myId : tile.dataset.peer;
      const raised = up.has(id);
      let badge = tile.querySelector(".hand-badge");
      if (raised && !badge) {
        badge = document.createElement("span");
        badge.className = "hand-badge";
        badge.setAttribute("role", "img");
        badge.setAttribute("aria-label", this.host ? "Hand raised" : t("Hand raised"));
        badge.textContent = HAND_ICON;
        tile.append(badge);
      }
      if (!raised && badge) badge.remove();
    }
    if (this.hand) {
      const mine = up.has(state.myId);
      this.hand.setAttribute("aria-pressed", String(mine));
      if (this.note && mine !== before.includes(state.myId))
        this.note.textContent = mine
          ? t("Your hand is up. Your therapist can see it.")
          : t("Your hand is down.");
    }
    if (!this.host) return;
    const list = document.getElementById("hands");
    list.replaceChildren(...this.now.hands.map((id, at) => this.handEntry(id, at)));
    document.getElementById("no-hands").hidden = this.now.hands.length > 0;
    // said once for each hand that went up: who, and where they are in the queue
    for (const [at, id] of this.now.hands.entries()) {
      if (!before.includes(id))
        this.announce.textContent = `${this.names.get(id) || "Someone"} raised their hand (${at + 1} of ${this.now.hands.length}).`;
    }
  }

  handEntry(id, at) {
    const item = document.createElement("li");
    item.dataset.participant = id;
    const name = this.names.get(id) || "Someone";
    const label = document.createElement("span");
    label.className = "who";
    label.textContent = `${at + 1}. ${name}`;
    const lower = document.createElement("button");
    lower.type = "button";
    lower.textContent = "Lower";
    lower.setAttribute("aria-label", `Lower ${name}'s hand`);
    lower.addEventListener("click", () =>
      this.signalling.send({ type: "lower_hand", participant: id }),
    );
    item.append(label, lower);
    return item;
  }

  /** The spotlit person's video large and first; nobody's when there is none. */
  showSpotlight() {
    const id = this.now.spotlight;
    if (id) this.stage.dataset.spotlight = "";
    else delete this.stage.dataset.spotlight;
    for (const tile of this.stage.querySelectorAll(".tile")) {
      const mine = tile === this.selfTile ? state.myId : tile.dataset.peer;
      tile.classList.toggle("spotlit", Boolean(id) && mine === id);
    }
    if (!this.host) return;
    for (const button of this.stage.querySelectorAll("[data-spotlight-for]")) {
      const on = button.dataset.spotlightFor === id;
      const name = this.names.get(button.dataset.spotlightFor) || "someone";
      button.setAttribute("aria-pressed", String(on));
      button.textContent = on ? "Remove spotlight" : "Spotlight";
      button.setAttribute("aria-label", on ? `Remove spotlight from ${name}` : `Spotlight ${name}`);
    }
    const off = document.getElementById("spotlight-off");
    off.hidden = !id;
    document.getElementById("spotlight-who").textContent = id
      ? `In the spotlight: ${this.names.get(id) || "someone"}.`
      : "Nobody is in the spotlight.";
  }

  /** A tile shown after the floor came: its hand and its spotlight. */
  refresh() {
    this.showHands(this.now.hands);
    this.showSpotlight();
  }

  /** The therapist's card: Mute everyone, whether they may unmute, the spotlight. */
  hostControls() {
    const allow = document.getElementById("allow-unmute");
    document.getElementById("mute-all").addEventListener("click", () => {
      this.signalling.send({ type: "mute_all", allow_unmute: allow.checked });
    });
    allow.addEventListener("change", () =>
      this.signalling.send({ type: "allow_unmute", allowed: allow.checked }),
    );
    document
      .getElementById("spotlight-off")
      .addEventListener("click", () => this.signalling.send({ type: "spotlight" }));
    this.signalling.on("floor", (m) => {
      this.show(m);
      allow.checked = m.allow_unmute;
    });
  }

  /** The therapist's Spotlight button for one person's tile. */
  spotlightButton(person) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.spotlightFor = person.id;
    button.setAttribute("aria-pressed", "false");
    button.setAttribute("aria-label", `Spotlight ${person.name}`);
    button.textContent = "Spotlight";
    button.addEventListener("click", () => {
      const on = this.now.spotlight === person.id;
      this.signalling.send({ type: "spotlight", ...(on ? {} : { participant: person.id }) });
    });
    return button;
  }
}
