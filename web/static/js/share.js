// A shared screen (a story, a video, a game), on both sides of a room. The therapist shares
// a tab, a window or a screen; a young person or parent only while the therapist allows it.
// A share is announced to the server first (`share_start`, naming the stream that will carry
// it), and its tracks go to everyone only once the server says it is on (`share_started`):
// the server refuses a stream nobody announced, and this page shows as a share only the
// stream announced for that person. A share is shown large over the board, the videos still
// floating small over it; it ends with the sharer's button, the browser's own "Stop
// sharing", the therapist's "Stop", or the sharer leaving or dropping (`share_stopped`).

import { state } from "./room.js";
import { t } from "./strings.js";

const HELD = 4; // streams from others not (yet) announced as a share, held unseen

export class Share {
  /**
   * @param {import("./signal.js").Signalling} signalling
   * @param {{ getMesh: () => import("./mesh.js").Mesh | null, names: Map<string, string>,
   *   note: HTMLElement | null, host?: boolean }} options
   *   ``note``: where the page says what became of a share; ``host``: the therapist's page
   *   (stops anyone's share, lets people share)
   */
  constructor(signalling, { getMesh, names, note, host = false }) {
    this.signalling = signalling;
    this.getMesh = getMesh;
    this.names = names;
    this.host = host;
    this.outgoing = null; // the stream this page shares, once asked for
    this.on = null; // {participant, stream}: the share the server says is on
    this.held = new Map(); // "participant stream" -> a stream not announced (yet)
    this.allowed = new Set(); // who may share (the therapist's page), or this person
    this.button = document.getElementById("share-screen");
    this.note = note;
    this.people = document.getElementById("share-people");
    this.view = this.makeView();
    state.share = { on: null, showing: null, allowed: false, refused: null };
    this.button?.addEventListener("click", () => (this.outgoing ? this.stop() : this.start()));
    signalling
      .listen("share_started", (m) => this.started(m))
      .listen("share_stopped", (m) => this.stopped(m))
      .listen("share_allowed", (m) => this.allowedChanged(m))
      .listen("lobby", (m) => this.showPeople(m.present))
      .listen("reconnecting", () => this.endOwn()) // the server ends a share whose sharer drops
      .listen("resumed", () => this.forget()) // told again if one is still on
      .listen("waiting", () => this.forget())
      .listen("error", (m) => {
        if (m.code === "unannounced_share") this.unstick();
        if (m.id !== "share") return;
        state.share.refused = m.code;
        this.endOwn();
        this.say(m.message);
      });
  }

  /** The large view over the board: the share, who shares it, and its Stop button. */
  makeView() {
    const space = document.querySelector(".board-space");
    const view = document.createElement("figure");
    view.className = "share-view";
    view.hidden = true;
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    const caption = document.createElement("figcaption");
    const who = document.createElement("span");
    const stop = document.createElement("button");
    stop.type = "button";
    stop.textContent = t("Stop sharing");
    stop.addEventListener("click", () => this.stopShown());
    caption.append(who, " ", stop);
    view.append(video, caption);
    space?.prepend(view); // under the floating videos, over the board
    this.shownVideo = video;
    this.shownWho = who;
    this.stopButton = stop;
    return view;
  }

  /** Ask the browser for a tab, window or screen (with its sound where it allows), then
   * tell the server before anyone is sent it. */
  async start() {
    if (!navigator.mediaDevices?.getDisplayMedia) {
      this.say(t("This browser cannot share a screen."));
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({
        video: true,
        audio: true,
        systemAudio: "include",
      });
    } catch {
      return; // the person chose nothing
    }
    this.outgoing = stream;
    state.share.refused = null;
    for (const track of stream.getVideoTracks()) track.contentHint = "detail"; // text stays sharp
    for (const track of stream.getTracks()) track.onended = () => this.stop();
    this.signalling.send({ type: "share_start", stream: stream.id, id: "share" });
    this.pressed(true);
  }

  /** This page's share ends here (its button, or the browser's "Stop sharing"). */
  stop() {
    if (!this.outgoing) return;
    const announced = this.on?.participant === state.myId;
    this.endOwn();
    if (announced) this.signalling.send({ type: "share_stop" });
  }

  /** The view's Stop: the sharer's own share, or (the therapist) whoever's is on. */
  stopShown() {
    if (!this.on) return;
    if (this.on.participant === state.myId) this.stop();
    else if (this.host)
      this.signalling.send({ type: "share_stop", participant: this.on.participant });
  }

  /** Stop sending and capturing this page's share (the server knows, or is told after). */
  endOwn() {
    const stream = this.outgoing;
    if (!stream) return;
    this.outgoing = null;
    this.getMesh()?.removeStream(stream);
    for (const track of stream.getTracks()) {
      track.onended = null;
      track.stop();
    }
    if (this.on?.participant === state.myId) this.hide();
    this.pressed(false);
  }

  started(message) {
    this.on = { participant: message.participant, stream: message.stream };
    state.share.on = this.on;
    if (message.participant === state.myId) {
      if (!this.outgoing || this.outgoing.id !== message.stream) {
        this.signalling.send({ type: "share_stop" }); // stopped before the server said yes
        return;
      }
      this.getMesh()?.addStream(this.outgoing); // announced: now it goes to everyone
      this.show(this.outgoing, t("You are sharing your screen"));
      return;
    }
    const held = this.held.get(`${message.participant} ${message.stream}`);
    if (held) this.show(held, this.sharerText(message.participant));
  }

  stopped(message) {
    for (const key of [...this.held.keys()])
      if (key.startsWith(`${message.participant} `)) this.held.delete(key);
    if (message.participant === state.myId) this.endOwn();
    if (this.on?.participant !== message.participant) return;
    this.on = null;
    state.share.on = null;
    this.hide();
    if (message.participant === state.myId && message.reason === "by_therapist")
      this.say(t("Your therapist stopped your screen share."));
    if (message.participant === state.myId && message.reason === "not_allowed")
      this.say(t("Screen sharing was turned off for you."));
  }

  /** A description of ours was refused for carrying a share the server does not know is on
   * (it ended as the description was made): the share stops here, and the offers left
   * unanswered are taken back, so that the next ones, without it, go. */
  unstick() {
    this.stop();
    const mesh = this.getMesh();
    if (mesh) for (const id of mesh.peers.keys()) mesh.settle(id);
  }

  /** Back in the room: a share shown here may have ended meanwhile. Its stream is held, and
   * shown again if the server says it is still on. */
  forget() {
    const shown = this.shownVideo.srcObject;
    if (this.on && this.on.participant !== state.myId && shown)
      this.held.set(`${this.on.participant} ${this.on.stream}`, shown);
    this.on = null;
    state.share.on = null;
    this.hide();
  }

  /** Is this stream from ``id`` the share announced for them (the mesh asks)? */
  isShare(id, streamId) {
    return this.on?.participant === id && this.on.stream === streamId;
  }

  /** A stream from ``id`` besides their camera: shown if it is their announced share, else
   * held unseen (an announcement may yet come for it). */
  otherStream(id, stream) {
    if (this.isShare(id, stream.id)) {
      this.show(stream, this.sharerText(id));
      return;
    }
    this.held.set(`${id} ${stream.id}`, stream);
    while (this.held.size > HELD) this.held.delete(this.held.keys().next().value);
  }

  sharerText(id) {
    return t("{name} is sharing their screen", { name: this.names.get(id) || t("Someone") });
  }

  show(stream, text) {
    const own = stream === this.outgoing;
    this.shownVideo.muted = own; // never hear your own tab back
    if (this.shownVideo.srcObject !== stream) this.shownVideo.srcObject = stream;
    if (state.sinkId && this.shownVideo.setSinkId) this.shownVideo.setSinkId(state.sinkId);
    this.shownWho.textContent = text;
    this.stopButton.hidden = !(own || this.host);
    this.view.hidden = false;
    document.body.classList.add("sharing");
    state.share.showing = { participant: this.on?.participant ?? null, stream: stream.id };
  }

  hide() {
    this.view.hidden = true;
    this.shownVideo.srcObject = null;
    document.body.classList.remove("sharing");
    state.share.showing = null;
  }

  /** Whether someone may share: the therapist's list, or this person's own button. */
  allowedChanged(message) {
    if (message.allowed) this.allowed.add(message.participant);
    else this.allowed.delete(message.participant);
    if (this.host) {
      const box = this.people?.querySelector(
        `[data-participant="${CSS.escape(message.participant)}"] input`,
      );
      if (box) box.checked = message.allowed;
      return;
    }
    if (message.participant !== state.myId) return;
    state.share.allowed = message.allowed;
    if (this.button) this.button.hidden = !message.allowed;
    this.say(message.allowed ? t("You can share your screen now (in Me).") : "");
  }

  /** The therapist's list: each young person and parent in the room, with "may share". */
  showPeople(present) {
    if (!this.host || !this.people) return;
    const sharing = present.filter((p) => p.role === "young_person" || p.role === "parent");
    this.people.replaceChildren(
      ...sharing.map((p) => {
        const item = document.createElement("li");
        item.className = "checkbox";
        item.dataset.participant = p.id;
        const box = document.createElement("input");
        box.type = "checkbox";
        box.id = `share-${p.id}`;
        box.checked = this.allowed.has(p.id);
        box.addEventListener("change", () =>
          this.signalling.send({ type: "share_allow", participant: p.id, allowed: box.checked }),
        );
        const label = document.createElement("label");
        label.htmlFor = box.id;
        label.textContent = `${p.name} may share their screen`;
        item.append(box, label);
        return item;
      }),
    );
    const empty = document.getElementById("share-nobody");
    if (empty) empty.hidden = sharing.length > 0;
  }

  pressed(on) {
    if (!this.button) return;
    this.button.setAttribute("aria-pressed", String(on));
    this.button.textContent = on ? t("Stop sharing") : this.button.dataset.label;
  }

  say(text) {
    if (this.note) this.note.textContent = text;
  }
}
