// A supervisor observing: receive-only media from everyone in the room; nothing sent.

import { Mesh } from "./mesh.js";
import { removeTile, say, showStream, state } from "./room.js";
import { Signalling } from "./signal.js";

const root = document.getElementById("observe");
const status = document.getElementById("observe-status");
const stage = document.getElementById("stage");
const signalling = new Signalling();
state.signalling = signalling;
const names = new Map();
let mesh = null;
let ice = null;
let stopped = false; // we left (or were asked to): the socket closing is no news

function handleAdmitted(message) {
  mesh = new Mesh(signalling, state.myId, ice, null, {
    onStream: (id, stream) => showStream(stage, id, names.get(id) || "Someone", stream),
    onGone: (id) => removeTile(stage, id),
  });
  state.mesh = mesh;
  for (const person of message.present) {
    names.set(person.id, person.name);
    mesh.ensure(person.id, true); // the newcomer offers; an observer only receives
  }
  say(status, "You are observing. Everyone in the room has been told.");
}

/** Turn the microphone or camera on or off; the others are told each time. */
const sending = { audio: false, video: false };

async function setSending(kind, on, button) {
  if (!mesh) return;
  let media = null;
  if (on && !mesh.localStream?.getTracks().some((t) => t.kind === kind)) {
    try {
      media = await navigator.mediaDevices.getUserMedia({ [kind]: true });
    } catch {
      say(status, `Your ${kind === "audio" ? "microphone" : "camera"} could not be started.`);
      return;
    }
  }
  sending[kind] = on;
  // announced before anything is sent: the server relays no media of an observer's that
  // the room was not told about
  signalling.send({ type: "observer_media", audio: sending.audio, video: sending.video });
  if (media) {
    if (!mesh.localStream) mesh.localStream = new MediaStream();
    for (const track of media.getTracks()) mesh.localStream.addTrack(track);
    for (const link of mesh.peers.values()) mesh.addLocalTracks(link);
  }
  for (const track of mesh.localStream?.getTracks() || [])
    if (track.kind === kind) track.enabled = on;
  button.setAttribute("aria-pressed", String(on));
  const thing = kind === "audio" ? "microphone" : "camera";
  button.textContent = on ? `Turn my ${thing} off` : `Turn my ${thing} on`;
}

function stop(text) {
  stopped = true;
  if (mesh) mesh.closeAll();
  signalling.close();
  say(status, text);
}

async function main() {
  signalling
    .on("joined", (m) => {
      state.myId = m.you.id;
      ice = m.ice;
    })
    .on("admitted", handleAdmitted)
    .on("peer_joined", (m) => names.set(m.participant.id, m.participant.name))
    .on("peer_left", (m) => {
      if (mesh) mesh.drop(m.participant);
      removeTile(stage, m.participant);
    })
    .on("signal", (m) => mesh?.handleSignal(m))
    .on("removed", () => stop("The therapist asked you to leave the session."))
    .on("room_ended", () => stop("The session has ended."))
    .on("error", (m) => say(status, m.message))
    .on("closed", () => {
      if (!stopped) say(status, "Disconnected.");
    });
  await signalling.connect();
  signalling.send({ type: "observe", session: root.dataset.session });
  for (const [id, kind] of [
    ["observer-mic", "audio"],
    ["observer-camera", "video"],
  ]) {
    const button = document.getElementById(id);
    button.addEventListener("click", () => setSending(kind, !sending[kind], button));
  }
  document.getElementById("stop-observing").addEventListener("click", () => {
    signalling.send({ type: "leave" });
    stop("You stopped observing.");
  });
  setInterval(async () => {
    if (mesh) state.quality = await mesh.quality();
  }, 1000);
}

main();
