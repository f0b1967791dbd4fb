// The board's toolbar: pens, colours, sizes, undo and redo, clearing, stickers and sharing
// a picture, each calling the board view.

/** Wire the toolbar: colours, sizes, undo, redo, clear, stickers and sharing a picture. */
export function tools(root, view, link) {
  for (const button of root.querySelectorAll("[data-colour]")) {
    button.addEventListener("click", () => {
      view.colour = button.dataset.colour;
      for (const b of root.querySelectorAll("[data-colour]"))
        b.setAttribute("aria-pressed", String(b === button));
    });
  }
  for (const button of root.querySelectorAll("[data-size]")) {
    button.addEventListener("click", () => {
      view.width = Number(button.dataset.size);
      for (const b of root.querySelectorAll("[data-size]"))
        b.setAttribute("aria-pressed", String(b === button));
    });
  }
  for (const button of root.querySelectorAll("[data-mode]")) {
    button.addEventListener("click", () => {
      view.mode = button.dataset.mode;
      for (const b of root.querySelectorAll("[data-mode]"))
        b.setAttribute("aria-pressed", String(b === button));
    });
  }
  root.querySelector("[data-bigger]")?.addEventListener("click", (event) => {
    const on = document.body.classList.toggle("board-focus");
    event.currentTarget.setAttribute("aria-pressed", String(on));
  });
  root.querySelector("[data-undo]")?.addEventListener("click", () => view.send({ op: "undo" }));
  root.querySelector("[data-redo]")?.addEventListener("click", () => view.send({ op: "redo" }));
  root.querySelector("[data-clear]")?.addEventListener("click", () => view.send({ op: "clear" }));
  for (const button of root.querySelectorAll("[data-sticker]")) {
    button.addEventListener("click", () => view.placeSticker(button.dataset.sticker));
  }
  root.querySelector("[data-snap]")?.addEventListener("click", () => {
    const video = document.getElementById("self-video");
    if (!video?.videoWidth) return;
    const still = document.createElement("canvas");
    still.width = video.videoWidth;
    still.height = video.videoHeight;
    still.getContext("2d").drawImage(video, 0, 0);
    still.toBlob((blob) => blob && link.share(blob), "image/jpeg", 0.9);
  });
  const file = root.querySelector("[data-share]");
  file?.addEventListener("change", () => {
    if (file.files?.[0]) link.share(file.files[0]);
    file.value = "";
  });
}
