// The shared whiteboard on a canvas: follows the server's changes, and draws with mouse,
// touch or pen (pointer events), sending points as the hand moves.

const FLUSH_MS = 16;

/** A copy of the board (the server's changes applied in order) drawn on a canvas. */
export class BoardView {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {(op: object) => void} send
   */
  constructor(canvas, send) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d");
    this.send = send;
    this.seq = 0;
    /** @type {Map<string, any>} */
    this.elements = new Map();
    this.images = new Map(); // sticker name or object id -> ImageBitmap | HTMLImageElement
    this.urls = [];
    this.colour = "#1d4ed8";
    this.width = 6;
    this.drawing = null;
    this.pending = [];
    this.mode = "draw";
    this.snapshots = []; // when each snapshot arrived (ms since the epoch): for measuring
    this.listen();
  }

  handle(message) {
    if (message.type === "snapshot_part") {
      this.parts = (this.parts || []).concat(message.elements);
      return;
    }
    if (message.type === "snapshot") {
      this.seq = message.seq;
      this.elements = new Map((this.parts || []).map((e) => [e.id, e]));
      this.parts = [];
      this.snapshots.push(Date.now());
    } else if (message.type === "change") {
      if (message.seq <= this.seq) return;
      for (const change of message.changes) this.apply(change);
      this.seq = message.seq;
    } else if (message.type === "error") {
      this.onError?.(message);
      return;
    }
    this.render();
  }

  apply(change) {
    if (change.set) this.elements.set(change.set.id, change.set);
    else if (change.points) this.elements.get(change.points).points.push(...change.add);
    else if (change.finished) this.elements.get(change.finished).finished = true;
    else if (change.visible) this.elements.get(change.visible).visible = change.value;
    else if (change.offset)
      Object.assign(this.elements.get(change.offset), { dx: change.dx, dy: change.dy });
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

  render() {
    const ctx = this.context;
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    for (const e of this.elements.values()) {
      if (!e.visible) continue;
      ctx.save();
      ctx.translate(e.dx, e.dy);
      this.draw(e);
      ctx.restore();
    }
    if (this.drawing)
      this.draw({
        kind: "stroke",
        data: { colour: this.colour, width: this.width },
        points: this.drawing.points,
      });
  }

  draw(e) {
    const ctx = this.context;
    const d = e.data;
    if (e.kind === "stroke") {
      ctx.strokeStyle = d.colour;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      const pts = e.points;
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
    } else if (e.kind === "shape") {
      ctx.strokeStyle = d.colour;
      ctx.lineWidth = d.width;
      ctx.beginPath();
      if (d.kind === "ellipse") {
        ctx.ellipse(
          (d.x1 + d.x2) / 2,
          (d.y1 + d.y2) / 2,
          Math.abs(d.x2 - d.x1) / 2,
          Math.abs(d.y2 - d.y1) / 2,
          0,
          0,
          Math.PI * 2,
        );
      } else if (d.kind === "rect") {
        ctx.rect(d.x1, d.y1, d.x2 - d.x1, d.y2 - d.y1);
      } else {
        ctx.moveTo(d.x1, d.y1);
        ctx.lineTo(d.x2, d.y2);
      }
      if (d.fill) {
        ctx.fillStyle = d.fill;
        ctx.fill();
      }
      ctx.stroke();
    } else if (e.kind === "text") {
      ctx.fillStyle = d.colour;
      ctx.font = `${d.size}px system-ui, sans-serif`;
      ctx.fillText(d.text, d.x, d.y);
    } else if (e.kind === "sticker") {
      const img = this.image(`sticker:${d.name}`, `/stickers/${d.name}.svg`);
      if (img.complete && img.naturalWidth)
        ctx.drawImage(img, d.x, d.y, 160 * d.scale, 160 * d.scale);
    } else if (e.kind === "picture") {
      const img = this.images.get(d.object);
      if (img?.complete && img.naturalWidth) ctx.drawImage(img, d.x, d.y, d.w, d.h);
    }
  }

  /** Board coordinates of a pointer event (the canvas is scaled by CSS). */
  point(event) {
    const box = this.canvas.getBoundingClientRect();
    const x = ((event.clientX - box.left) / box.width) * this.canvas.width;
    const y = ((event.clientY - box.top) / box.height) * this.canvas.height;
    const clamp = (v, max) => Math.max(0, Math.min(max, Math.round(v * 10) / 10));
    const pressure = event.pressure > 0 ? Math.round(event.pressure * 100) / 100 : 0.5;
    return [clamp(x, this.canvas.width), clamp(y, this.canvas.height), pressure];
  }

  listen() {
    const canvas = this.canvas;
    canvas.addEventListener("pointerdown", (event) => {
      if (this.mode === "erase") {
        const hit = this.hit(this.point(event));
        if (hit) this.send({ op: "erase", target: hit.id });
        return;
      }
      canvas.setPointerCapture(event.pointerId);
      const id = `s-${crypto.randomUUID().slice(0, 18)}`;
      const first = this.point(event);
      this.drawing = { id, points: [first] };
      this.send({
        op: "stroke_begin",
        id,
        colour: this.colour,
        width: this.width,
        points: [first],
      });
      this.timer = setInterval(() => this.flush(), FLUSH_MS);
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!this.drawing) return;
      const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
      for (const e of events) {
        const p = this.point(e);
        this.drawing.points.push(p);
        this.pending.push(p);
      }
      this.render();
    });
    const end = () => {
      if (!this.drawing) return;
      this.flush();
      clearInterval(this.timer);
      this.send({ op: "stroke_end", id: this.drawing.id });
      this.drawing = null;
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
  }

  flush() {
    if (!this.drawing || this.pending.length === 0) return;
    while (this.pending.length) {
      this.send({ op: "stroke_points", id: this.drawing.id, points: this.pending.splice(0, 200) });
    }
  }

  /** The topmost visible element under a board point, for the eraser. */
  hit([x, y]) {
    const near = (px, py, reach) => Math.abs(px - x) <= reach && Math.abs(py - y) <= reach;
    const inside = (x1, y1, x2, y2) =>
      x >= Math.min(x1, x2) - 8 &&
      x <= Math.max(x1, x2) + 8 &&
      y >= Math.min(y1, y2) - 8 &&
      y <= Math.max(y1, y2) + 8;
    const all = [...this.elements.values()].filter((e) => e.visible).reverse();
    return all.find((e) => {
      const d = e.data;
      if (e.kind === "stroke")
        return e.points.some((p) => near(p[0] + e.dx, p[1] + e.dy, d.width + 10));
      if (e.kind === "shape") return inside(d.x1 + e.dx, d.y1 + e.dy, d.x2 + e.dx, d.y2 + e.dy);
      if (e.kind === "text")
        return inside(
          d.x + e.dx,
          d.y + e.dy - d.size,
          d.x + e.dx + d.text.length * d.size * 0.6,
          d.y + e.dy,
        );
      if (e.kind === "sticker")
        return inside(
          d.x + e.dx,
          d.y + e.dy,
          d.x + e.dx + 160 * d.scale,
          d.y + e.dy + 160 * d.scale,
        );
      if (e.kind === "picture")
        return inside(d.x + e.dx, d.y + e.dy, d.x + e.dx + d.w, d.y + e.dy + d.h);
      return false;
    });
  }

  placeSticker(name) {
    const id = `k-${crypto.randomUUID().slice(0, 18)}`;
    const offset = (this.elements.size % 8) * 30;
    this.send({ op: "sticker", id, name, x: 620 + offset, y: 440 + offset, scale: 1 });
  }

  /** Forget everything (the young person's browser keeps nothing after the session). */
  wipe() {
    this.elements.clear();
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls = [];
    this.images.clear();
    this.render();
  }
}
