// An invited guest's page (an interpreter, a social worker, a teacher, another clinician):
// a camera and microphone check, the waiting room, then the room. The board is shown; its
// tools only once the therapist gives the guest the board (the server refuses anything else).

import { levelMeter } from "./devices.js";
import { Mesh } from "./mesh.js";
import { localMedia, mediaControls, removeTile, say, showStream, state } from "./room.js";
import { Signalling } from "./signal.js";
import { floatTiles } from "./tiles.js";
import { Whiteboard } from "./whiteboard.js";

const token = location.pathname.split("/").pop();
const steps = ["device", "waiting", "room", "ended"];
const preview = document.getElementById("preview");
const stage = document.getElementById("stage");
const selfTile = document.getElementById("self-tile");
const selfVideo = document.getElementById("self-video");
const roomStatus = document.getElementById("room-status");
const boardNote = document.getElementById("board-note");
const boardArea = document.getElementById("board-area");
const joinError = document.getElementById("join-error");
const endedNote = document.getElementById("ended-note");

const signalling = new Signalling();
state.signalling = signalling;
const whiteboard = new Whiteboard(signalling, boardArea);
state.board = whiteboard.view;
state.whiteboard = whiteboard;
const names = new Map();
const people = new Map(); // participant id -> their Person, for their leaving's words
let stream = null;
let mesh = null;
let ice = null;
let meter = null;

/** Show one step and move keyboard focus to its heading. */
function show(step) {
  for (const name of steps) document.getElementById(`step-${name}`).hidden = name !== step;
  document.body.classList.toggle("in-room", step === "room");
  const heading = document.querySelector(`#step-${step} h1, #step-${step} h2`);
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

/** Who someone is, in a line: "Sam, interpreter (guest)" or "Therapist". */
function who(person) {
  if (person.role === "guest")
    return `${person.name}, ${person.guest_role?.replace("_", " ") ?? "guest"} (guest)`;
  return person.name;
}

function startMesh() {
  mesh = new Mesh(signalling, state.myId, ice, stream, {
    onStream: (id, s) => showStream(stage, id, names.get(id) || "Someone", s),
    onGone: (id) => removeTile(stage, id),
  });
  state.mesh = mesh;
}

function handleAdmitted(message) {
  show("room");
  meter?.close();
  if (mesh) mesh.closeAll();
  startMesh();
  for (const person of message.present) {
    names.set(person.id, who(person));
    people.set(person.id, person);
    mesh.ensure(person.id, true); // the newcomer offers to everyone already here
  }
  whiteboard.open();
  say(roomStatus, "You are in the session. Everyone has been told you joined as a guest.");
}

/** The therapist gave this guest the board, or took it back. */
function handleBoard(message) {
  if (message.participant !== state.myId) {
    if (message.on) whiteboard.noBoard.delete(message.participant);
    else whiteboard.noBoard.add(message.participant);
    return;
  }
  boardArea.classList.toggle("no-board", !message.on);
  say(boardNote, message.on ? "The therapist gave you the board: you can draw." : "");
}

function finish(text) {
  whiteboard.close();
  if (mesh) mesh.closeAll();
  mesh = null;
  state.mesh = null;
  if (stream) for (const track of stream.getTracks()) track.stop();
  meter?.close();
  signalling.close();
  say(endedNote, text);
  show("ended");
}

async function join() {
  signalling
    .on("joined", (m) => {
      state.myId = m.you.id;
      ice = m.ice;
    })
    .on("waiting", (m) => {
      whiteboard.close();
      if (mesh) mesh.closeAll();
      mesh = null;
      show("waiting");
      if (m.message)
        say(document.getElementById("waiting-note"), `The therapist says: “${m.message}”`);
    })
    .on("admitted", handleAdmitted)
    .on("guest_board", handleBoard)
    .on("peer_joined", (m) => {
      names.set(m.participant.id, who(m.participant));
      people.set(m.participant.id, m.participant);
      if (m.participant.role === "guest") whiteboard.noBoard.add(m.participant.id);
    })
    .on("peer_left", (m) => {
      mesh?.drop(m.participant);
      removeTile(stage, m.participant);
    })
    .on("server_signal", (m) => whiteboard.handleAnswer(m))
    .on("signal", (m) => {
      if (!mesh) startMesh();
      mesh.handleSignal(m);
    })
    .on("declined", () => finish("The therapist cannot let you in now."))
    .on("removed", () => finish("The therapist asked you to leave the session."))
    .on("room_ended", () => finish("The session has ended."))
    .on("error", (m) => {
      if (m.code === "bad_link" || m.code === "not_let_back") {
        finish(m.message);
        return;
      }
      say(document.getElementById("step-room").hidden ? joinError : roomStatus, m.message);
    })
    .on("closed", () => {
      if (document.getElementById("step-ended").hidden)
        say(roomStatus, "The connection dropped. Please open your link again.");
    });
  await signalling.connect();
  signalling.send({ type: "guest_join", token });
}

async function main() {
  floatTiles(stage);
  stream = await localMedia();
  if (stream) {
    preview.srcObject = stream;
    selfVideo.srcObject = stream;
    if (stream.getAudioTracks().length > 0)
      meter = levelMeter(
        stream,
        document.getElementById("mic-level"),
        () => !document.getElementById("step-device").hidden,
      );
  } else {
    say(
      document.getElementById("device-note"),
      "We could not find a camera or microphone. You can still join.",
    );
  }
  document.getElementById("join").addEventListener("click", () => {
    mediaControls(stream, selfTile);
    join();
  });
  document.getElementById("leave").addEventListener("click", () => {
    signalling.send({ type: "leave" });
    finish("You have left the session.");
  });
  setInterval(async () => {
    if (mesh) state.quality = await mesh.quality();
  }, 1000);
}

main();
