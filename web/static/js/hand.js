// The hand on the board: what a mouse, a finger, a pen or the keyboard does on the canvas,
// by the tool chosen. It draws strokes and sends each once it is finished (a long one in
// segments every 250 ms), makes shapes and text, rubs out, and picks items up to drag, pinch,
// turn or move with the arrow keys; the board view (board.js) holds them and sends their
// place when they are dropped.
//
// Every point is the board's (BoardView.boardPoint maps the page's through the board's fit
// in its canvas), so a gesture means the same on any screen. A point may lie in the margin
// around the board: what is made there (a stroke, a shape, text) is kept to the board's
// edge; a press that starts in the margin draws nothing, but may take a handle reaching into
// it, or be a second finger pinching.

import {
  clamp,
  drawElement,
  drawStroke,
  HEIGHT,
  handles,
  MAX_POINTS,
  MAX_POINTS_PER_OP,
  resized,
  round1,
  touches,
  turned,
  WIDTH,
} from "./items.js";
import { t } from "./strings.js";

const SEGMENT_MS = 250; // a long stroke goes to the server in segments this often
const WHOLE_MS = 2000; // a stroke drawn for longer than this, or of more points, is long
const WHOLE_POINTS = 1000;
const MAX_OP_CHARS = 30000; // under the server's 32 KiB for one operation
const KEY_COMMIT_MS = 400; // arrow keys: the place is sent once they rest this long
const STEP = 10;
const BIG_STEP = 50;
// on screen, in CSS pixels, whatever size the board is drawn at: how near a thing a press
// touches it; how near a handle a press takes it (a target 44 px across); how near the
// board's edge a press in the margin counts as on the board
const REACH_PX = { touch: 12, pen: 6, mouse: 6 };
const HANDLE_PX = 22;
const EDGE_PX = 8;
const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
const SHAPES = new Set(["rect", "ellipse", "line", "arrow"]);
const HOLDING = new Set(["drag", "pinch", "resize", "turn"]); // gestures that hold an item
const LABEL = t(
  "Shared whiteboard: draw with a finger, pen or mouse. Tab picks each thing on it in turn; arrow keys move it (with Shift, further), plus and minus resize it, R turns it, Delete removes it, Escape lets it go.",
);

export const newId = (prefix) => `${prefix}-${crypto.randomUUID().slice(0, 18)}`;
const distance = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);
const angle = (a, b) => (Math.atan2(b[1] - a[1], b[0] - a[0]) * 180) / Math.PI;
/** A point kept to the board: what is made there must lie within it. */
const kept = ([x, y, pressure]) => [clamp(x, 0, WIDTH), clamp(y, 0, HEIGHT), pressure];

/** The hand on a board view's canvas: pointer and keyboard gestures, by `view.tool`. */
export class Hand {
  /** @param {import("./board.js").BoardView} view */
  constructor(view) {
    this.view = view;
    this.canvas = view.canvas;
    this.wholeMs = WHOLE_MS; // how long a stroke may be drawn before it goes in segments
    this.pointers = new Map(); // pointer id -> board point (maybe in the margin), while down
    this.gesture = null;
    this.drawing = null; // the stroke under the pen
    this.keyHeld = null; // the item the arrow keys moved, not yet sent
    this.escaped = false;
    this.listen();
  }

  listen() {
    const canvas = this.canvas;
    canvas.tabIndex = 0;
    canvas.setAttribute("role", "application");
    canvas.setAttribute("aria-roledescription", "whiteboard");
    canvas.setAttribute("aria-label", LABEL);
    canvas.addEventListener("pointerdown", (event) => this.down(event));
    canvas.addEventListener("pointermove", (event) => this.move(event));
    canvas.addEventListener("pointerup", (event) => this.up(event, true));
    canvas.addEventListener("pointercancel", (event) => this.up(event, false));
    canvas.addEventListener("keydown", (event) => this.key(event));
    canvas.addEventListener("focus", () => {
      this.escaped = false;
    });
    canvas.addEventListener("blur", () => this.commitKeys());
  }

  /** Board coordinates of a pointer event, through the board's fit in the canvas: off the
   * board (below 0, past WIDTH or HEIGHT) in the margin around it. */
  point(event) {
    const [x, y] = this.view.boardPoint(event.clientX, event.clientY);
    const pressure = event.pressure > 0 ? Math.round(event.pressure * 100) / 100 : 0.5;
    return [round1(x), round1(y), pressure];
  }

  /** `px` CSS pixels, in board units (the board may be drawn at any size). */
  units(px) {
    return px * this.view.fit.unit;
  }

  /** Whether board point `p` is on the board, or in the margin within a few pixels of it. */
  onBoard([x, y]) {
    const edge = this.units(EDGE_PX);
    return x >= -edge && x <= WIDTH + edge && y >= -edge && y <= HEIGHT + edge;
  }

  down(event) {
    const p = this.point(event);
    this.pointers.set(event.pointerId, p);
    try {
      this.canvas.setPointerCapture(event.pointerId);
    } catch {
      // a pointer already gone: nothing to follow
    }
    const g = this.gesture;
    if (g) {
      if (g.type === "drag" && this.pointers.size === 2) this.startPinch(g);
      return; // a third finger, or a second while drawing, changes nothing
    }
    if (event.button > 0) return;
    this.canvas.focus({ preventScroll: true });
    const pointer = event.pointerId;
    const least = event.pointerType === "touch" ? 24 : 10; // board units, as on a full board
    const reach = Math.max(least, this.units(REACH_PX[event.pointerType] ?? 6));
    const tool = this.view.tool;
    const q = kept(p);
    if (tool === "select") this.pick(p, pointer, reach);
    else if (!this.onBoard(p))
      return; // the margin: nothing is drawn there
    else if (tool === "erase") {
      this.gesture = { type: "erase", pointer, reach, erased: new Set() };
      this.erase(p);
    } else if (tool === "text")
      this.gesture = { type: "text", pointer, from: q, client: [event.clientX, event.clientY] };
    else if (SHAPES.has(tool))
      this.gesture = { type: "shape", kind: tool, pointer, from: q, to: q };
    else this.startStroke(q, pointer);
    if (this.view.tool !== "select") this.view.select(null);
  }

  move(event) {
    if (!this.pointers.has(event.pointerId)) return;
    const p = this.point(event);
    this.pointers.set(event.pointerId, p);
    const g = this.gesture;
    if (!g || (g.pointer !== undefined && g.pointer !== event.pointerId)) return;
    if (g.type === "stroke") {
      const events = event.getCoalescedEvents?.() || [];
      this.addPoints((events.length ? events : [event]).map((e) => kept(this.point(e))));
    } else if (g.type === "drag") {
      const x = clamp(round1(g.start.x + p[0] - g.from[0]), 0, WIDTH);
      const y = clamp(round1(g.start.y + p[1] - g.from[1]), 0, HEIGHT);
      this.view.hold(g.id, { ...g.start, x, y });
    } else if (g.type === "pinch") this.pinch(g);
    else if (g.type === "resize") {
      const centre = [g.start.x, g.start.y];
      const ratio = distance(centre, p) / Math.max(distance(centre, g.from), 1);
      this.view.hold(g.id, resized(this.view.elements.get(g.id), g.start, ratio));
    } else if (g.type === "turn") {
      const centre = [g.start.x, g.start.y];
      const rotation = turned(g.start.rotation + angle(centre, p) - angle(centre, g.from));
      this.view.hold(g.id, { ...g.start, rotation });
    } else if (g.type === "erase") this.erase(p);
    else if (g.type === "shape") g.to = kept(p);
    this.view.requestRender();
  }

  up(event, done) {
    if (!this.pointers.delete(event.pointerId)) return;
    const g = this.gesture;
    if (!g) return;
    if (g.type === "pinch" ? !g.pointers.includes(event.pointerId) : g.pointer !== event.pointerId)
      return;
    this.gesture = null;
    if (g.type === "stroke") this.finishStroke();
    else if (HOLDING.has(g.type)) {
      if (done) this.view.drop(g.id);
      else this.view.letGo(g.id);
    } else if (g.type === "shape" && done) this.view.send(this.shapeOp(g));
    else if (g.type === "text" && done) this.openText(g.from, g.client);
    this.view.render();
  }

  /** The hand lets go of item `id` where it was (it was locked meanwhile). */
  cancel(id) {
    if (!HOLDING.has(this.gesture?.type) || this.gesture.id !== id) return;
    this.gesture = null;
    this.view.letGo(id);
  }

  // -- items in hand

  /** The topmost item at `p`, selected; picked up if this person may move it (by one of
   * its handles, to resize or turn it: a target 44 px across, however small the board). */
  pick(p, pointer, reach) {
    const chosen = this.view.chosen();
    if (chosen && this.view.movable(chosen)) {
      const start = this.view.placeOf(chosen);
      const at = handles(this.view.context, chosen, start, this.view.fit.unit);
      const near = Math.max(reach + 14, this.units(HANDLE_PX));
      for (const type of ["resize", "turn"]) {
        if (distance(p, type === "resize" ? at.resize : at.turn) <= near) {
          this.gesture = { type, id: chosen.id, pointer, from: p, start };
          return;
        }
      }
    }
    const hit = this.view
      .items()
      .reverse()
      .find((e) => touches(this.view.context, e, this.view.placeOf(e), p, reach));
    this.view.select(hit?.id ?? null);
    if (!hit) return;
    if (!this.view.movable(hit)) {
      this.view.say(`${this.view.labelOf(hit)} is locked in place.`);
      return;
    }
    this.gesture = { type: "drag", id: hit.id, pointer, from: p, start: this.view.placeOf(hit) };
  }

  startPinch(drag) {
    const ids = [...this.pointers.keys()];
    const [a, b] = ids.map((id) => this.pointers.get(id));
    const start = this.view.placeOf(this.view.elements.get(drag.id));
    this.gesture = { type: "pinch", id: drag.id, pointers: ids, a, b, start };
  }

  /** Two fingers: the item follows their middle, grows as they part and turns with them. */
  pinch(g) {
    const [p, q] = g.pointers.map((id) => this.pointers.get(id));
    const ratio = distance(p, q) / Math.max(distance(g.a, g.b), 1);
    const x = clamp(round1(g.start.x + (p[0] + q[0] - g.a[0] - g.b[0]) / 2), 0, WIDTH);
    const y = clamp(round1(g.start.y + (p[1] + q[1] - g.a[1] - g.b[1]) / 2), 0, HEIGHT);
    const rotation = turned(g.start.rotation + angle(p, q) - angle(g.a, g.b));
    this.view.hold(
      g.id,
      resized(this.view.elements.get(g.id), { ...g.start, x, y, rotation }, ratio),
    );
  }

  // -- strokes

  startStroke(p, pointer) {
    const data = { colour: this.view.colour, width: clamp(this.view.width, 1, 64) };
    this.drawing = {
      id: newId("s"),
      data,
      points: [],
      sent: 0,
      begun: false,
      started: performance.now(),
    };
    this.gesture = { type: "stroke", pointer };
    clearInterval(this.timer);
    this.timer = setInterval(() => this.segment(), SEGMENT_MS);
    this.addPoints([p]);
  }

  addPoints(points) {
    let fresh = [];
    for (const p of points) {
      if (this.drawing.points.length >= MAX_POINTS) {
        this.tellPoints(fresh);
        fresh = [];
        const last = this.drawing.points.at(-1);
        this.commitStroke(); // as long as a stroke may be: the line goes on as another
        this.drawing = { ...this.drawing, id: newId("s"), points: [last], sent: 0, begun: false };
      }
      this.drawing.points.push(p);
      fresh.push(p);
    }
    this.tellPoints(fresh);
  }

  tellPoints(points) {
    const d = this.drawing;
    for (let i = 0; i < points.length; i += MAX_POINTS_PER_OP) {
      const some = points.slice(i, i + MAX_POINTS_PER_OP);
      this.view.onLive?.({ kind: "points", id: d.id, points: some, ...d.data });
    }
  }

  /** Every 250 ms: a long stroke's new points go to the server. */
  segment() {
    const d = this.drawing;
    if (!d) return;
    const long = performance.now() - d.started > this.wholeMs || d.points.length > WHOLE_POINTS;
    if (d.begun || long) this.sendSegments(d);
  }

  sendSegments(d) {
    if (!d.begun) {
      const points = d.points.slice(0, MAX_POINTS_PER_OP);
      this.view.send({ op: "stroke_begin", id: d.id, ...d.data, points });
      d.begun = true;
      d.sent = points.length;
    }
    while (d.sent < d.points.length) {
      const points = d.points.slice(d.sent, d.sent + MAX_POINTS_PER_OP);
      this.view.send({ op: "stroke_points", id: d.id, points });
      d.sent += points.length;
    }
  }

  finishStroke() {
    clearInterval(this.timer);
    this.commitStroke();
    this.drawing = null;
  }

  /** The stroke to the server, finished: whole if it was not sent in segments and fits. */
  commitStroke() {
    const d = this.drawing;
    this.view.unconfirmed.set(d.id, { data: d.data, points: d.points, at: performance.now() });
    if (!d.begun) {
      const op = { op: "stroke", id: d.id, ...d.data, points: d.points };
      if (JSON.stringify(op).length <= MAX_OP_CHARS) {
        this.view.send(op);
        return;
      }
    }
    this.sendSegments(d);
    this.view.send({ op: "stroke_end", id: d.id });
  }

  /** The rubber: whatever it touches goes (what is locked stays, but for the therapist). */
  erase(p) {
    const g = this.gesture;
    const hit = [...this.view.elements.values()]
      .filter((e) => e.visible && !g.erased.has(e.id))
      .reverse()
      .find((e) => touches(this.view.context, e, this.view.placeOf(e), p, g.reach));
    if (!hit) return;
    g.erased.add(hit.id);
    if (hit.locked && !this.view.canLock)
      this.view.say(`${this.view.labelOf(hit)} is locked in place.`);
    else this.view.send({ op: "erase", target: hit.id });
  }

  // -- shapes and text

  /** The shape between where the hand went down and where it is: a tap makes one of a
   * size to see. */
  shapeOp(g) {
    let [x1, y1] = g.from;
    let [x2, y2] = g.to;
    if (Math.abs(x2 - x1) < 6 && Math.abs(y2 - y1) < 6) {
      const [w, h] = g.kind === "line" || g.kind === "arrow" ? [200, 0] : [200, 140];
      [x1, y1, x2, y2] = [x1 - w / 2, y1 - h / 2, x1 + w / 2, y1 + h / 2];
    }
    const x = (v) => clamp(round1(v), 0, WIDTH);
    const y = (v) => clamp(round1(v), 0, HEIGHT);
    g.shape ??= newId("h"); // one id, however often it is drawn before it is sent
    const shape = { op: "shape", id: g.shape, kind: g.kind, colour: this.view.colour };
    return {
      ...shape,
      x1: x(x1),
      y1: y(y1),
      x2: x(x2),
      y2: y(y2),
      width: clamp(this.view.width, 1, 64),
    };
  }

  /** A box to type in where the board was tapped: Enter (or leaving it) puts the text
   * there, Escape drops it. */
  openText(point, [clientX, clientY]) {
    const input = document.createElement("input");
    input.type = "text";
    input.maxLength = 200;
    input.className = "board-text";
    input.setAttribute("aria-label", t("Text to put on the board"));
    Object.assign(input.style, {
      position: "fixed",
      left: `${clientX}px`,
      top: `${Math.max(0, clientY - 20)}px`,
      zIndex: "20",
      fontSize: "1.25rem",
      minWidth: "10rem",
    });
    let open = true;
    const close = (keep) => {
      if (!open) return;
      open = false;
      const text = input.value;
      input.remove();
      if (keep) this.view.addText(text, point);
      this.canvas.focus({ preventScroll: true });
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") close(true);
      if (event.key === "Escape") close(false);
    });
    input.addEventListener("blur", () => close(true));
    document.body.append(input);
    input.focus();
  }

  // -- the keyboard

  key(event) {
    if (event.key === "Tab") {
      this.tab(event);
      return;
    }
    const e = this.view.chosen();
    if (event.key === "Escape") {
      if (e) event.preventDefault();
      this.view.select(null);
      this.escaped = true;
      return;
    }
    if (!e) return;
    const step = ARROWS[event.key];
    const resize = { "+": 1.1, "=": 1.1, "-": 1 / 1.1 }[event.key];
    const turn = { r: 15, R: -15 }[event.key];
    if (event.key === "Delete" || event.key === "Backspace") {
      event.preventDefault();
      this.view.deleteSelected();
      return;
    }
    if (!step && !resize && !turn) return;
    event.preventDefault();
    if (!this.view.movable(e)) {
      this.view.say(`${this.view.labelOf(e)} is locked in place.`);
      return;
    }
    const place = this.view.placeOf(e);
    const far = event.shiftKey ? BIG_STEP : STEP;
    if (step) {
      const x = clamp(round1(place.x + step[0] * far), 0, WIDTH);
      const y = clamp(round1(place.y + step[1] * far), 0, HEIGHT);
      this.view.hold(e.id, { ...place, x, y });
    } else if (resize) this.view.hold(e.id, resized(e, place, resize));
    else this.view.hold(e.id, { ...place, rotation: turned(place.rotation + turn) });
    this.keyHeld = e.id;
    clearTimeout(this.keyTimer);
    this.keyTimer = setTimeout(() => this.commitKeys(), KEY_COMMIT_MS);
  }

  /** Tab picks the next item (Shift+Tab the one before); past the last, or after Escape,
   * the keyboard leaves the board. */
  tab(event) {
    const items = this.view.items();
    if (this.escaped || !items.length) {
      this.escaped = false;
      return;
    }
    const at = items.findIndex((e) => e.id === this.view.selectedId);
    const next = event.shiftKey ? (at === -1 ? items.length - 1 : at - 1) : at + 1;
    if (next < 0 || next >= items.length) {
      this.view.select(null);
      return;
    }
    event.preventDefault();
    this.view.select(items[next].id);
  }

  commitKeys() {
    clearTimeout(this.keyTimer);
    if (this.keyHeld) this.view.drop(this.keyHeld);
    this.keyHeld = null;
  }

  /** What the hand is making, drawn over the board: the stroke under the pen, the shape
   * being dragged out. */
  preview(ctx) {
    if (this.drawing) drawStroke(ctx, this.drawing.data, this.drawing.points);
    if (this.gesture?.type !== "shape") return;
    const shape = this.shapeOp(this.gesture);
    const place = { x: (shape.x1 + shape.x2) / 2, y: (shape.y1 + shape.y2) / 2, rotation: 0 };
    Object.assign(place, { w: Math.abs(shape.x2 - shape.x1), h: Math.abs(shape.y2 - shape.y1) });
    drawElement(ctx, { kind: "shape", data: shape, place }, place, () => null);
  }

  /** Let go of everything, sending nothing. */
  reset() {
    this.gesture = null;
    this.drawing = null;
    this.keyHeld = null;
    clearInterval(this.timer);
    clearTimeout(this.keyTimer);
  }
}
