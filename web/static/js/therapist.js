// The therapist's room: opens the room (the server asks the gate), runs the waiting room,
// admits and removes people (and lets back those removed or declined), shows each person's
// connection quality, and ends the session: the room closes cleanly and leads to the
// after-session notes.

import { Agreement } from "./agreement.js";
import { boardSettings } from "./boardsettings.js";
import { Breaks } from "./breaks.js";
import { Chat } from "./chat.js";
import { clock } from "./clock.js";
import { Devices } from "./devices.js";
import { Floor } from "./floor.js";
import { aboutWhom, fillAbout } from "./group.js";
import { boardToggle, guestJoined, guestLeft, showBoardGiven } from "./guests.js";
import { Mesh } from "./mesh.js";
import { PlanPanel } from "./plan.js";
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
import { Whiteboard } from "./whiteboard.js";

const root = document.getElementById("room");
const status = document.getElementById("status");
const alerts = document.getElementById("alerts");
const waitingList = document.getElementById("waiting");
const outList = document.getElementById("out");
const nobody = document.getElementById("nobody");
const lobby = document.getElementById("lobby");
const stage = document.getElementById("stage");
const selfTile = document.getElementById("self-tile");
const selfVideo = document.getElementById("self-video");
const lockButton = document.getElementById("lock");
const endButton = document.getElementById("end");
const closedPanel = document.getElementById("ended");

const signalling = new Signalling();
state.signalling = signalling;
const whiteboard = new Whiteboard(signalling, document.getElementById("board-area"));
state.board = whiteboard.view;
state.whiteboard = whiteboard; // how the board reaches the server ("data" or "socket"), for tests
const plan = new PlanPanel(document.getElementById("plan"), (step) =>
  signalling.send({ type: "plan_step", ...step }),
);
const names = new Map();
const people = new Map(); // participant id -> who they are (a guest's role, for their leaving)
const timers = []; // the page's own intervals, stopped when the room closes
let mesh = null;
let stream = null;
let youngPersonHere = false;
let ratingAsked = false;
let closed = false;
let clockStarted = false;
const breaks = new Breaks(
  signalling,
  () => stream,
  (id) => alertTherapist(`${names.get(id) || "Someone"} is back from the break.`),
);

const agreement = new Agreement(signalling, { host: true });
// mute everyone and who may unmute, the raised hands in order, the spotlight
const floor = new Floor(signalling, {
  host: true,
  getStream: () => stream,
  names,
  stage,
  selfTile,
});
const share = new Share(signalling, {
  getMesh: () => mesh,
  names,
  note: document.getElementById("share-note"),
  host: true,
});
const devices = new Devices({ getStream: () => stream, getMesh: () => mesh });
const poorLink = poorLinkOnPage(signalling, { getMesh: () => mesh, names, stage });
state.poorLink = poorLink;
state.alert = alertTherapist; // for the tests: an alert as the room raises one
document.getElementById("to-escalate").addEventListener("click", () => {
  // at the top of the panel's own scroll, under the controls and the alerts
  document.querySelector(".side-scroll .escalate").scrollIntoView({ block: "start" });
  document.getElementById("concern").focus({ preventScroll: true });
});
// a private message is for the therapist alone: the alerts above the side panel say it came,
// however far the panel is scrolled from the chat
const chat = new Chat(signalling, {
  onNew: (message) => {
    if (message.private) alertTherapist(`${chat.who(message)} wrote to you privately in the chat.`);
  },
});

function alertTherapist(text) {
  const item = document.createElement("p");
  item.className = "alert";
  item.textContent = `${clock()}: ${text}`;
  alerts.prepend(item);
  alerts.scrollTop = 0; // the newest in sight, however far the older ones were scrolled
}

function handleRoomOpened(message) {
  state.myId = message.you.id;
  mesh = new Mesh(signalling, message.you.id, message.ice, stream, {
    onStream: (id, s) => {
      showStream(stage, id, names.get(id) || "Guest", s);
      floor.refresh();
    },
    onGone: (id) => removeTile(stage, id),
    isShare: (id, s) => share.isShare(id, s),
    onOtherStream: (id, s) => share.otherStream(id, s),
  });
  state.mesh = mesh;
  whiteboard.open();
  breaks.ask(); // a break on since before this page (re)opened the room
  say(status, "The room is open. People you admit will appear here.");
  if (!clockStarted) startTimer(document.getElementById("timer")); // once, not at each reopening
  clockStarted = true;
}

function handleLobby(message) {
  for (const p of [...message.waiting, ...message.present]) names.set(p.id, p.name);
  waitingList.replaceChildren(...message.waiting.map(waitingEntry));
  nobody.hidden = message.waiting.length > 0;
  outList.replaceChildren(...(message.out || []).map(outEntry));
  // once people are in, an empty waiting room steps aside for their videos; it comes back,
  // above them, as soon as someone waits or a link is put out
  lobby.hidden =
    message.waiting.length === 0 &&
    !message.out?.length &&
    message.present.some((p) => p.role !== "therapist");
  youngPersonHere = message.present.some((p) => p.role === "young_person");
  fillAbout(document.getElementById("escalate-about"), [...message.waiting, ...message.present]);
  chat.present(message.present);
  lockButton.setAttribute("aria-pressed", String(message.locked));
  lockButton.textContent = message.locked ? "Unlock room" : "Lock room";
}

function waitingEntry(person) {
  const item = document.createElement("li");
  item.dataset.participant = person.id;
  const label = document.createElement("span");
  label.className = "who";
  label.textContent = person.role === "guest" ? `${person.name} (guest)` : person.name;
  const admit = button(`Admit ${person.name}`, "Admit", () => {
    state.admittedAt[person.id] = Date.now();
    signalling.send({ type: "admit", participant: person.id });
  });
  admit.classList.add("primary");
  const decline = button(`Decline ${person.name}`, "Decline", () =>
    signalling.send({ type: "decline", participant: person.id }),
  );
  const form = document.createElement("form");
  form.className = "waiting-message";
  const id = `msg-${person.id}`;
  form.innerHTML = `<label for="${id}">Message</label><input id="${id}" maxlength="280" type="text" value="I'll be with you in two minutes.">`;
  form.append(button(`Send message to ${person.name}`, "Send", null));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = form.querySelector("input").value.trim();
    if (text) signalling.send({ type: "waiting_message", participant: person.id, text });
  });
  item.append(label, admit, decline, form);
  return item;
}

/** Someone removed or declined: their link joins nothing until they are let back. */
function outEntry(out) {
  const item = document.createElement("li");
  item.dataset.link = out.link;
  const label = document.createElement("span");
  label.className = "who";
  const who = `the ${out.name.toLowerCase()}`;
  label.textContent = `The ${out.name.toLowerCase()} was ${out.how}`;
  item.append(
    label,
    button(`Let ${who} back in`, "Let them back in", () =>
      signalling.send({ type: "let_back", link: out.link }),
    ),
  );
  return item;
}

function button(label, text, onClick) {
  const b = document.createElement("button");
  b.type = onClick ? "button" : "submit";
  b.textContent = text;
  b.setAttribute("aria-label", label);
  if (onClick) b.addEventListener("click", onClick);
  return b;
}

function handlePeerJoined(message) {
  const person = message.participant;
  names.set(person.id, person.name);
  people.set(person.id, person);
  if (person.role === "guest") whiteboard.noBoard.add(person.id);
  say(status, person.role === "guest" ? guestJoined(person) : `${person.name} joined.`);
  addPersonControls(person);
}

function addPersonControls(person) {
  const tile = showStream(stage, person.id, person.name, new MediaStream());
  floor.refresh();
  if (tile.querySelector(".person-controls")) return;
  const controls = document.createElement("div");
  controls.className = "person-controls";
  controls.append(
    button(`Send ${person.name} to the waiting room`, "To waiting room", () =>
      signalling.send({ type: "to_waiting", participant: person.id }),
    ),
    button(`Remove ${person.name}`, "Remove", () =>
      signalling.send({ type: "remove", participant: person.id }),
    ),
    floor.spotlightButton(person),
  );
  if (person.role === "guest") controls.append(boardToggle(signalling, person));
  tile.append(controls);
}

/** Back after our socket dropped: the same connections, with their ICE restarted. */
function handleResumed(message) {
  state.resumes += 1;
  say(status, "Reconnected.");
  for (const person of message.present) {
    names.set(person.id, person.name);
    addPersonControls(person);
  }
  if (mesh) mesh.resume(message.present.map((p) => p.id));
  whiteboard.open();
}

function handlePeerState(message) {
  state.peerStates.push({ participant: message.participant, state: message.state, at: Date.now() });
  if (message.state === "reconnected" && mesh) mesh.peerBack(message.participant);
  const name = names.get(message.participant) || "Someone";
  const tile = stage.querySelector(`[data-peer="${CSS.escape(message.participant)}"]`);
  if (tile) tile.dataset.state = message.state;
  if (message.state === "interrupted") alertTherapist(`${name}: connection dropped, reconnecting…`);
  if (message.state === "reconnected") alertTherapist(`${name} is back.`);
  if (message.state === "lost")
    alertTherapist(`${name} is LOST: not back in time. Follow the disconnection plan.`);
}

/** Where an escalation stands, in words: who acknowledged or closed it, and when; while
 * open, who the server says it has reached (never more than it sent). */
function escalationStanding(e) {
  if (e.status === "closed")
    return `closed by ${e.closed_by} at ${clock(e.closed_at)}: “${e.note}”`;
  if (e.status === "acknowledged")
    return `acknowledged by ${e.acknowledged_by} at ${clock(e.acknowledged_at)}.`;
  return `open. ${e.reached}`;
}

/** Close the escalation from the panel, saying in a few words what was done. */
function escalationCloseForm(e) {
  const form = document.createElement("form");
  form.className = "escalation-close";
  const label = document.createElement("label");
  label.htmlFor = "escalation-note";
  label.textContent = "What was done (a short note)";
  const note = document.createElement("textarea");
  note.id = "escalation-note";
  note.rows = 2;
  note.maxLength = 500;
  note.required = true;
  const close = document.createElement("button");
  close.type = "submit";
  close.textContent = "Close the escalation";
  form.append(label, note, close);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = note.value.trim();
    if (text) signalling.send({ type: "close_escalation", escalation: e.id, note: text });
  });
  return form;
}

/** What the therapist needs at once after escalating: numbers, place, people. */
function handleEscalation(message) {
  const e = message.escalation;
  const box = document.getElementById("escalation");
  box.hidden = false;
  box.replaceChildren();
  const line = (label, ...text) => {
    const p = document.createElement("p");
    const strong = document.createElement("strong");
    strong.textContent = `${label}: `;
    p.append(strong, ...text);
    box.append(p);
  };
  const standing = document.createElement("span");
  standing.className = "escalation-standing";
  standing.textContent = escalationStanding(e);
  line("Escalation", `${e.concern.replaceAll("_", " ")}, `, standing);
  line("Where the young person said they are", e.location);
  for (const c of e.contacts) line(`Emergency contact (${c.relationship})`, `${c.name} ${c.phone}`);
  line("Emergency number", e.emergency_number || "not in the plan");
  line("Safeguarding lead", `${e.safeguarding_lead} ${e.safeguarding_phone}`);
  if (e.status !== "closed") box.append(escalationCloseForm(e));
  box.dataset.id = e.id;
  box.classList.toggle("nobody-on-shift", e.nobody_on_shift && e.status === "open");
  if (e.nobody_on_shift && e.status === "open") alertTherapist(e.reached);
  box.scrollIntoView({ behavior: "smooth", block: "nearest" }); // in the side panel's scroll
}

/** Acknowledged or closed: the panel says by whom and when, as it happens. */
function handleEscalationUpdate(message) {
  const e = message.escalation;
  const box = document.getElementById("escalation");
  if (box.dataset.id === e.id) {
    box.querySelector(".escalation-standing").textContent = escalationStanding(e);
    box.classList.toggle("nobody-on-shift", e.nobody_on_shift && e.status === "open");
    if (e.status === "closed") box.querySelector(".escalation-close")?.remove();
  }
  alertTherapist(`Escalation ${escalationStanding(e)}`);
}

function handlePeerLeft(message) {
  const name = names.get(message.participant) || "Someone";
  mesh.drop(message.participant);
  removeTile(stage, message.participant);
  if (!["waiting room", "reconnecting"].includes(message.reason))
    alertTherapist(`${name} left (${message.reason}).`);
}

const FLAGS = {
  break: "asked for a break",
  not_private: "says it is NOT PRIVATE now",
  quick_exit: "used the quick exit",
};

function handleFlag(message) {
  const name = names.get(message.from) || "Someone";
  state.flags.push(message);
  alertTherapist(`${name} ${FLAGS[message.kind] || message.kind}.`);
}

function handleNotice(message) {
  alertTherapist(message.message);
}

function handleError(message) {
  if (chat.handleError(message)) return;
  if (message.code === "gate_closed") {
    say(status, "The room cannot open yet. Go back to the session page to see what is missing.");
    root.dataset.gate = "closed";
    return;
  }
  if (message.id === "open" || message.id === "reopen") {
    // the room cannot be opened on this page (the session ended meanwhile, or it is open in
    // another window): nothing here would work, so the page says why and leads back
    closeRoom("The room is closed", message.message, false);
    return;
  }
  alertTherapist(message.message);
}

async function showQuality() {
  if (!mesh) return;
  state.quality = await mesh.quality();
  poorLink.observe(state.quality);
  for (const [id, q] of Object.entries(state.quality)) {
    const el = stage.querySelector(`[data-peer="${CSS.escape(id)}"] .quality`);
    if (!el) continue;
    const rtt = q.rtt === null ? "–" : `${Math.round(q.rtt * 1000)} ms`;
    const fps = q.fps === null ? "–" : `${Math.round(q.fps)} fps`;
    el.textContent = `${rtt} · ${(q.loss * 100).toFixed(1)}% loss · ${fps}`;
    el.dataset.level = q.loss > 0.05 || (q.rtt ?? 0) > 0.4 ? "poor" : "good";
  }
}

/** The session is over (ended here or from the session page), or the room cannot open
 * here: everything live stops (the socket and its reconnecting, the peer connections, the
 * data connection to the server, the camera and microphone, the page's timers and the plan's
 * countdowns), and the page leads on: to the after-session notes once a session has ended. */
function closeRoom(heading, reason, ended = true) {
  if (closed) return;
  closed = true;
  signalling.close();
  for (const timer of timers) clearInterval(timer);
  plan.stop();
  whiteboard.close();
  mesh?.closeAll();
  mesh = null;
  state.mesh = null;
  share.endOwn();
  if (stream) for (const track of stream.getTracks()) track.stop();
  selfVideo.srcObject = null;
  for (const part of root.querySelectorAll("[data-live]")) part.hidden = true;
  const raised = document.getElementById("escalation");
  raised.closest("section").hidden = raised.hidden; // an escalation raised stays in sight
  root.dataset.state = "closed";
  say(status, heading);
  closedPanel.querySelector("h2").textContent = heading;
  say(document.getElementById("ended-reason"), reason);
  const next = document.getElementById("ended-next");
  if (!ended) {
    next.href = `/sessions/${root.dataset.session}`;
    next.textContent = "Back to the session page";
  }
  closedPanel.hidden = false;
  closedPanel.querySelector("h2").focus();
}

function handleRoomEnded() {
  closeRoom(
    "The session has ended",
    "Everyone has left the room. Your camera and microphone are off.",
  );
}

/** Before ending: the young person has not been asked how it went yet, and could be now. */
function endQuestion() {
  const question = "End the session for everyone?";
  if (!youngPersonHere || ratingAsked) return question;
  return `${question}\n\nYou have not asked the young person how it went. To ask first, choose Cancel, then “Ask how it went”.`;
}

/** Open the room (``id``: "open" the first time, "reopen" when the server no longer held our
 * place), so that a refusal is known for what it answers. */
function openRoom(id) {
  signalling.send({ type: "open_room", session: root.dataset.session, id });
}

async function main() {
  if (["ended", "cancelled"].includes(root.dataset.status)) {
    // the page of a session that is over (reloaded, or reached with Back): nothing to open
    const ended = root.dataset.status === "ended";
    closeRoom(
      ended ? "The session has ended" : "The session was cancelled",
      "This room is closed.",
      ended,
    );
    return;
  }
  stream = await localMedia();
  if (stream) selfVideo.srcObject = stream;
  mediaControls(stream, selfTile);
  devices.place(root.querySelector("[data-devices]"), "my");
  devices.refresh();
  signalling
    .on("room_opened", handleRoomOpened)
    .on("lobby", handleLobby)
    .on("peer_joined", handlePeerJoined)
    .on("peer_left", (m) => {
      const person = people.get(m.participant);
      if (person?.role === "guest") say(status, guestLeft(person));
      handlePeerLeft(m);
    })
    .on("guest_board", (m) => {
      showBoardGiven(stage, m);
      if (m.on) whiteboard.noBoard.delete(m.participant);
      else whiteboard.noBoard.add(m.participant);
    })
    .on("signal", (m) => mesh?.handleSignal(m))
    .on("server_signal", (m) => whiteboard.handleAnswer(m))
    .on("flag", handleFlag)
    .on("notice", handleNotice)
    .on("error", handleError)
    .on("room_ended", handleRoomEnded)
    .on("reconnecting", () => say(status, "Your connection dropped. Reconnecting…"))
    .on("resumed", handleResumed)
    .on("resume_refused", () => {
      // the server no longer holds our place: open the room again (the cookie says who we are)
      if (mesh) mesh.closeAll();
      openRoom("reopen");
    })
    .on("peer_state", handlePeerState)
    .on("plan", (m) => plan.show(m))
    .on("escalation", handleEscalation)
    .on("escalation_update", handleEscalationUpdate)
    .on("plan_recorded", (m) => plan.recorded(m))
    .on("closed", () => {
      if (!closed) say(status, "Disconnected from the server.");
    });
  await signalling.connect();
  openRoom("open");
  boardSettings(root.dataset.session, whiteboard, signalling);
  document.getElementById("escalate-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const about = aboutWhom(document.getElementById("escalate-about"));
    signalling.send({
      type: "escalate",
      concern: document.getElementById("concern").value,
      ...about,
    });
  });
  document.getElementById("read-agreement").addEventListener("click", () => agreement.show(0));
  document.getElementById("ask-rating").addEventListener("click", () => {
    signalling.send({ type: "ask_rating" });
    ratingAsked = true;
    say(status, "The young person has been asked how today was.");
  });
  lockButton.addEventListener("click", () => {
    signalling.send({ type: "lock", locked: lockButton.getAttribute("aria-pressed") !== "true" });
  });
  endButton.addEventListener("click", () => {
    if (!confirm(endQuestion())) return;
    // the room closes when the server answers `room_ended`: refused, the session goes on
    if (signalling.send({ type: "end_room" })) say(status, "Ending the session…");
    else say(status, "Not connected just now: try again in a moment.");
  });
  timers.push(
    setInterval(showQuality, 1000),
    setInterval(() => mesh?.report(state.quality), 10000),
  );
}

main();
