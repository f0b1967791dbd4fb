// The shared whiteboard on a canvas: a copy of the server's board (its changes applied in
// order), drawn; what is selected; items held where the hand put them until the server has
// their place; others' hands shown live; and what the toolbar calls. What each element looks
// like is items.js; what a mouse, finger or key does is hand.js. The server gets finished
// things only: a stroke at pen-up, an item's place when it is dropped. In between, `onLive`
// hears the hand.
//
// The canvas fills whatever space the page gives it (a tall phone, a phone on its side, a
// desktop), at the screen's own pixel density, while the board keeps one extent for everyone
// (WIDTH by HEIGHT, which the server checks every place against). The board is drawn fitted
// into the canvas: one uniform scale, centred, with a calm margin around it showing where it
// ends; every touch is mapped back through the same fit, so what one person puts down lands
// at the same board position on every other screen, whatever its shape.
//
// On a tall phone the board is fitted, not turned on its side. Turned, it would be a third
// larger, but every miniature, letter and drawing would lie on its side for the child (or for
// the therapist), and "the top of the board" would be a different edge on each screen, so
// pointing at something together would stop working. Fitted, the board is the same way up
// for everyone, and the margins it leaves above and below it are where the videos float and
// the toolbar's panels open, so neither covers it. (Where a small phone leaves too little
// room above a centred board for the videos, the CSS sets `--board-align: 1`: the board goes
// down by the tools and the videos have the whole margin over it.)

import { drawGround } from "./ground.js";
import { Hand, newId } from "./hand.js";
import {
  checkLive,
  clamp,
  drawElement,
  drawSelection,
  drawStroke,
  freeSpot,
  HEIGHT,
  isItem,
  isScaled,
  itemName,
  MAX_POINTS,
  round1,
  SCALE,
  turned,
  WIDTH,
} from "./items.js";
import { miniatureUrl } from "./library.js";
import { t } from "./strings.js";

const LIVE_MS = 3000; // a live move or stroke not heard of for this long is dropped
const PENDING_MS = 5000; // what was sent and not yet confirmed is drawn this long at most
const LIVE_STROKES = 64; // others' strokes in progress drawn at once, at most
const MAX_SIDE = 4096; // the canvas's largest side in device pixels (memory on a big screen)
const MARGIN = "#d6dde6"; // around the board: calm, and unlike any of the tray's grounds
const EDGE_SHADOW = "rgba(29, 36, 51, 0.28)";

const samePlace = (a, b) =>
  a &&
  b &&
  ["x", "y", "rotation", "scale", "w", "h"].every((k) => (a[k] ?? null) === (b[k] ?? null));

/**
 * A copy of the board drawn on a canvas, and the hand on it. What the toolbar uses:
 *
 * - `tool`: "draw" | "erase" | "select" | "text" | "rect" | "ellipse" | "line" | "arrow"
 * - `colour` ("#rrggbb"), `width` (1–64: pens and shapes), `textSize` (8–120)
 * - `place(name)`, `roll(count)`, `addText(text)`: a sticker, one or two dice, text, each at
 *   a free spot
 * - `undo()`, `redo()`, `clear()`
 * - `selected` (the selected item or null; settable) and `onSelect = (item | null) => {}`
 * - `bringToFront()`, `sendToBack()`, `deleteSelected()`, `lockSelected(locked)`
 * - `canLock`: this person may lock items and move locked ones (the therapist)
 * - `onLive = (message) => {}`: the hand as it moves, `{kind: "move", id, x, y, rotation,
 *   scale | w, h}`, `{kind: "points", id, points, colour, width}` or `{kind: "end", id}`;
 *   `showLive(message)` draws another person's, checked first (false: dropped)
 * - `onError = (error) => {}`; `imageUrl = (name) => url`, a sticker's picture; `labelOf =
 *   (item) => name`, what a screen reader calls it
 * - the board's settings, as the server last said (undefined until it has): `background`,
 *   `libraryHidden` (the library is hidden from this person: never the therapist),
 *   `canClear`; `onSettings = () => {}` is called whenever one arrives
 * - the therapist only: `setBackground(name)` ("sand" | "water" | "grass" | "plain" | null)
 *   and `setLibraryHidden(hidden)`
 */
export class BoardView {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {(op: object) => void} send
   */
  constructor(canvas, send) {
    this.canvas = canvas;
    canvas.style.touchAction = "none"; // fingers draw and drag here: the page does not pan
    this.context = canvas.getContext("2d");
    this.send = send;
    this.seq = 0;
    /** @type {Map<string, any>} the board, in stacking order (the back first) */
    this.elements = new Map();
    this.images = new Map(); // sticker name or object id -> HTMLImageElement
    this.urls = [];
    /** @type {"draw"|"erase"|"select"|"text"|"rect"|"ellipse"|"line"|"arrow"} */
    this.tool = "draw";
    this.colour = "#1d4ed8";
    this.width = 6;
    this.textSize = 28;
    /** Whether this person may lock items and move locked ones: the therapist. */
    this.canLock = canvas.closest("[data-people]")?.dataset.people === "therapist";
    /** @type {((item: any) => void) | null} */
    this.onSelect = null;
    /** @type {((message: any) => void) | null} */
    this.onLive = null;
    this.onError = null;
    /** @type {(() => void) | null} */
    this.onSettings = null;
    /** @type {{background: string | null, library_hidden: boolean, clear_allowed: boolean} | null} */
    this.settings = null; // as the server last said: null until the snapshot
    /** @type {string | null | undefined} the tray's ground: "sand", "water", "grass", "plain" */
    this.background = undefined;
    /** @type {boolean | undefined} the library is hidden from this person */
    this.libraryHidden = undefined;
    /** @type {boolean | undefined} this person may clear the board */
    this.canClear = undefined;
    if (!this.canLock) {
      // the therapist sets up the tray: the young person's toolbar shows no control for it
      this.setBackground = null;
      this.setLibraryHidden = null;
    }
    this.imageUrl = miniatureUrl; // the sand tray's library, old drawings included
    this.labelOf = itemName; // what an item is called, for a screen reader
    this.snapshots = []; // when each snapshot arrived (ms since the epoch): for measuring
    this.selectedId = null;
    this.wanted = null; // an item this page made: selected when it arrives
    this.held = new Map(); // item id -> {place, sent, at}: where the hand put it
    this.unconfirmed = new Map(); // stroke id -> {data, points, at}: sent, not yet back
    this.live = new Map(); // id -> {place} or {data, points}, with `at`: others' hands
    this.frame = 0;
    /** How the board sits in the canvas: board point (x, y) is canvas pixel (x * k + left,
     * y * k + top); `unit` is board units per CSS pixel (for sizes a finger needs). */
    this.fit = { k: 1, left: 0, top: 0, unit: 1 };
    this.fitTo(canvas.width, canvas.height);
    this.watchSize();
    this.announcer = document.createElement("p");
    this.announcer.className = "visually-hidden";
    this.announcer.setAttribute("aria-live", "polite");
    canvas.after(this.announcer);
    this.hand = new Hand(this);
  }

  /** The old name of `tool`. */
  get mode() {
    return this.tool;
  }

  set mode(tool) {
    this.tool = tool;
  }

  // -- the server's board

  handle(message) {
    if (message.type === "snapshot_part") {
      this.parts = (this.parts || []).concat(message.elements);
      return;
    }
    if (message.type === "snapshot") {
      this.seq = message.seq;
      this.takeSettings(message.settings);
      this.elements = new Map((this.parts || []).map((e) => [e.id, e]));
      this.parts = [];
      this.live.clear();
      if (!this.chosen()) this.select(null);
      this.snapshots.push(Date.now());
    } else if (message.type === "change") {
      if (message.seq <= this.seq) return;
      for (const change of message.changes) this.apply(change);
      this.seq = message.seq;
    } else if (message.type === "settings") {
      this.takeSettings(message.settings);
    } else if (message.type === "error") {
      this.held = new Map([...this.held].filter(([, h]) => !h.sent)); // refused: back in place
      this.unconfirmed.clear();
      this.onError?.(message);
    }
    this.render();
  }

  apply(change) {
    if (change.set) {
      const e = change.set;
      this.elements.set(e.id, e);
      this.live.delete(e.id);
      if (e.finished) this.unconfirmed.delete(e.id);
      if (this.wanted === e.id) {
        this.wanted = null;
        this.select(e.id);
      }
    } else if (change.points) this.elements.get(change.points).points.push(...change.add);
    else if (change.finished) {
      this.elements.get(change.finished).finished = true;
      this.unconfirmed.delete(change.finished);
    } else if (change.visible) {
      this.elements.get(change.visible).visible = change.value;
      if (!change.value && change.visible === this.selectedId) this.select(null);
    } else if (change.offset)
      Object.assign(this.elements.get(change.offset), { dx: change.dx, dy: change.dy });
    else if (change.place) {
      this.elements.get(change.place).place = change.to;
      const held = this.held.get(change.place);
      if (held?.sent && samePlace(held.place, change.to)) this.held.delete(change.place);
      this.live.delete(change.place);
    } else if (change.locked) this.locked(change.locked, change.value);
    else if (change.order) {
      const ids = [...this.elements.keys()].filter((id) => id !== change.order);
      ids.splice(change.index, 0, change.order);
      this.elements = new Map(ids.map((id) => [id, this.elements.get(id)]));
    } else if ("background" in change) this.takeSettings({ background: change.background });
    else if ("library_hidden" in change)
      this.takeSettings({ library_hidden: change.library_hidden });
  }

  // -- the board's settings

  /** Some or all of the settings, from the server: what this person sees and may do
   * follows, and the toolbar is told. */
  takeSettings(settings) {
    if (!settings) return;
    const none = { background: null, library_hidden: false, clear_allowed: false };
    const s = { ...none, ...this.settings, ...settings };
    this.settings = s;
    this.background = s.background;
    this.libraryHidden = !this.canLock && s.library_hidden; // the therapist always has it
    this.canClear = this.canLock || s.clear_allowed;
    this.onSettings?.();
  }

  /** Choose the tray's ground for everyone (the therapist). */
  setBackground(name) {
    this.send({ op: "background", name: name ?? null });
  }

  /** Hide the library from the young person (true), or show it again (the therapist). */
  setLibraryHidden(hidden) {
    this.send({ op: "library", hidden: Boolean(hidden) });
  }

  locked(id, value) {
    this.elements.get(id).locked = value;
    if (value && !this.canLock) this.hand.cancel(id);
    const e = this.chosen();
    if (e?.id === id) {
      this.say(this.describe(e));
      this.onSelect?.(this.selected);
    }
  }

  image(key, url) {
    if (this.images.has(key)) return this.images.get(key);
    const img = new Image();
    img.onload = () => this.render();
    img.src = url;
    this.images.set(key, img);
    return img;
  }

  addObject(id, blob) {
    const url = URL.createObjectURL(blob);
    this.urls.push(url);
    this.images.delete(id);
    this.image(id, url);
  }

  imageOf(e) {
    if (e.kind === "sticker")
      return this.image(`sticker:${e.data.name}`, this.imageUrl(e.data.name));
    return this.images.get(e.data.object);
  }

  // -- the canvas's size, and the board fitted into it

  /** Follow the canvas's size on screen (a resize, a phone turned, a zoom): its pixels are
   * the screen's own, so lines stay crisp. */
  watchSize() {
    if (typeof ResizeObserver !== "function") return;
    const observer = new ResizeObserver(([entry]) => {
      const ratio = window.devicePixelRatio || 1;
      this.resize(entry.contentRect.width * ratio, entry.contentRect.height * ratio);
    });
    try {
      observer.observe(this.canvas, { box: "device-pixel-content-box" }); // a new density too
    } catch {
      observer.observe(this.canvas); // where that box is not known: a new size
    }
  }

  /** The canvas is `w` by `h` device pixels on screen now: as many in its bitmap (no more
   * than MAX_SIDE a side), the board fitted again, and drawn at once (a bitmap resized is
   * blank). Nothing is done while it is hidden (no size). */
  resize(w, h) {
    if (!(w >= 1 && h >= 1)) return;
    const shrink = Math.min(1, MAX_SIDE / Math.max(w, h));
    const width = Math.max(1, Math.round(w * shrink));
    const height = Math.max(1, Math.round(h * shrink));
    const said = getComputedStyle(this.canvas).getPropertyValue("--board-align");
    const align = Number.isFinite(Number.parseFloat(said)) ? Number.parseFloat(said) : 0.5;
    if (width === this.canvas.width && height === this.canvas.height && align === this.fit.align)
      return;
    this.canvas.width = width;
    this.canvas.height = height;
    this.fitTo(width, height, align);
    this.render();
  }

  /** Fit the board into a canvas `width` by `height` pixels: as large as it fits, centred
   * across; up and down at `align` (0 the top, 0.5 the middle, 1 the bottom) of the room
   * left. */
  fitTo(width, height, align = 0.5) {
    const k = Math.min(width / WIDTH, height / HEIGHT);
    const left = Math.round((width - WIDTH * k) / 2);
    const top = Math.round((height - HEIGHT * k) * clamp(align, 0, 1));
    const css = this.canvas.clientWidth;
    const unit = css > 0 ? width / css / k : 1 / k;
    this.fit = { k, left, top, unit, align };
  }

  /** The board point under a point of the page (CSS pixels from the viewport's corner, as a
   * pointer event has them); off the board when it is in the margin. */
  boardPoint(clientX, clientY) {
    const box = this.canvas.getBoundingClientRect();
    const { k, left, top } = this.fit;
    const px = ((clientX - box.left) / (box.width || 1)) * this.canvas.width;
    const py = ((clientY - box.top) / (box.height || 1)) * this.canvas.height;
    return [(px - left) / k, (py - top) / k];
  }

  /** Where board point (x, y) is on the page, in CSS pixels from the viewport's corner. */
  clientPoint(x, y) {
    const box = this.canvas.getBoundingClientRect();
    const [px, py] = this.canvasPoint(x, y);
    return [
      box.left + (px / this.canvas.width) * box.width,
      box.top + (py / this.canvas.height) * box.height,
    ];
  }

  /** Where board point (x, y) is in the canvas's bitmap, in its pixels. */
  canvasPoint(x, y) {
    const { k, left, top } = this.fit;
    return [left + x * k, top + y * k];
  }

  /** The board's whole extent on the page: {left, top, width, height} in CSS pixels. */
  boardBox() {
    const [left, top] = this.clientPoint(0, 0);
    const [right, bottom] = this.clientPoint(WIDTH, HEIGHT);
    return { left, top, width: right - left, height: bottom - top };
  }

  // -- drawing it

  /** Where an item is drawn now: where this hand holds it, else where another's does. */
  placeOf(e) {
    return this.held.get(e.id)?.place ?? this.live.get(e.id)?.place ?? e.place;
  }

  requestRender() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  render() {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.expire();
    const ctx = this.context;
    const { k, left, top, unit } = this.fit;
    this.drawMargin();
    ctx.save();
    ctx.setTransform(k, 0, 0, k, left, top); // from here on, board coordinates
    ctx.beginPath();
    ctx.rect(0, 0, WIDTH, HEIGHT);
    ctx.clip(); // what spills past the board's edge is not drawn: everyone sees the same
    drawGround(ctx, this.background, WIDTH, HEIGHT);
    const image = (e) => this.imageOf(e);
    for (const e of this.elements.values())
      if (e.visible) drawElement(ctx, e, this.placeOf(e), image);
    for (const [id, s] of this.unconfirmed)
      if (!this.elements.get(id)?.finished) drawStroke(ctx, s.data, s.points);
    for (const s of this.live.values()) if (s.points) drawStroke(ctx, s.data, s.points);
    this.hand.preview(ctx);
    ctx.restore();
    const e = this.chosen();
    if (e) {
      // the selection's handles may reach into the margin, where a finger can still take them
      ctx.save();
      ctx.setTransform(k, 0, 0, k, left, top);
      drawSelection(ctx, e, this.placeOf(e), this.movable(e), unit);
      ctx.restore();
    }
  }

  /** The canvas around the board: a calm margin, and the board's edge lifted off it by a
   * soft shadow, so it is plain where the board ends. */
  drawMargin() {
    const ctx = this.context;
    const { width, height } = this.canvas;
    const { k, left, top } = this.fit;
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = MARGIN;
    ctx.fillRect(0, 0, width, height);
    ctx.shadowColor = EDGE_SHADOW;
    ctx.shadowBlur = 12 * this.fit.unit * k; // 12 CSS pixels, in the canvas's own
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(left, top, WIDTH * k, HEIGHT * k);
    ctx.restore();
  }

  /** Drop others' hands not heard of lately, and what this page sent long ago. */
  expire() {
    const now = performance.now();
    for (const [id, s] of this.live) if (now - s.at > LIVE_MS) this.live.delete(id);
    for (const [id, s] of this.unconfirmed)
      if (now - s.at > PENDING_MS) this.unconfirmed.delete(id);
    for (const [id, h] of this.held) if (h.sent && now - h.at > PENDING_MS) this.held.delete(id);
    clearTimeout(this.expiring);
    if (this.live.size || this.unconfirmed.size || [...this.held.values()].some((h) => h.sent))
      this.expiring = setTimeout(() => this.render(), LIVE_MS);
  }

  // -- selection

  /** The selected item (with its name as `label`), or null. */
  get selected() {
    const e = this.chosen();
    return e ? { ...e, label: this.labelOf(e) } : null;
  }

  /** Select an item (or its id), or nothing (null). */
  set selected(item) {
    this.select(typeof item === "string" ? item : (item?.id ?? null));
  }

  select(id) {
    if (id === this.selectedId) return;
    this.hand.commitKeys();
    this.selectedId = id;
    const e = this.chosen();
    this.say(e ? this.describe(e) : t("Nothing selected."));
    this.onSelect?.(this.selected);
    this.requestRender();
  }

  /** The selected item as the board holds it, or null. */
  chosen() {
    const e = this.elements.get(this.selectedId);
    return e?.visible && isItem(e) ? e : null;
  }

  describe(e) {
    const name = this.labelOf(e);
    if (!this.movable(e)) return `${name}, selected: locked in place.`;
    return `${name}, selected: arrow keys move it, Delete removes it.`;
  }

  say(text) {
    this.announcer.textContent = text;
  }

  movable(e) {
    return !e.locked || this.canLock;
  }

  /** The items shown, back to front. */
  items() {
    return [...this.elements.values()].filter((e) => e.visible && isItem(e));
  }

  // -- what the toolbar calls

  /** Put sticker `name` on the board at a free spot (the server knows the names). */
  place(name) {
    const [x, y] = this.freeSpot(160, 160);
    this.wanted = newId("k");
    this.send({
      op: "sticker",
      id: this.wanted,
      name,
      x: round1(x - 80),
      y: round1(y - 80),
      scale: 1,
    });
  }

  /** The old name of `place`. */
  placeSticker(name) {
    this.place(name);
  }

  /** Roll one or two dice: the server rolls them, so everyone sees the same. */
  roll(count = 1) {
    const n = count === 2 ? 2 : 1;
    const [x, y] = this.freeSpot(n * 120 - 20, 100);
    this.wanted = newId("d");
    this.send({ op: "roll", id: this.wanted, count: n, x: round1(x), y: round1(y) });
  }

  /** Put `text` on the board centred on `point` (board coordinates), or at a free spot. */
  addText(text, point = null) {
    const words = text.trim().slice(0, 200);
    if (!words) return;
    const size = clamp(this.textSize, 8, 120);
    const [px, py] = point ?? this.freeSpot(0.6 * size * words.length, size * 1.2);
    const x = clamp(round1(px - 0.3 * size * words.length), 0, WIDTH);
    const y = clamp(round1(py + 0.35 * size), 0, HEIGHT);
    this.send({ op: "text", id: newId("t"), x, y, text: words, colour: this.colour, size });
  }

  undo() {
    this.send({ op: "undo" });
  }

  redo() {
    this.send({ op: "redo" });
  }

  clear() {
    this.send({ op: "clear" });
  }

  bringToFront() {
    this.restack("front");
  }

  sendToBack() {
    this.restack("back");
  }

  restack(to) {
    const e = this.chosen();
    if (e && this.movable(e)) this.send({ op: "order", target: e.id, to });
  }

  deleteSelected() {
    const e = this.chosen();
    if (!e) return;
    if (!this.movable(e)) this.say(`${this.labelOf(e)} is locked in place.`);
    else this.send({ op: "erase", target: e.id });
  }

  /** Lock the selected item where it is (true) or free it (false): the therapist only. */
  lockSelected(locked = true) {
    const e = this.chosen();
    if (e && this.canLock) this.send({ op: "lock", target: e.id, locked: Boolean(locked) });
  }

  freeSpot(w, h) {
    return freeSpot(
      this.context,
      this.items().map((e) => [e, this.placeOf(e)]),
      w,
      h,
    );
  }

  // -- others' hands

  /** Draw another person's move or stroke in progress, checked as the server would check
   * it; the board itself is untouched. Returns false for a message dropped. */
  showLive(message) {
    const m = checkLive(message, this.elements);
    if (!m) return false;
    const at = performance.now();
    if (m.kind === "end") this.live.delete(m.id);
    else if (m.kind === "move") this.live.set(m.id, { place: m.place, at });
    else {
      const now = this.live.get(m.id);
      const before = this.elements.get(m.id)?.points.length ?? 0;
      if (!now && this.live.size >= LIVE_STROKES) return false;
      const points = (now?.points ?? []).concat(m.points);
      if (now?.place || before + points.length > MAX_POINTS) return false;
      this.live.set(m.id, { data: { colour: m.colour, width: m.width }, points, at });
    }
    this.requestRender();
    return true;
  }

  letGo(id) {
    this.held.delete(id);
    this.onLive?.({ kind: "end", id });
    this.requestRender();
  }

  /** The item drawn at `place` here, and the others told (live), until it is dropped. */
  hold(id, place) {
    this.held.set(id, { place, sent: false, at: performance.now() });
    const e = this.elements.get(id);
    const size = isScaled(e) ? { scale: place.scale } : { w: place.w, h: place.h };
    this.onLive?.({ kind: "move", id, x: place.x, y: place.y, rotation: place.rotation, ...size });
    this.requestRender();
  }

  /** The item's place, final: to the server, and drawn there until it comes back. */
  drop(id) {
    const held = this.held.get(id);
    const e = this.elements.get(id);
    if (!held || held.sent || !e) return;
    if (samePlace(held.place, e.place)) {
      this.held.delete(id);
      return;
    }
    // within the operation's bounds whatever the place was (a step of an old board may
    // have left an item's centre off the board)
    const { x, y, rotation, scale, w, h } = held.place;
    const size = isScaled(e)
      ? { scale: clamp(scale, ...SCALE) }
      : { w: clamp(w, 0, WIDTH), h: clamp(h, 0, HEIGHT) };
    const at = { x: clamp(x, 0, WIDTH), y: clamp(y, 0, HEIGHT), rotation: turned(rotation) };
    this.send({ op: "transform", target: id, ...at, ...size });
    Object.assign(held, { place: { ...held.place, ...at, ...size }, sent: true });
    held.at = performance.now();
  }

  /** Forget everything (the young person's browser keeps nothing after the session). */
  wipe() {
    this.seq = 0;
    this.elements.clear();
    this.live.clear();
    this.held.clear();
    this.unconfirmed.clear();
    this.hand.reset();
    this.select(null);
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls = [];
    this.images.clear();
    this.render();
  }
}
