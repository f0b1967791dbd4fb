// The supervisor's live escalations: pushed the moment a therapist escalates, each card
// naming the young person and the therapist, with acknowledge and close (with a short note
// of what was done) actions. A closed card stays, saying so, until the page is reloaded.

import { clock as time } from "./clock.js";
import { Signalling } from "./signal.js";

const list = document.getElementById("escalations");
const empty = document.getElementById("none");
const status = document.getElementById("watch-status");
const signalling = new Signalling();
const NOTE_LENGTH = 500;

function paragraph(className, text) {
  const p = document.createElement("p");
  p.className = className;
  p.textContent = text;
  return p;
}

/** Where the escalation stands, in words: who acknowledged or closed it, and when. */
function standing(escalation) {
  if (escalation.status === "closed") {
    const by = escalation.closed_by ? ` by ${escalation.closed_by}` : "";
    const note = escalation.note ? `: “${escalation.note}”` : "";
    return `Closed${by} at ${time(escalation.closed_at)}${note}.`;
  }
  if (escalation.status === "acknowledged") {
    const by = escalation.acknowledged_by ? ` by ${escalation.acknowledged_by}` : "";
    return `Acknowledged${by} at ${time(escalation.acknowledged_at)}. Close it once it is dealt with.`;
  }
  return "Open: nobody has acknowledged it yet.";
}

function acknowledgeButton(escalation) {
  const ack = document.createElement("button");
  ack.type = "button";
  ack.className = "primary escalation-ack";
  ack.textContent = "Acknowledge";
  ack.addEventListener("click", () =>
    signalling.send({ type: "acknowledge", escalation: escalation.id }),
  );
  return ack;
}

function closeForm(escalation, draft) {
  const form = document.createElement("form");
  form.className = "stack escalation-close";
  const field = document.createElement("div");
  field.className = "field";
  const label = document.createElement("label");
  label.htmlFor = `note-${escalation.id}`;
  label.textContent = "What was done (a short note)";
  const note = document.createElement("textarea");
  note.id = label.htmlFor;
  note.name = "note";
  note.rows = 2;
  note.maxLength = NOTE_LENGTH;
  note.required = true;
  note.value = draft;
  field.append(label, note);
  const close = document.createElement("button");
  close.type = "submit";
  close.textContent = "Close the escalation";
  form.append(field, close);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = note.value.trim();
    if (!text) return;
    signalling.send({ type: "close_escalation", escalation: escalation.id, note: text });
  });
  return form;
}

function render(escalation) {
  let item = list.querySelector(`[data-id="${CSS.escape(escalation.id)}"]`);
  if (!item) {
    item = document.createElement("li");
    item.dataset.id = escalation.id;
    item.className = "card escalation-item";
    list.prepend(item);
  }
  // a repeated alert re-draws the card: keep a note being written in it
  const typing = item.querySelector("textarea");
  const draft = typing ? typing.value : "";
  const focused = typing !== null && document.activeElement === typing;
  item.dataset.status = escalation.status;
  item.replaceChildren();
  const title = document.createElement("h2");
  const concern = escalation.concern.replaceAll("_", " ");
  title.textContent = escalation.client_name ? `${concern}: ${escalation.client_name}` : concern;
  const record = document.createElement("a");
  record.href = `/records/${encodeURIComponent(escalation.appointment_id)}`;
  record.textContent = "Open the session record";
  item.append(
    title,
    paragraph(
      "escalation-who",
      `Therapist: ${escalation.therapist_name || "unknown"}. Raised at ${time(escalation.created_at)}.`,
    ),
    paragraph("escalation-status", standing(escalation)),
    paragraph("", `Where the young person said they are: ${escalation.location}.`),
    record,
  );
  if (escalation.status === "open") item.append(acknowledgeButton(escalation));
  if (escalation.status !== "closed") {
    item.append(closeForm(escalation, draft));
    if (focused) item.querySelector("textarea").focus();
  }
  empty.hidden = list.querySelector('[data-status]:not([data-status="closed"])') !== null;
}

async function main() {
  signalling
    .on("escalation_alert", (m) => {
      render(m.escalation);
      status.textContent = "A new escalation has arrived.";
    })
    .on("escalation_update", (m) => {
      render(m.escalation);
      status.textContent = `Escalation ${m.escalation.status}.`;
    })
    .on("error", (m) => (status.textContent = m.message))
    .on("closed", () => (status.textContent = "Disconnected: reload the page to keep watching."));
  await signalling.connect();
  signalling.send({ type: "watch" });
  status.textContent = "Watching for escalations.";
}

main();
