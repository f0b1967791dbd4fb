// "Copy link" buttons: copy the named input's value and say so.

function handleCopy(event) {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const id = button.dataset.copy;
  const input = document.getElementById(id);
  const status = document.querySelector(`[data-copy-status="${CSS.escape(id)}"]`);
  if (!input) return;
  input.select();
  navigator.clipboard.writeText(input.value).then(
    () => {
      if (status) status.textContent = "Copied.";
    },
    () => {
      if (status) status.textContent = "Select the link and copy it by hand.";
    },
  );
}

document.addEventListener("click", handleCopy);
