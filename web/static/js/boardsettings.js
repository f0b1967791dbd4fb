// The therapist's "The board" card beside the board: whether the others may clear it,
// hiding the miniatures from the young person, and saving the board as a scene in the box.

/**
 * Wire the card: ``session`` is the session's id, ``whiteboard`` the page's Whiteboard, and
 * the room's settings go to the server over ``signalling``.
 * @param {string} session
 * @param {import("./whiteboard.js").Whiteboard} whiteboard
 * @param {import("./signal.js").Signalling} signalling
 */
export function boardSettings(session, whiteboard, signalling) {
  document.getElementById("allow-clear").addEventListener("change", (event) => {
    signalling.send({ type: "allow_clear", allowed: event.target.checked });
  });
  libraryChoice(whiteboard);
  sceneSaving(session);
}

/** "Hide the miniatures from the young person": shown once the board can do it. */
function libraryChoice(whiteboard) {
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
function sceneSaving(session) {
  const form = document.getElementById("save-scene");
  const status = document.getElementById("scene-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = form.elements.name.value.trim();
    const response = await fetch(`/api/sessions/${session}/scenes`, {
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
