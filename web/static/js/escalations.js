// The supervisor's live escalations: pushed the moment a therapist escalates, with an
// acknowledge action.

import { Signalling } from "./signal.js";

const list = document.getElementById("escalations");
const empty = document.getElementById("none");
const status = document.getElementById("watch-status");
const signalling = new Signalling();

function render(escalation, therapist) {
  let item = list.querySelector(`[data-id="${CSS.escape(escalation.id)}"]`);
  if (!item) {
    item = document.createElement("li");
    item.dataset.id = escalation.id;
    item.className = "card escalation-item";
    list.prepend(item);
  }
  item.replaceChildren();
  const title = document.createElement("h2");
  title.textContent = `${escalation.concern.replaceAll("_", " ")}${therapist ? `: ${therapist}` : ""}`;
  const detail = document.createElement("p");
  detail.textContent = `Raised ${new Date(escalation.created_at).toLocaleTimeString()}. Status: ${escalation.status}. Where the young person said they are: ${escalation.location}.`;
  const record = document.createElement("a");
  record.href = `/records/${encodeURIComponent(escalation.appointment_id)}`;
  record.textContent = "Open the session record";
  item.append(title, detail, record);
  if (escalation.status === "open") {
    const ack = document.createElement("button");
    ack.type = "button";
    ack.className = "primary escalation-ack";
    ack.textContent = "Acknowledge";
    ack.addEventListener("click", () =>
      signalling.send({ type: "acknowledge", escalation: escalation.id }),
    );
    item.append(ack);
  }
  if (escalation.status === "closed") item.remove();
  empty.hidden = list.children.length > 0;
}

async function main() {
  signalling
    .on("escalation_alert", (m) => {
      render(m.escalation, m.therapist);
      status.textContent = "A new escalation has arrived.";
    })
    .on("escalation_update", (m) => render(m.escalation, ""))
    .on("error", (m) => (status.textContent = m.message))
    .on("closed", () => (status.textContent = "Disconnected: reload the page to keep watching."));
  await signalling.connect();
  signalling.send({ type: "watch" });
  status.textContent = "Watching for escalations.";
}

main();
