// Guests in the room (an interpreter, a social worker, a teacher, another clinician): how
// each page announces them, in its own language, and the therapist's switch that gives a
// guest the board or takes it back (the server enforces it and logs it).

import { t } from "./strings.js";

const ROLES = {
  interpreter: () => t("interpreter"),
  social_worker: () => t("social worker"),
  teacher: () => t("teacher"),
  clinician: () => t("clinician"),
  other: () => t("professional"),
};

/** A guest's role in the page's language. */
export function guestRole(person) {
  return (ROLES[person.guest_role] ?? ROLES.other)();
}

/** What a page says as a guest comes in ("Sam, interpreter, has joined as a guest."). */
export function guestJoined(person) {
  return t("{name}, {role}, has joined as a guest.", {
    name: person.name,
    role: guestRole(person),
  });
}

/** What a page coming into the room says of a guest already there. */
export function guestHere(person) {
  return t("{name}, {role}, is here as a guest.", { name: person.name, role: guestRole(person) });
}

/** What a page says as a guest leaves. */
export function guestLeft(person) {
  return t("{name}, {role}, has left.", { name: person.name, role: guestRole(person) });
}

/**
 * The therapist's switch for a guest's board: pressed while the guest may draw.
 * @param {import("./signal.js").Signalling} signalling
 * @param {{id: string, name: string}} person
 * @returns {HTMLButtonElement}
 */
export function boardToggle(signalling, person) {
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.guestBoard = person.id;
  button.dataset.name = person.name;
  button.setAttribute("aria-pressed", "false");
  button.textContent = "Give the board";
  button.setAttribute("aria-label", `Give ${person.name} the board`);
  button.addEventListener("click", () => {
    const on = button.getAttribute("aria-pressed") !== "true";
    signalling.send({ type: "guest_board", participant: person.id, on });
  });
  return button;
}

/** The switch as the server says it is now (`guest_board`). */
export function showBoardGiven(root, message) {
  const button = root.querySelector(`[data-guest-board="${CSS.escape(message.participant)}"]`);
  if (!button) return;
  button.setAttribute("aria-pressed", String(message.on));
  button.textContent = message.on ? "Take the board back" : "Give the board";
  const name = button.dataset.name;
  button.setAttribute(
    "aria-label",
    message.on ? `Take the board back from ${name}` : `Give ${name} the board`,
  );
}
