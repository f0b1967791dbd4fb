// Choosing the camera, microphone and speaker, before joining and during the session. A new
// camera or microphone replaces the old track in this page's stream and, through
// `RTCRtpSender.replaceTrack`, in every connection (no renegotiation: the others' video goes
// on in the same place); the speaker is each video's `setSinkId`, offered only where the
// browser has it. On a phone, "Switch camera" turns between the front and back cameras (and
// between any cameras where the browser says nothing of which way they face), shown only
// where there is more than one. Nothing is kept on the device: the choice lives in the page.

import { state } from "./room.js";
import { t } from "./strings.js";

const KINDS = [
  ["videoinput", "camera", t("Camera")],
  ["audioinput", "microphone", t("Microphone")],
  ["audiooutput", "speaker", t("Speaker")],
];

/**
 * Show the microphone's level on ``meter`` while ``going()`` is true; returns the audio
 * context, for the caller to close when the check is over.
 * @param {MediaStream} media
 * @param {HTMLMeterElement} meter
 * @param {() => boolean} going
 */
export function levelMeter(media, meter, going) {
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 256;
  context.createMediaStreamSource(media).connect(analyser);
  const data = new Uint8Array(analyser.fftSize);
  const tick = () => {
    analyser.getByteTimeDomainData(data);
    let peak = 0;
    for (const v of data) peak = Math.max(peak, Math.abs(v - 128));
    meter.value = Math.min(1, peak / 64);
    if (going()) requestAnimationFrame(tick);
  };
  tick();
  return context;
}

export class Devices {
  /**
   * @param {{ getStream: () => MediaStream | null,
   *   getMesh?: () => import("./mesh.js").Mesh | null,
   *   onChange?: (kind: "video" | "audio") => void }} options
   */
  constructor({ getStream, getMesh = () => null, onChange = () => {} }) {
    this.getStream = getStream;
    this.getMesh = getMesh;
    this.onChange = onChange;
    this.forms = []; // each place the choices are shown (the device check, the Me panel)
    this.list = [];
    this.speakers = "setSinkId" in HTMLMediaElement.prototype;
    navigator.mediaDevices?.addEventListener?.("devicechange", () => this.refresh());
    state.devices = { camera: null, microphone: null, speaker: null, switches: 0 };
  }

  /** Show the choices in ``container`` (ids start with ``prefix``). */
  place(container, prefix) {
    if (!container) return;
    const selects = {};
    for (const [kind, name, label] of KINDS) {
      const field = document.createElement("p");
      field.className = "device-field";
      field.hidden = true;
      const id = `${prefix}-${name}`;
      const labelled = document.createElement("label");
      labelled.htmlFor = id;
      labelled.textContent = label;
      const select = document.createElement("select");
      select.id = id;
      select.dataset.kind = kind;
      select.addEventListener("change", () => this.choose(kind, select.value));
      field.append(labelled, " ", select);
      container.append(field);
      selects[kind] = select;
    }
    const flip = document.createElement("button");
    flip.type = "button";
    flip.className = "device-flip";
    flip.textContent = t("Switch camera");
    flip.hidden = true;
    flip.addEventListener("click", () => this.flip());
    container.append(flip);
    this.forms.push({ selects, flip });
    this.show();
  }

  /** Read the devices again (labels come once the camera is allowed) and show them. */
  async refresh() {
    if (!navigator.mediaDevices?.enumerateDevices) return;
    this.list = await navigator.mediaDevices.enumerateDevices();
    this.show();
  }

  /** The device of ``kind`` in use now: the track's own, or the speaker chosen. */
  current(kind) {
    if (kind === "audiooutput") return state.devices.speaker ?? "default";
    const stream = this.getStream();
    const track = kind === "videoinput" ? stream?.getVideoTracks()[0] : stream?.getAudioTracks()[0];
    return track?.getSettings().deviceId ?? "";
  }

  show() {
    for (const { selects, flip } of this.forms) {
      for (const [kind] of KINDS) {
        const select = selects[kind];
        const devices = this.list.filter((d) => d.kind === kind && d.deviceId);
        const offered = kind === "audiooutput" ? this.speakers : this.getStream() !== null;
        select.parentElement.hidden = !offered || devices.length < 2;
        select.replaceChildren(
          ...devices.map(
            (d, i) => new Option(d.label || `${kind.slice(0, 5)} ${i + 1}`, d.deviceId),
          ),
        );
        select.value = this.current(kind);
      }
      const cameras = this.list.filter((d) => d.kind === "videoinput" && d.deviceId);
      flip.hidden = cameras.length < 2 || !this.getStream()?.getVideoTracks().length;
    }
  }

  async choose(kind, deviceId) {
    if (kind === "audiooutput") {
      this.useSpeaker(deviceId);
    } else if (kind === "videoinput") {
      await this.swap("video", { deviceId: { exact: deviceId }, width: 640, height: 480 });
    } else {
      await this.swap("audio", { deviceId: { exact: deviceId } });
    }
    this.show();
  }

  /** The other camera: the one facing the other way, or the next one in the list. */
  async flip() {
    const track = this.getStream()?.getVideoTracks()[0];
    const facing = track?.getSettings().facingMode;
    if (facing === "user" || facing === "environment") {
      const other = facing === "user" ? "environment" : "user";
      await this.swap("video", { facingMode: { exact: other }, width: 640, height: 480 });
    } else {
      const cameras = this.list.filter((d) => d.kind === "videoinput" && d.deviceId);
      const at = cameras.findIndex((d) => d.deviceId === this.current("videoinput"));
      const next = cameras[(at + 1) % cameras.length];
      if (next)
        await this.swap("video", { deviceId: { exact: next.deviceId }, width: 640, height: 480 });
    }
    this.show();
  }

  /** Every video on the page plays through ``deviceId``; videos made later do too. */
  useSpeaker(deviceId) {
    if (!this.speakers) return;
    state.devices.speaker = deviceId;
    state.sinkId = deviceId;
    for (const video of document.querySelectorAll("video"))
      video.setSinkId(deviceId).catch(() => {});
  }

  /**
   * Put a new track of ``kind`` in the old one's place: in this page's stream, the previews,
   * and what every connection sends. The old camera is let go first (a phone opens one camera
   * at a time); if the new one cannot open, the old one is taken again.
   */
  async swap(kind, constraints) {
    const stream = this.getStream();
    if (!stream) return;
    const old = kind === "video" ? stream.getVideoTracks()[0] : stream.getAudioTracks()[0];
    const before = old?.getSettings().deviceId;
    if (kind === "video") old?.stop();
    let fresh;
    try {
      fresh = (await navigator.mediaDevices.getUserMedia({ [kind]: constraints })).getTracks()[0];
    } catch {
      if (kind !== "video" || !before) return;
      fresh = (
        await navigator.mediaDevices.getUserMedia({ video: { deviceId: { exact: before } } })
      ).getTracks()[0];
    }
    if (old) fresh.enabled = old.enabled; // muted or camera off stays so
    await this.getMesh()?.replaceTrack(old, fresh);
    if (old) {
      stream.removeTrack(old);
      old.stop();
    }
    stream.addTrack(fresh);
    for (const video of document.querySelectorAll("video")) {
      if (video.srcObject !== stream) continue;
      video.srcObject = null; // the preview shows the new camera at once
      video.srcObject = stream;
    }
    state.devices[kind === "video" ? "camera" : "microphone"] = fresh.label;
    if (kind === "video") state.devices.switches += 1;
    this.onChange(kind);
  }
}
