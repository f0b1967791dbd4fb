// What is on the board, element by element: its size and place, how it is drawn on a canvas,
// whether a point touches it, what it is called for a screen reader, where a new one fits,
// and whether a live message about it is one the server would take. No state of its own.

import { t } from "./strings.js";

export const WIDTH = 1600;
export const HEIGHT = 1200;
export const MAX_POINTS = 5000; // per stroke
export const MAX_POINTS_PER_OP = 200; // per segment of a stroke
const STICKER = 160; // a sticker's side at scale 1
const DIE = 100; // a die's side at scale 1
const DIE_GAP = 20;
const SPOT_STEP = 60;
const SPOT_OBSTACLES = 300;
export const SCALE = [0.25, 4];
export const ROTATION = 360;
const ID = /^[A-Za-z0-9_-]{1,40}$/;
const COLOUR = /^#[0-9a-fA-F]{6}$/;
const SCALED = new Set(["sticker", "text", "dice"]);
const PIPS = {
  1: [[0, 0]],
  2: [
    [-1, -1],
    [1, 1],
  ],
  3: [
    [-1, -1],
    [0, 0],
    [1, 1],
  ],
  4: [
    [-1, -1],
    [1, -1],
    [-1, 1],
    [1, 1],
  ],
  5: [
    [-1, -1],
    [1, -1],
    [0, 0],
    [-1, 1],
    [1, 1],
  ],
  6: [
    [-1, -1],
    [1, -1],
    [-1, 0],
    [1, 0],
    [-1, 1],
    [1, 1],
  ],
};

export const clamp = (value, low, high) => Math.max(low, Math.min(high, value));
export const round1 = (value) => Math.round(value * 10) / 10;

/** Whether an element is an item (it has a place: everything but a stroke). */
export const isItem = (e) => Boolean(e?.place);

/** Whether an item is sized by `scale` (a sticker, text or dice) rather than `w` and `h`. */
export const isScaled = (e) => SCALED.has(e.kind);

/**
 * An item's width and height as drawn at `place`, before it is turned.
 * @param {CanvasRenderingContext2D} ctx to measure text
 */
export function itemSize(ctx, e, place) {
  const scale = place.scale ?? 1;
  if (e.kind === "sticker") return { w: STICKER * scale, h: STICKER * scale };
  if (e.kind === "dice") {
    const count = e.data.values.length;
    return { w: (count * DIE + (count - 1) * DIE_GAP) * scale, h: DIE * scale };
  }
  if (e.kind === "text") {
    ctx.save();
    ctx.font = font(e.data.size * scale);
    const w = ctx.measureText(e.data.text).width;
    ctx.restore();
    return { w, h: e.data.size * scale * 1.2 };
  }
  return { w: place.w, h: place.h };
}

const font = (size) => `${size}px system-ui, sans-serif`;

/** The item's place with a new size: `ratio` times its size at `place`, within bounds. */
export function resized(e, place, ratio) {
  if (isScaled(e)) return { ...place, scale: round2(clamp(place.scale * ratio, ...SCALE)) };
  const most = Math.min(WIDTH / Math.max(place.w, 1), HEIGHT / Math.max(place.h, 1));
  const r = Math.min(ratio, most);
  return { ...place, w: round1(place.w * r), h: round1(place.h * r) };
}

const round2 = (value) => Math.round(value * 100) / 100;

/** A turn in degrees, as the board keeps it: from −180 to 180. */
export function turned(degrees) {
  const d = ((((degrees + 180) % 360) + 360) % 360) - 180;
  return round1(d);
}

/** Draw one element (a stroke, or an item at `place`) on the canvas. */
export function drawElement(ctx, e, place, image) {
  if (!isItem(e)) {
    ctx.save();
    ctx.translate(e.dx, e.dy);
    drawStroke(ctx, e.data, e.points);
    ctx.restore();
    return;
  }
  const d = e.data;
  ctx.save();
  ctx.translate(place.x, place.y);
  ctx.rotate((place.rotation * Math.PI) / 180);
  const { w, h } = itemSize(ctx, e, place);
  if (e.kind === "sticker" || e.kind === "picture") {
    const img = image(e);
    if (img?.complete && img.naturalWidth) ctx.drawImage(img, -w / 2, -h / 2, w, h);
  } else if (e.kind === "text") {
    ctx.fillStyle = d.colour;
    ctx.font = font(d.size * (place.scale ?? 1));
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(d.text, 0, 0);
  } else if (e.kind === "shape") {
    drawShape(ctx, d, w, h);
  } else if (e.kind === "dice") {
    const side = h;
    d.values.forEach((value, i) => {
      drawDie(ctx, -w / 2 + i * (side + (DIE_GAP * side) / DIE) + side / 2, side, value);
    });
  }
  ctx.restore();
}

/** A stroke's points, joined, each segment as wide as its pressure says. */
export function drawStroke(ctx, d, pts) {
  ctx.strokeStyle = d.colour;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (let i = 1; i < pts.length; i++) {
    ctx.lineWidth = d.width * (0.5 + (pts[i][2] || 0.5));
    ctx.beginPath();
    ctx.moveTo(pts[i - 1][0], pts[i - 1][1]);
    ctx.lineTo(pts[i][0], pts[i][1]);
    ctx.stroke();
  }
  if (pts.length === 1) {
    ctx.fillStyle = d.colour;
    ctx.beginPath();
    ctx.arc(pts[0][0], pts[0][1], d.width / 2, 0, Math.PI * 2);
    ctx.fill();
  }
}

/** The two ends of a line or an arrow, centred on 0: it keeps the way it was drawn. */
function ends(d, w, h) {
  const sx = Math.sign(d.x2 - d.x1) || 1;
  const sy = Math.sign(d.y2 - d.y1) || 1;
  return [
    [(-w / 2) * sx, (-h / 2) * sy],
    [(w / 2) * sx, (h / 2) * sy],
  ];
}

function drawShape(ctx, d, w, h) {
  ctx.strokeStyle = d.colour;
  ctx.lineWidth = d.width;
  ctx.lineCap = "round";
  ctx.beginPath();
  if (d.kind === "ellipse") ctx.ellipse(0, 0, w / 2, h / 2, 0, 0, Math.PI * 2);
  else if (d.kind === "rect") ctx.rect(-w / 2, -h / 2, w, h);
  else {
    const [[x1, y1], [x2, y2]] = ends(d, w, h);
    ctx.moveTo(x1, y1);
    ctx.lineTo(x2, y2);
    if (d.kind === "arrow") {
      const angle = Math.atan2(y2 - y1, x2 - x1);
      const head = Math.max(16, d.width * 3);
      for (const side of [-1, 1]) {
        ctx.moveTo(x2, y2);
        ctx.lineTo(
          x2 - head * Math.cos(angle + (side * Math.PI) / 7),
          y2 - head * Math.sin(angle + (side * Math.PI) / 7),
        );
      }
    }
  }
  if (d.fill && (d.kind === "rect" || d.kind === "ellipse")) {
    ctx.fillStyle = d.fill;
    ctx.fill();
  }
  ctx.stroke();
}

function drawDie(ctx, cx, side, value) {
  const r = side * 0.15;
  ctx.fillStyle = "#ffffff";
  ctx.strokeStyle = "#111827";
  ctx.lineWidth = Math.max(2, side * 0.04);
  ctx.beginPath();
  ctx.roundRect(cx - side / 2, -side / 2, side, side, r);
  ctx.fill();
  ctx.stroke();
  ctx.fillStyle = "#111827";
  for (const [px, py] of PIPS[value] || []) {
    ctx.beginPath();
    ctx.arc(cx + px * side * 0.27, py * side * 0.27, side * 0.09, 0, Math.PI * 2);
    ctx.fill();
  }
}

/** A point in the item's own frame: centred on it, turned back. */
function local(place, [x, y]) {
  const a = (-place.rotation * Math.PI) / 180;
  const dx = x - place.x;
  const dy = y - place.y;
  return [dx * Math.cos(a) - dy * Math.sin(a), dx * Math.sin(a) + dy * Math.cos(a)];
}

const toSegment = ([px, py], [ax, ay], [bx, by]) => {
  const lx = bx - ax;
  const ly = by - ay;
  const t = clamp(((px - ax) * lx + (py - ay) * ly) / (lx * lx + ly * ly || 1), 0, 1);
  return Math.hypot(px - ax - t * lx, py - ay - t * ly);
};

/** Whether board point `p` touches element `e` (drawn at `place`), within `reach`. */
export function touches(ctx, e, place, p, reach) {
  if (!isItem(e)) {
    const q = [p[0] - e.dx, p[1] - e.dy];
    const pts = e.points;
    const near = e.data.width / 2 + reach;
    if (pts.length === 1) return Math.hypot(q[0] - pts[0][0], q[1] - pts[0][1]) <= near;
    for (let i = 1; i < pts.length; i++) if (toSegment(q, pts[i - 1], pts[i]) <= near) return true;
    return false;
  }
  const { w, h } = itemSize(ctx, e, place);
  const q = local(place, p);
  if (e.kind === "shape" && (e.data.kind === "line" || e.data.kind === "arrow")) {
    const [a, b] = ends(e.data, w, h);
    return toSegment(q, a, b) <= e.data.width / 2 + reach;
  }
  return Math.abs(q[0]) <= w / 2 + reach && Math.abs(q[1]) <= h / 2 + reach;
}

/** A handle's half-size in board units: 12, or as much as a finger needs to see it where
 * the board is drawn small (`unit`: board units per CSS pixel, see BoardView.fit). */
export const handleSize = (unit = 1) => Math.max(12, 12 * unit);

/** Where the selected item's handles are (board coordinates): resize at its lower right
 * corner, turn above its top; further out where the board is drawn small (`unit`). */
export function handles(ctx, e, place, unit = 1) {
  const { w, h } = itemSize(ctx, e, place);
  const r = handleSize(unit);
  const a = (place.rotation * Math.PI) / 180;
  const at = (x, y) => [
    place.x + x * Math.cos(a) - y * Math.sin(a),
    place.y + x * Math.sin(a) + y * Math.cos(a),
  ];
  return { resize: at(w / 2 + r, h / 2 + r), turn: at(0, -h / 2 - 4 * r) };
}

/** The selection drawn around an item: its outline, its handles, a padlock if locked; its
 * lines and handles never thinner or smaller on screen than on a full-size board (`unit`:
 * board units per CSS pixel). */
export function drawSelection(ctx, e, place, movable, unit = 1) {
  const { w, h } = itemSize(ctx, e, place);
  const r = handleSize(unit);
  const line = Math.max(4, 2 * unit);
  const gap = Math.max(8, 3 * unit);
  ctx.save();
  ctx.translate(place.x, place.y);
  ctx.rotate((place.rotation * Math.PI) / 180);
  ctx.strokeStyle = e.locked ? "#6b7280" : "#2563eb";
  ctx.lineWidth = line;
  ctx.setLineDash([3.5 * line, 2.5 * line]);
  ctx.strokeRect(-w / 2 - gap, -h / 2 - gap, w + 2 * gap, h + 2 * gap);
  ctx.setLineDash([]);
  if (movable) {
    ctx.fillStyle = "#2563eb";
    ctx.fillRect(w / 2 + r / 6, h / 2 + r / 6, (r * 5) / 3, (r * 5) / 3);
    ctx.beginPath();
    ctx.moveTo(0, -h / 2 - gap);
    ctx.lineTo(0, -h / 2 - 3 * r);
    ctx.stroke();
    ctx.beginPath();
    ctx.arc(0, -h / 2 - 4 * r, r, 0, Math.PI * 2);
    ctx.fill();
  }
  if (e.locked) {
    ctx.fillStyle = "#6b7280";
    ctx.strokeStyle = "#6b7280";
    ctx.lineWidth = 5;
    ctx.beginPath();
    ctx.arc(w / 2 - 14, -h / 2 - 30, 9, Math.PI, 0);
    ctx.stroke();
    ctx.fillRect(w / 2 - 28, -h / 2 - 30, 28, 22);
  }
  ctx.restore();
}

/** What an element is called, for a screen reader. */
export function itemName(e) {
  const d = e.data;
  if (e.kind === "sticker") {
    const words = d.name.replace(/-/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  }
  if (e.kind === "text") return t("Text “{text}”", { text: d.text });
  if (e.kind === "picture") return t("Picture");
  if (e.kind === "dice")
    return d.values.length === 2
      ? t("Dice showing {a} and {b}", { a: d.values[0], b: d.values[1] })
      : t("Dice showing {a}", { a: d.values.join(" ") });
  if (e.kind === "shape")
    return { rect: t("Rectangle"), ellipse: t("Ellipse"), line: t("Line"), arrow: t("Arrow") }[
      d.kind
    ];
  return t("Drawing");
}

/**
 * The centre of a free spot for an item `w` by `h`: the nearest to the board's centre where it
 * covers none of the topmost items; the centre itself when the board has no room.
 * @param {CanvasRenderingContext2D} ctx
 * @param {Array<[any, any]>} items each item with its place, back to front
 */
export function freeSpot(ctx, items, w, h) {
  const boxes = items.slice(-SPOT_OBSTACLES).map(([e, place]) => {
    const size = itemSize(ctx, e, place);
    const a = (place.rotation * Math.PI) / 180;
    const c = Math.abs(Math.cos(a));
    const s = Math.abs(Math.sin(a));
    return [place.x, place.y, (size.w * c + size.h * s) / 2, (size.w * s + size.h * c) / 2];
  });
  const hw = w / 2;
  const hh = h / 2;
  const spots = [];
  for (let y = hh + 20; y <= HEIGHT - hh - 20; y += SPOT_STEP)
    for (let x = hw + 20; x <= WIDTH - hw - 20; x += SPOT_STEP) spots.push([x, y]);
  const distance = ([x, y]) => Math.hypot(x - WIDTH / 2, y - HEIGHT / 2);
  spots.sort((a, b) => distance(a) - distance(b));
  const free = spots.find(([x, y]) =>
    boxes.every(([bx, by, bw, bh]) => Math.abs(x - bx) >= hw + bw || Math.abs(y - by) >= hh + bh),
  );
  return free || [WIDTH / 2, HEIGHT / 2];
}

const finite = (v) => typeof v === "number" && Number.isFinite(v);
const within = (v, low, high) => finite(v) && v >= low && v <= high;
const only = (message, keys) => Object.keys(message).every((k) => keys.includes(k));

/**
 * A live message checked as the server would check the operation it stands for: a place
 * within the board and sizes within bounds, an item that exists, is shown and is not locked,
 * points on the board in bounded numbers. Returns null for what must be dropped.
 * @param {any} message
 * @param {Map<string, any>} elements the committed board
 */
export function checkLive(message, elements) {
  if (!message || typeof message !== "object" || typeof message.id !== "string") return null;
  if (!ID.test(message.id)) return null;
  const e = elements.get(message.id);
  if (message.kind === "move") {
    if (!only(message, ["kind", "id", "x", "y", "rotation", "scale", "w", "h"])) return null;
    if (!isItem(e) || !e.visible || e.locked) return null;
    const { x, y, rotation = 0 } = message;
    if (!within(x, 0, WIDTH) || !within(y, 0, HEIGHT) || !within(rotation, -ROTATION, ROTATION))
      return null;
    const place = { x, y, rotation, scale: null, w: null, h: null };
    if (isScaled(e)) {
      if (!within(message.scale, ...SCALE) || message.w != null || message.h != null) return null;
      place.scale = message.scale;
    } else {
      if (!within(message.w, 0, WIDTH) || !within(message.h, 0, HEIGHT) || message.scale != null)
        return null;
      place.w = message.w;
      place.h = message.h;
    }
    return { kind: "move", id: message.id, place };
  }
  if (message.kind === "points") {
    if (!only(message, ["kind", "id", "points", "colour", "width"])) return null;
    if (e && (isItem(e) || e.finished)) return null;
    if (typeof message.colour !== "string" || !COLOUR.test(message.colour)) return null;
    if (!within(message.width, 1, 64)) return null;
    const pts = message.points;
    if (!Array.isArray(pts) || pts.length < 1 || pts.length > MAX_POINTS_PER_OP) return null;
    const good = (p) =>
      Array.isArray(p) &&
      p.length === 3 &&
      within(p[0], 0, WIDTH) &&
      within(p[1], 0, HEIGHT) &&
      within(p[2], 0, 1);
    if (!pts.every(good)) return null;
    return {
      kind: "points",
      id: message.id,
      points: pts,
      colour: message.colour,
      width: message.width,
    };
  }
  if (message.kind === "end" && only(message, ["kind", "id"]))
    return { kind: "end", id: message.id };
  return null;
}
