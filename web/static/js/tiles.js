// Video tiles floating over the board (the young person's room): each can be dragged, sent to
// the next corner with a button (the same move without dragging, WCAG 2.5.7), or folded down
// to its name with another, so a small screen keeps its board.

import { t } from "./strings.js";

const CORNERS = ["top-right", "bottom-right", "bottom-left", "top-left"];
const MARGIN = 8; // px between a tile and the edge of the board
const ICONS = {
  move: '<path d="M12 3v18M3 12h18M9 6l3-3 3 3M9 18l3 3 3-3M6 9l-3 3 3 3M18 9l3 3-3 3"/>',
  fold: '<path d="M5 12h14"/><path class="when-folded" d="M12 5v14"/>', // a plus once folded
};

/** Make the tiles of ``stage`` float over the board: those there now, and each one
 * ``showStream`` adds later (it calls ``floatTile``). */
export function floatTiles(stage) {
  stage.dataset.floating = "";
  for (const tile of stage.querySelectorAll(".tile")) floatTile(stage, tile);
  // a turned phone or a folded tile: moved tiles stay inside the board
  new ResizeObserver(() => {
    for (const tile of stage.querySelectorAll(".tile.moved")) keepInside(stage, tile);
  }).observe(stage);
}

/** Give one tile its buttons and let it be dragged (once; later calls do nothing). */
export function floatTile(stage, tile) {
  if (!("floating" in stage.dataset) || tile.querySelector(".tile-buttons")) return;
  const name = tile.classList.contains("self") ? "your video" : `${nameOf(tile)}'s video`;
  const buttons = document.createElement("div");
  buttons.className = "tile-buttons";
  const move = iconButton("move", t("Move {name}", { name }));
  move.addEventListener("click", () => toNextCorner(stage, tile));
  const fold = iconButton("fold", t("Hide {name}", { name }));
  fold.setAttribute("aria-pressed", "false");
  fold.addEventListener("click", () => {
    const folded = tile.classList.toggle("folded");
    fold.setAttribute("aria-pressed", String(folded));
    keepInside(stage, tile);
  });
  buttons.append(move, fold);
  tile.append(buttons);
  draggable(stage, tile);
}

function nameOf(tile) {
  const caption = tile.querySelector("figcaption");
  return caption?.firstChild?.textContent.trim() || t("Someone");
}

function iconButton(icon, label) {
  const button = document.createElement("button");
  button.type = "button";
  button.setAttribute("aria-label", label);
  button.innerHTML = `<svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">${ICONS[icon]}</svg>`;
  return button;
}

/** Follow a finger or the mouse from a press on the tile (not on its buttons). */
function draggable(stage, tile) {
  tile.addEventListener("pointerdown", (event) => {
    if (event.target.closest("button") || event.button > 0) return;
    event.preventDefault();
    const area = stage.getBoundingClientRect();
    const box = tile.getBoundingClientRect();
    const grip = { x: event.clientX - box.left, y: event.clientY - box.top };
    tile.setPointerCapture(event.pointerId);
    tile.classList.add("dragging");
    const follow = (e) =>
      place(stage, tile, e.clientX - area.left - grip.x, e.clientY - area.top - grip.y);
    const stop = () => {
      tile.classList.remove("dragging");
      tile.removeEventListener("pointermove", follow);
      tile.removeEventListener("pointerup", stop);
      tile.removeEventListener("pointercancel", stop);
    };
    tile.addEventListener("pointermove", follow);
    tile.addEventListener("pointerup", stop);
    tile.addEventListener("pointercancel", stop);
  });
}

/** Put the tile at (x, y) within the stage, kept wholly inside it. */
function place(stage, tile, x, y) {
  const box = tile.getBoundingClientRect(); // before it leaves the column, its own size
  tile.classList.add("moved");
  const left = Math.max(0, Math.min(stage.clientWidth - box.width, x));
  const top = Math.max(0, Math.min(stage.clientHeight - box.height, y));
  tile.style.left = `${Math.round(left)}px`;
  tile.style.top = `${Math.round(top)}px`;
}

function keepInside(stage, tile) {
  if (!tile.classList.contains("moved")) return;
  place(stage, tile, tile.offsetLeft, tile.offsetTop);
}

function toNextCorner(stage, tile) {
  const at = CORNERS.indexOf(tile.dataset.corner || "top-right");
  const corner = CORNERS[(at + 1) % CORNERS.length];
  tile.dataset.corner = corner;
  const box = tile.getBoundingClientRect();
  const right = stage.clientWidth - box.width - MARGIN;
  const bottom = stage.clientHeight - box.height - MARGIN;
  const x = corner.endsWith("left") ? MARGIN : right;
  const y = corner.startsWith("top") ? MARGIN : bottom;
  place(stage, tile, x, y);
}
