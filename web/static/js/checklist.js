// Save-as-you-go for checklist forms: each answer is sent as it changes, and the gate's
// new status is announced. Without this script the form still saves with its button.

const form = document.querySelector("form[data-autosave]");
const status = document.getElementById("save-status");

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
}

function handleChange(event) {
  const item = event.target.closest("[data-item]");
  if (!item) return;
  saveItem(item.dataset.item);
}

if (form && status) {
  form.addEventListener("change", handleChange);
}
