// Save-as-you-go for checklist forms: each answer is sent as it changes, and the gate's
// new status is announced. Without this script the form still saves with its button.

const form = document.querySelector("form[data-autosave]");
const status = document.getElementById("save-status");
const missing = document.getElementById("missing");
// on a narrow screen the list of what is missing folds to its heading, so the form shows
const narrow = window.matchMedia("(max-width: 59.99rem)");

/** Show what the gate still waits for as the server now says, from a fresh copy of this page. */
async function refreshMissing() {
  if (!missing) return;
  let response;
  try {
    response = await fetch(window.location.pathname, { credentials: "same-origin" });
  } catch {
    return; // the list stays as it was; the status line has said whether the answer saved
  }
  if (!response.ok) return;
  const fresh = new DOMParser()
    .parseFromString(await response.text(), "text/html")
    .getElementById("missing");
  if (!fresh) return;
  const wasOpen = missing.querySelector("details")?.open ?? true;
  missing.className = fresh.className;
  missing.replaceChildren(...fresh.childNodes);
  const details = missing.querySelector("details");
  if (details) details.open = wasOpen;
}

/** On a narrow screen, a link to a question folds the list away so the question shows. */
function handleMissingClick(event) {
  const details = missing.querySelector("details");
  if (details && narrow.matches && event.target.closest("a")) details.open = false;
}

/**
 * Send one item's answer and rationale.
 * @param {string} itemId
 */
async function saveItem(itemId) {
  const answerInputs = form.querySelectorAll(`[name="answer:${CSS.escape(itemId)}"]`);
  let answer = "";
  for (const input of answerInputs) {
    if (input.type === "radio") {
      if (input.checked) answer = input.value;
    } else {
      answer = input.value;
    }
  }
  const rationaleInput = form.querySelector(`[name="rationale:${CSS.escape(itemId)}"]`);
  const body = {
    answers: { [itemId]: { answer, rationale: rationaleInput ? rationaleInput.value : "" } },
  };
  status.textContent = "Saving…";
  let response;
  try {
    response = await fetch(form.dataset.autosave, {
      method: "PUT",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": form.dataset.csrf },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch {
    status.textContent =
      "Not saved: no connection. Your answer is still on this page; use the Save button.";
    return;
  }
  const result = await response.json();
  if (!response.ok) {
    status.textContent = `Not saved: ${result.error.message}`;
    return;
  }
  const gate =
    result.gate.status === "open"
      ? "the gate is open"
      : result.gate.status === "needs_sign_off"
        ? "waiting for sign-off"
        : `${result.gate.reasons.length} things still missing`;
  status.textContent = `Saved (revision ${result.revision}); ${gate}.`;
  await refreshMissing();
}

function handleChange(event) {
  const item = event.target.closest("[data-item]");
  if (!item) return;
  saveItem(item.dataset.item);
}

if (form && status) {
  form.addEventListener("change", handleChange);
}
if (missing) {
  const details = missing.querySelector("details");
  if (details && narrow.matches) details.open = false;
  missing.addEventListener("click", handleMissingClick);
}
