// The therapist's room: opens the room (the server asks the gate), runs the waiting room,
// admits and removes people, and shows each person's connection quality.

import { Mesh } from "./mesh.js";
import {
  localMedia,
  mediaControls,
  removeTile,
  say,
  showStream,
  startTimer,
  state,
} from "./room.js";
import { Signalling } from "./signal.js";
import { Whiteboard } from "./whiteboard.js";

const root = document.getElementById("room");
const status = document.getElementById("status");
const alerts = document.getElementById("alerts");
const waitingList = document.getElementById("waiting");
const nobody = document.getElementById("nobody");
const stage = document.getElementById("stage");
const selfTile = document.getElementById("self-tile");
const selfVideo = document.getElementById("self-video");
const lockButton = document.getElementById("lock");
const endButton = document.getElementById("end");

const signalling = new Signalling();
state.signalling = signalling;
const whiteboard = new Whiteboard(signalling, document.getElementById("board-area"));
state.board = whiteboard.view;
state.whiteboard = whiteboard; // how the board reaches the server ("data" or "socket"), for tests
const names = new Map();
let mesh = null;
let stream = null;

function alertTherapist(text) {
  const item = document.createElement("p");
  item.className = "alert";
  item.textContent = `${new Date().toLocaleTimeString()}: ${text}`;
  alerts.prepend(item);
}

function handleRoomOpened(message) {
  state.myId = message.you.id;
  mesh = new Mesh(signalling, message.you.id, message.ice, stream, {
    onStream: (id, s) => showStream(stage, id, names.get(id) || "Guest", s),
    onGone: (id) => removeTile(stage, id),
  });
  state.mesh = mesh;
  whiteboard.open();
  say(status, "The room is open. People you admit will appear here.");
  startTimer(document.getElementById("timer"));
}

function handleLobby(message) {
  for (const p of [...message.waiting, ...message.present]) names.set(p.id, p.name);
  waitingList.replaceChildren(...message.waiting.map(waitingEntry));
  nobody.hidden = message.waiting.length > 0;
  lockButton.setAttribute("aria-pressed", String(message.locked));
  lockButton.textContent = message.locked ? "Unlock room" : "Lock room";
}

function waitingEntry(person) {
  const item = document.createElement("li");
  item.dataset.participant = person.id;
  const label = document.createElement("span");
  label.className = "who";
  label.textContent = person.name;
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

function button(label, text, onClick) {
  const b = document.createElement("button");
  b.type = onClick ? "button" : "submit";
  b.textContent = text;
  b.setAttribute("aria-label", label);
  if (onClick) b.addEventListener("click", onClick);
  return b;
}

function handlePeerJoined(message) {
  names.set(message.participant.id, message.participant.name);
  say(status, `${message.participant.name} joined.`);
  addPersonControls(message.participant);
}

function addPersonControls(person) {
  const tile = showStream(stage, person.id, person.name, new MediaStream());
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
  );
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

const CASES = {
  lost: "The young person is lost: they did not come back in time.",
  left: "The young person left in the middle of the session.",
  not_private: "The young person says it is not private now.",
  quick_exit: "The young person used the quick exit.",
};
const OUTCOMES = [
  ["tried", "Tried"],
  ["reached", "Reached"],
  ["no_answer", "No answer"],
  ["done", "Done"],
];

/** Walk the therapist through the plan agreed in advance, with timers and numbers. */
function handlePlan(message) {
  const panel = document.getElementById("plan");
  panel.hidden = false;
  document.getElementById("plan-case").textContent = CASES[message.case] || message.case;
  const started = Date.now();
  const list = document.getElementById("plan-steps");
  list.replaceChildren(...message.steps.map((step) => planStep(message.case, step, started)));
  panel.scrollIntoView({ behavior: "smooth", block: "start" });
  panel.querySelector("h2").focus?.();
}

function planStep(kase, step, started) {
  const item = document.createElement("li");
  item.dataset.step = step.id;
  const title = document.createElement("strong");
  title.textContent = step.title;
  item.append(title);
  if (step.detail) item.append(` ${step.detail}`);
  if (step.phone) {
    const phone = document.createElement("a");
    phone.href = `tel:${step.phone.replace(/[^0-9+]/g, "")}`;
    phone.textContent = step.phone;
    phone.className = "phone";
    item.append(" ", phone);
  }
  if (step.after_seconds > 0) {
    const timer = document.createElement("span");
    timer.className = "due";
    const tick = () => {
      const left = Math.round(step.after_seconds - (Date.now() - started) / 1000);
      timer.textContent =
        left > 0
          ? ` due in ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`
          : " due now";
      if (left > 0) setTimeout(tick, 1000);
    };
    tick();
    item.append(timer);
  }
  const buttons = document.createElement("span");
  buttons.className = "outcomes";
  for (const [value, label] of OUTCOMES) {
    buttons.append(
      button(`${label}: ${step.title}`, label, () =>
        signalling.send({ type: "plan_step", case: kase, step: step.id, outcome: value }),
      ),
    );
  }
  const recorded = document.createElement("span");
  recorded.className = "recorded";
  recorded.setAttribute("role", "status");
  item.append(buttons, recorded);
  return item;
}

function handlePlanRecorded(message) {
  const item = document.querySelector(
    `#plan-steps [data-step="${CSS.escape(message.step)}"] .recorded`,
  );
  if (item)
    item.textContent = ` Recorded: ${message.outcome.replace("_", " ")} at ${new Date().toLocaleTimeString()}.`;
}

/** What the therapist needs at once after escalating: numbers, place, people. */
function handleEscalation(message) {
  const e = message.escalation;
  const box = document.getElementById("escalation");
  box.hidden = false;
  box.replaceChildren();
  const line = (label, text) => {
    const p = document.createElement("p");
    const strong = document.createElement("strong");
    strong.textContent = `${label}: `;
    p.append(strong, text);
    box.append(p);
  };
  line(
    "Escalation",
    `${e.concern.replaceAll("_", " ")}, ${e.status}. Your supervisors have been alerted.`,
  );
  line("Where the young person said they are", e.location);
  for (const c of e.contacts) line(`Emergency contact (${c.relationship})`, `${c.name} ${c.phone}`);
  line("Emergency number", e.emergency_number || "not in the plan");
  line("Safeguarding lead", `${e.safeguarding_lead} ${e.safeguarding_phone}`);
  box.dataset.id = e.id;
  box.scrollIntoView({ behavior: "smooth", block: "nearest" }); // in the side panel's scroll
}

function handleEscalationUpdate(message) {
  const e = message.escalation;
  alertTherapist(
    `Escalation ${e.status}${e.status === "acknowledged" ? " by your supervisor" : ""}.`,
  );
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
  if (message.code === "gate_closed") {
    say(status, "The room cannot open yet. Go back to the session page to see what is missing.");
    root.dataset.gate = "closed";
    return;
  }
  alertTherapist(message.message);
}

async function showQuality() {
  if (!mesh) return;
  state.quality = await mesh.quality();
  for (const [id, q] of Object.entries(state.quality)) {
    const el = stage.querySelector(`[data-peer="${CSS.escape(id)}"] .quality`);
    if (!el) continue;
    const rtt = q.rtt === null ? "–" : `${Math.round(q.rtt * 1000)} ms`;
    const fps = q.fps === null ? "–" : `${Math.round(q.fps)} fps`;
    el.textContent = `${rtt} · ${(q.loss * 100).toFixed(1)}% loss · ${fps}`;
    el.dataset.level = q.loss > 0.05 || (q.rtt ?? 0) > 0.4 ? "poor" : "good";
  }
}

/** "Hide the miniatures from the young person": shown once the board can do it. */
function libraryChoice() {
  const box = document.getElementById("library-hidden");
  if (typeof whiteboard.view.setLibraryHidden !== "function") return;
  box.closest("p").hidden = false;
  box.addEventListener("change", () => whiteboard.view.setLibraryHidden(box.checked));
  // ticked as the board has it, after a reload too (the toolbar's own handler runs first)
  const before = whiteboard.view.onSettings;
  whiteboard.view.onSettings = () => {
    before?.();
    box.checked = Boolean(whiteboard.view.settings?.library_hidden);
  };
}

/** "Save the board as a scene": kept in the child's box, with a thumbnail, to open again in
 * a later session. */
function sceneSaving() {
  const form = document.getElementById("save-scene");
  const status = document.getElementById("scene-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = form.elements.name.value.trim();
    const response = await fetch(`/api/sessions/${root.dataset.session}/scenes`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": form.dataset.csrf },
      body: JSON.stringify({ name }),
    }).catch(() => null);
    if (response?.ok) {
      status.textContent = `Saved “${name}” in the box.`;
      form.reset();
      return;
    }
    const body = await response?.json().catch(() => null);
    status.textContent = body?.error?.message ?? "The scene could not be saved. Try again.";
  });
}

async function main() {
  stream = await localMedia();
  if (stream) selfVideo.srcObject = stream;
  mediaControls(stream, selfTile);
  signalling
    .on("room_opened", handleRoomOpened)
    .on("lobby", handleLobby)
    .on("peer_joined", handlePeerJoined)
    .on("peer_left", handlePeerLeft)
    .on("signal", (m) => mesh?.handleSignal(m))
    .on("server_signal", (m) => whiteboard.handleAnswer(m))
    .on("flag", handleFlag)
    .on("notice", handleNotice)
    .on("error", handleError)
    .on("room_ended", () => say(status, "The session has ended."))
    .on("reconnecting", () => say(status, "Your connection dropped. Reconnecting…"))
    .on("resumed", handleResumed)
    .on("resume_refused", () => {
      // the server no longer holds our place: open the room again (the cookie says who we are)
      if (mesh) mesh.closeAll();
      signalling.send({ type: "open_room", session: root.dataset.session });
    })
    .on("peer_state", handlePeerState)
    .on("plan", handlePlan)
    .on("escalation", handleEscalation)
    .on("escalation_update", handleEscalationUpdate)
    .on("plan_recorded", handlePlanRecorded)
    .on("closed", () => say(status, "Disconnected from the server."));
  await signalling.connect();
  signalling.send({ type: "open_room", session: root.dataset.session });
  document.getElementById("allow-clear").addEventListener("change", (event) => {
    signalling.send({ type: "allow_clear", allowed: event.target.checked });
  });
  libraryChoice();
  sceneSaving();
  document.getElementById("escalate-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signalling.send({ type: "escalate", concern: document.getElementById("concern").value });
  });
  document.getElementById("ask-rating").addEventListener("click", () => {
    signalling.send({ type: "ask_rating" });
    say(status, "The young person has been asked how today was.");
  });
  lockButton.addEventListener("click", () => {
    signalling.send({ type: "lock", locked: lockButton.getAttribute("aria-pressed") !== "true" });
  });
  endButton.addEventListener("click", () => {
    if (!confirm("End the session for everyone?")) return;
    signalling.send({ type: "end_room" });
    if (mesh) mesh.closeAll();
  });
  setInterval(showQuality, 1000);
  setInterval(() => mesh?.report(state.quality), 10000);
}

main();
