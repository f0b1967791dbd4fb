// The tray's ground, drawn under everything on the board: sand with a light grain, water
// with waves, grass with blades, or a plain tray. Drawn here from a seeded pattern, so every
// page shows the same tray, and no picture is fetched for it.

/** Each ground's base colour (what most of its pixels are); null is a white board. */
export const GROUNDS = {
  sand: "#e6cf9c",
  water: "#7fb6d9",
  grass: "#8cc46c",
  plain: "#f3eee4",
};

const drawn = new Map(); // "name:width:height" -> the ground drawn once, on its own canvas

/** Fill the board with ground `name` (one of GROUNDS, or null: white). */
export function drawGround(ctx, name, width, height) {
  if (!Object.hasOwn(GROUNDS, name ?? "")) {
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, width, height);
    return;
  }
  const key = `${name}:${width}:${height}`;
  if (!drawn.has(key)) drawn.set(key, paint(name, width, height));
  ctx.drawImage(drawn.get(key), 0, 0);
}

function paint(name, width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = GROUNDS[name];
  ctx.fillRect(0, 0, width, height);
  const random = seeded(name.length * 7919);
  if (name === "sand") grain(ctx, random, width, height);
  else if (name === "water") waves(ctx, random, width, height);
  else if (name === "grass") blades(ctx, random, width, height);
  return canvas;
}

/** Sand: specks a little lighter and darker than the sand. */
function grain(ctx, random, width, height) {
  for (let i = 0; i < (width * height) / 120; i++) {
    ctx.fillStyle = random() < 0.5 ? "rgba(120, 90, 40, 0.12)" : "rgba(255, 250, 235, 0.18)";
    ctx.fillRect(random() * width, random() * height, 1 + random() * 2, 1 + random() * 2);
  }
}

/** Water: rows of light, gentle waves. */
function waves(ctx, random, width, height) {
  ctx.strokeStyle = "rgba(235, 248, 255, 0.35)";
  ctx.lineWidth = 3;
  for (let y = 20; y < height; y += 48) {
    const shift = random() * 80;
    ctx.beginPath();
    for (let x = 0; x <= width; x += 8) {
      const wave = y + 6 * Math.sin((x + shift) / 28);
      if (x === 0) ctx.moveTo(x, wave);
      else ctx.lineTo(x, wave);
    }
    ctx.stroke();
  }
}

/** Grass: short blades, darker and lighter than the grass. */
function blades(ctx, random, width, height) {
  ctx.lineWidth = 2;
  for (let i = 0; i < (width * height) / 400; i++) {
    const x = random() * width;
    const y = random() * height;
    ctx.strokeStyle = random() < 0.5 ? "rgba(40, 100, 30, 0.2)" : "rgba(210, 240, 170, 0.2)";
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x + (random() - 0.5) * 6, y - 6 - random() * 8);
    ctx.stroke();
  }
}

/** A small deterministic generator (mulberry32): the same ground on every page. */
function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
