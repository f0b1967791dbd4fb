// The young person's (or parent's) way in: the contract and ground rules, the privacy
// check, the device check, the waiting room, then the room. Calm, one step at a time.

import { Agreement } from "./agreement.js";
import { Breaks } from "./breaks.js";
import { Chat } from "./chat.js";
import { Devices, levelMeter as showLevel } from "./devices.js";
import { Floor } from "./floor.js";
import { guestHere, guestJoined, guestLeft } from "./guests.js";
import { Mesh } from "./mesh.js";
import { Panels } from "./panels.js";
import { poorLinkOnPage } from "./poorlink.js";
import {
  localMedia,
  mediaControls,
  removeTile,
  say,
  showStream,
  startTimer,
  state,
} from "./room.js";
import { Share } from "./share.js";
import { Signalling } from "./signal.js";
import { t } from "./strings.js";
import { floatTiles } from "./tiles.js";
import { Whiteboard } from "./whiteboard.js";

const token = location.pathname.split("/").pop();
// the language of this page: what the server tells this person comes in it
const lang = ["cy", "ar"].find((code) => document.documentElement.lang === code) ?? "en";
const steps = ["contract", "checks", "device", "waiting", "room", "ended"];
const checksForm = document.getElementById("checks-form");
const preview = document.getElementById("preview");
const meter = document.getElementById("mic-level");
const hidePreview = document.getElementById("hide-preview");
const waitingNote = document.getElementById("waiting-note");
const endedNote = document.getElementById("ended-note");
const stage = document.getElementById("stage");
const selfTile = document.getElementById("self-tile");
const selfVideo = document.getElementById("self-video");
const roomStatus = document.getElementById("room-status");

const signalling = new Signalling();
state.signalling = signalling;
const whiteboard = new Whiteboard(signalling, document.getElementById("board-area"));
state.board = whiteboard.view;
state.whiteboard = whiteboard; // how the board reaches the server ("data" or "socket"), for tests
const names = new Map();
const observers = new Map(); // participant id -> the announcement, shown while they observe

function showObservers() {
  say(document.getElementById("observers"), [...observers.values()].join(" "));
}
const guests = new Map(); // participant id -> a guest in the room (announced, by role)

/** A guest came in, or was here as we came in: told aloud (the toast is a live region). */
function announceGuest(person, here) {
  guests.set(person.id, person);
  whiteboard.noBoard.add(person.id); // until the therapist gives them the board
  say(document.getElementById("guests"), here ? guestHere(person) : guestJoined(person));
}
let stream = null;
let mesh = null;
let joinedIce = null;
let meterContext = null; // the microphone level meter's audio, closed when the session is over
const breaks = new Breaks(signalling, () => stream);
// mute everyone, the raised hand, the spotlight (the group's rules)
const floor = new Floor(signalling, {
  getStream: () => stream,
  names,
  stage,
  selfTile,
  note: roomStatus,
});
new Agreement(signalling); // the therapist reads it with them, one part at a time
const share = new Share(signalling, { getMesh: () => mesh, names, note: roomStatus });
const devices = new Devices({
  getStream: () => stream,
  getMesh: () => mesh,
  onChange: (kind) => {
    if (kind !== "audio" || document.getElementById("step-device").hidden) return;
    meterContext?.close();
    levelMeter(stream); // the bar follows the microphone chosen
  },
});
const poorLink = poorLinkOnPage(signalling, { getMesh: () => mesh, names, stage });
state.poorLink = poorLink;
const chatButton = document.querySelector(".chat-button");
// a message while the chat is closed: its button shows a dot until it is opened
const chat = new Chat(signalling, {
  onNew: () => {
    if (chatButton.getAttribute("aria-expanded") !== "true")
      chatButton.querySelector("[data-chat-new]").hidden = false;
  },
});

/** Show one step and move keyboard focus to its heading. */
function show(step) {
  for (const name of steps) document.getElementById(`step-${name}`).hidden = name !== step;
  document.body.classList.toggle("in-room", step === "room"); // the board fills the screen
  const heading = document.querySelector(`#step-${step} h1, #step-${step} h2`);
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

async function startDeviceCheck() {
  show("device");
  stream = await localMedia();
  if (!stream) {
    say(
      document.getElementById("device-note"),
      t(
        "We could not find a camera or microphone. You can still join and talk by phone if your therapist rings.",
      ),
    );
    return;
  }
  preview.srcObject = stream;
  selfVideo.srcObject = stream;
  if (stream.getAudioTracks().length > 0) levelMeter(stream);
  devices.refresh();
}

/** Back in the same session (a quick exit, a closed tab): the few questions answered, the
 * camera and microphone start and the page goes straight to the waiting room. */
async function comeBack() {
  stream = await localMedia();
  if (stream) selfVideo.srcObject = stream;
  mediaControls(stream, selfTile);
  devices.refresh();
  join();
}

function levelMeter(media) {
  meterContext = showLevel(media, meter, () => !document.getElementById("step-device").hidden);
}

function checkAnswers() {
  const data = new FormData(checksForm);
  const answers = {};
  for (const [key, value] of data) {
    if (typeof value === "string" && value.trim()) answers[key] = value.trim().slice(0, 280);
  }
  return answers;
}

async function join() {
  signalling
    .on("joined", (m) => {
      state.myId = m.you.id;
      joinedIce = m.ice;
    })
    .on("waiting", handleWaiting)
    .on("admitted", handleAdmitted)
    .on("peer_joined", (m) => {
      names.set(m.participant.id, m.participant.name);
      chat.arrived(m.participant);
      if (m.participant.role === "guest") announceGuest(m.participant, false);
    })
    .on("guest_board", (m) => {
      if (m.on) whiteboard.noBoard.delete(m.participant);
      else whiteboard.noBoard.add(m.participant);
    })
    .on("peer_left", (m) => {
      chat.gone(m.participant);
      if (mesh) mesh.drop(m.participant);
      removeTile(stage, m.participant);
      if (observers.delete(m.participant)) showObservers();
      const guest = guests.get(m.participant);
      if (guest) {
        guests.delete(m.participant);
        say(document.getElementById("guests"), guestLeft(guest));
      }
    })
    .on("server_signal", (m) => whiteboard.handleAnswer(m))
    .on("signal", (m) => {
      if (!mesh) startMesh();
      mesh.handleSignal(m);
    })
    .on("declined", (m) =>
      finish(t(m.message || "Your therapist cannot see you right now. They will be in touch.")),
    )
    .on("removed", (m) =>
      finish(
        t(
          m.message || "Your therapist has asked you to leave this session. They will be in touch.",
        ),
      ),
    )
    .on("room_ended", () =>
      finish(t("The session has ended. Thank you for coming."), { afterPlan: true }),
    )
    .on("error", handleError)
    .on("reconnecting", () => say(roomStatus, t("The connection dropped. Getting you back in…")))
    .on("resumed", handleResumed)
    .on("resume_refused", () => {
      // the server could not take us straight back: join again through the waiting room
      whiteboard.close();
      if (mesh) mesh.closeAll();
      mesh = null;
      signalling.send({ type: "join", token, checks: checkAnswers(), lang });
    })
    .on("peer_state", handlePeerState)
    .on("rating_request", askRating)
    .on("notice", (m) => {
      if (m.code === "rating_saved") say(roomStatus, t(m.message));
      if (m.code === "cannot_start") cannotStart(t(m.message));
      if (m.code === "observer") {
        observers.set(m.participant, m.message);
        showObservers();
      }
    })
    .on("closed", () => {
      if (document.getElementById("step-ended").hidden)
        say(roomStatus, t("The connection dropped. Please open your link again."));
    });
  await signalling.connect();
  signalling.send({ type: "join", token, checks: checkAnswers(), lang });
}

function handleWaiting(message) {
  whiteboard.close();
  if (mesh) {
    mesh.closeAll();
    mesh = null;
  }
  show("waiting");
  if (message.message)
    say(waitingNote, t("Your therapist says: “{message}”", { message: message.message }));
}

function startMesh() {
  mesh = new Mesh(signalling, state.myId, joinedIce, stream, {
    onStream: (id, s) => {
      showStream(stage, id, names.get(id) || t("Therapist"), s);
      floor.refresh(); // a hand up or a spotlight on them, told before their video came
    },
    onGone: (id) => removeTile(stage, id),
    isShare: (id, s) => share.isShare(id, s),
    onOtherStream: (id, s) => share.otherStream(id, s),
  });
  state.mesh = mesh;
}

const timers = [
  setInterval(async () => {
    if (!mesh) return;
    state.quality = await mesh.quality();
    poorLink.observe(state.quality);
  }, 1000),
  setInterval(() => mesh?.report(state.quality), 10000),
];

function handleError(message) {
  if (chat.handleError(message)) return;
  if (message.code === "cannot_start") {
    cannotStart(t(message.message));
    return;
  }
  if (message.code === "held_muted") {
    say(
      roomStatus,
      t(
        "Your therapist has turned microphones off for now. You can raise your hand or write in the chat.",
      ),
    );
    return;
  }
  if (message.code === "not_let_back") {
    // removed or declined, and not let back: said kindly, and nothing more is tried
    finish(t(message.message));
    return;
  }
  if (message.code === "bad_link" && state.myId) {
    // joining again after a drop, and the link no longer works (the session ended, or the
    // link was withdrawn meanwhile): the page says so in the server's words, and stops
    finish(t(message.message));
    return;
  }
  for (const line of document.querySelectorAll("[data-join-error]")) say(line, t(message.message));
}

/** The therapist asks how today was: four faces, one tap. */
function askRating() {
  const panel = document.getElementById("rating");
  panel.hidden = false;
  const heading = document.getElementById("rating-heading");
  heading.tabIndex = -1;
  heading.focus();
}

function handleResumed(message) {
  state.resumes += 1;
  joinedIce = message.ice;
  say(roomStatus, t("You're back."));
  if (message.you.state === "waiting") return; // the waiting message follows
  if (!mesh) startMesh();
  for (const person of message.present) names.set(person.id, person.name);
  chat.present(message.present);
  mesh.resume(message.present.map((p) => p.id));
  whiteboard.open();
}

function handlePeerState(message) {
  state.peerStates.push({ participant: message.participant, state: message.state, at: Date.now() });
  if (message.state === "reconnected" && mesh) mesh.peerBack(message.participant);
  if (message.role !== "therapist") return;
  const note = {
    interrupted: t("Your therapist's connection dropped. Please wait here: they are coming back."),
    reconnected: t("Your therapist is back."),
    lost: t(
      "Your therapist could not get back in. They will try to ring you, as you agreed. You can close this page.",
    ),
  }[message.state];
  if (note) say(roomStatus, note);
  if (note && !document.getElementById("step-waiting").hidden) say(waitingNote, note);
}

function handleAdmitted(message) {
  show("room");
  if (mesh) mesh.closeAll();
  startMesh();
  chat.present(message.present);
  for (const person of message.present) {
    names.set(person.id, person.name);
    mesh.ensure(person.id, true); // the newcomer offers to everyone already here
    if (person.role === "guest") announceGuest(person, true);
  }
  whiteboard.open();
  breaks.ask(); // a break already on: paused with everyone else
  startTimer(document.getElementById("timer"));
}

/** The session cannot start (the gate closed): said kindly, once. The socket stays open, so
 * the therapist still sees them waiting, and their `waiting` or `admitted` brings the page
 * back. */
function cannotStart(text) {
  if (!document.getElementById("step-ended").hidden) return;
  whiteboard.close();
  chat.clear();
  say(endedNote, text);
  show("ended");
}

/** The session is over for this page: everything closes, and the ending screen says why.
 * When the session itself ended (`afterPlan`), the plan agreed for after it is fetched with
 * this link and shown; it lives in the page only, never in the browser's storage. */
function finish(text, { afterPlan = false } = {}) {
  whiteboard.close(); // nothing drawn or shared stays on this device
  chat.clear(); // nor anything written
  if (mesh) mesh.closeAll();
  mesh = null;
  state.mesh = null;
  share.endOwn(); // a screen shared stops with the session
  if (stream) for (const t of stream.getTracks()) t.stop();
  meterContext?.close();
  for (const timer of timers) clearInterval(timer);
  signalling.close();
  say(endedNote, text);
  show("ended");
  if (afterPlan) showAfterPlan();
}

/** The plan for after the session, if one was agreed (a young person's own link only). */
async function showAfterPlan() {
  let plan = "";
  try {
    const response = await fetch(`/join/${encodeURIComponent(token)}/after`, {
      cache: "no-store",
      credentials: "omit",
    });
    if (response.ok) plan = (await response.json()).plan || "";
  } catch {
    return; // no plan shown: the ending screen still says goodbye
  }
  if (!plan) return;
  document.getElementById("after-plan-text").textContent = plan;
  document.getElementById("after-plan").hidden = false;
}

function quickExit() {
  whiteboard.close();
  chat.clear();
  signalling.send({ type: "flag", kind: "quick_exit" });
  signalling.send({ type: "leave" });
  if (mesh) mesh.closeAll();
  share.endOwn();
  if (stream) for (const t of stream.getTracks()) t.stop();
  location.replace("/away"); // the session page leaves the history too
}

/** The room's screen: the "Me" panel (sound, camera, leaving, what we agreed) and the chat
 * opening from the bar above the board, and the videos floating over the board. */
function roomLayout() {
  const me = document.querySelector(".me-button");
  const panels = new Panels([me, chatButton], {
    onOpen: (_, button) => {
      if (button === chatButton) chatButton.querySelector("[data-chat-new]").hidden = true;
    },
  });
  panels.closeOnTouch(document.querySelector("#step-room .board-space"));
  // muted with the panel closed: the button it hides behind says so
  const mute = document.getElementById("mute");
  new MutationObserver(() => {
    me.querySelector("[data-muted]").hidden = mute.getAttribute("aria-pressed") !== "true";
  }).observe(mute, { attributeFilter: ["aria-pressed"] });
  floatTiles(stage);
}

function main() {
  roomLayout();
  devices.place(document.querySelector('[data-devices="check"]'), "check");
  devices.place(document.querySelector('[data-devices="me"]'), "me");
  document.getElementById("contract-next").addEventListener("click", () => show("checks"));
  const back = checksForm.dataset.back === "true";
  checksForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (back) comeBack();
    else startDeviceCheck();
  });
  hidePreview.addEventListener("change", () => {
    preview.hidden = hidePreview.checked;
    const hideSelf = document.getElementById("hide-self");
    hideSelf.setAttribute("aria-pressed", String(hidePreview.checked));
    selfTile.hidden = hidePreview.checked;
  });
  document.getElementById("join").addEventListener("click", () => {
    mediaControls(stream, selfTile);
    join();
  });
  document.getElementById("break").addEventListener("click", () => {
    signalling.send({ type: "flag", kind: "break" });
    say(roomStatus, t("Your therapist knows you would like a break."));
  });
  document.getElementById("not-private").addEventListener("click", () => {
    signalling.send({ type: "flag", kind: "not_private" });
    say(roomStatus, t("Only your therapist was told."));
  });
  for (const face of document.querySelectorAll("#rating [data-score]")) {
    face.addEventListener("click", () => {
      signalling.send({ type: "rating", score: Number(face.dataset.score) });
      document.getElementById("rating").hidden = true;
    });
  }
  document.getElementById("leave").addEventListener("click", () => {
    signalling.send({ type: "leave" });
    finish(t("You have left the session."));
  });
  for (const button of document.querySelectorAll("[data-quick-exit]"))
    button.addEventListener("click", quickExit);
  show(back ? "checks" : "contract");
}

main();
