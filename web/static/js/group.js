// A group's room on the therapist's side: whom a concern is about, so that the supervisor
// gets that member's contacts, stated location and plan, and nobody else's. Every young
// person seen in the room stays a choice, the one who is lost or has left among them.

const seen = new Map(); // participant id -> name, young people only

/** Offer every young person seen so far in ``select`` (absent outside a group's room). */
export function fillAbout(select, people) {
  if (!select) return;
  for (const p of people) if (p.role === "young_person") seen.set(p.id, p.name);
  const chosen = select.value;
  select.replaceChildren(
    ...[...seen].map(([id, name]) => new Option(name, id, false, id === chosen)),
  );
  select.disabled = seen.size === 0;
}

/** What an `escalate` message adds to say whom it is about (nothing outside a group). */
export function aboutWhom(select) {
  return select?.value ? { about: select.value } : {};
}
