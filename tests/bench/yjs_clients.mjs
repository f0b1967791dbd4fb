// The whiteboard stroke benchmark's Yjs side (see bench_strokes.py): N rooms on one Yjs
// WebSocket sync server, each with a drawer and a receiver (two Y.Docs, two y-websocket
// providers). The drawer makes one Yjs update per board operation, one every 16 ms, with the
// same strokes as the Playroom side: a stroke is a Y.Map in the Y.Array "strokes" (colour,
// width, a Y.Array of points, finished); stroke_begin pushes it, stroke_points pushes a point,
// stroke_end sets finished. The receiver times each update as it is applied. Both are in this
// process, on one clock (performance.now()). The drawing starts at START (milliseconds since
// the epoch, so that several of these processes start together) and lasts SECONDS; then one
// line of JSON with the results.
//
// node yjs_clients.mjs PEERS_DIR URL FIRST_ROOM ROOMS START SECONDS POINTS_PER_STROKE

import { createRequire } from "node:module";
import path from "node:path";
import { performance } from "node:perf_hooks";

const [peers, url, firstArg, roomsArg, startArg, secondsArg, pointsArg] = process.argv.slice(2);
const require = createRequire(path.join(peers, "package.json"));
const Y = require("yjs");
const { WebsocketProvider } = require("y-websocket");
const WebSocket = require("ws");

const FIRST = Number(firstArg);
const ROOMS = Number(roomsArg);
const START = Number(startArg) - performance.timeOrigin; // on performance.now()'s clock
const SECONDS = Number(secondsArg);
const POINTS = Number(pointsArg);
const EVERY = 16;
const tag = `${process.ppid}-${START.toFixed(0)}`; // fresh documents on every run
process.setMaxListeners(0); // every provider listens for the process's exit

function provider(name, doc) {
  return new WebsocketProvider(url, name, doc, {
    WebSocketPolyfill: WebSocket,
    disableBc: true,
  });
}

function synced(p) {
  return p.synced ? Promise.resolve() : new Promise((resolve) => p.once("sync", resolve));
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

async function room(i, ready, go) {
  const name = `bench-${tag}-${i}`;
  const drawerDoc = new Y.Doc();
  const receiverDoc = new Y.Doc();
  const drawer = provider(name, drawerDoc);
  const receiver = provider(name, receiverDoc);
  await Promise.all([synced(drawer), synced(receiver)]);
  const sent = [];
  const got = [];
  receiverDoc.on("update", (_update, origin) => {
    if (origin === receiver) got.push(performance.now());
  });
  const strokes = drawerDoc.getArray("strokes");
  ready();
  const { startAt, stopAt } = await go;
  await sleep(startAt - performance.now() + Math.random() * EVERY); // rooms out of step
  const first = performance.now();
  let current = null;
  // the last stroke is finished after the time is up, as on the Playroom side
  for (let k = 0; performance.now() < stopAt || k % (POINTS + 1) !== 0; k++) {
    const i = k % (POINTS + 1); // stroke_begin, POINTS - 1 stroke_points, stroke_end
    const s = Math.floor(k / (POINTS + 1));
    sent.push(performance.now());
    if (i === 0) {
      current = new Y.Map();
      const points = new Y.Array();
      points.push([[10, 10 + s, 0.5]]);
      current.set("id", `bench-${s}`);
      current.set("colour", "#204080");
      current.set("width", 5);
      current.set("points", points);
      current.set("finished", false);
      strokes.push([current]); // one transaction: the map arrives whole
    } else if (i < POINTS) {
      current.get("points").push([[10 + i, 10 + s, 0.5]]);
    } else {
      current.set("finished", true);
    }
    await sleep(first + (k + 1) * EVERY - performance.now()); // on the beat, not after it
  }
  const deadline = performance.now() + 10000;
  while (got.length < sent.length && performance.now() < deadline) await sleep(20);
  const count = (doc) =>
    doc
      .getArray("strokes")
      .toArray()
      .reduce((n, m) => n + m.get("points").length, 0);
  const converged = count(receiverDoc) === count(drawerDoc);
  drawer.destroy();
  receiver.destroy();
  return {
    latencies: got.map((t, j) => t - sent[j]),
    sent: sent.length,
    received: got.length,
    converged,
    maxSendLagMs: Math.max(0, ...sent.map((t, j) => t - (first + j * EVERY))),
  };
}

async function main() {
  let go;
  const started = new Promise((resolve) => (go = resolve));
  const readies = [];
  const rooms = [];
  for (let i = FIRST; i < FIRST + ROOMS; i++) {
    readies.push(new Promise((ready) => rooms.push(room(i, ready, started))));
  }
  await Promise.all(readies); // every room connected and synced
  const startAt = START;
  const stopAt = startAt + SECONDS * 1000;
  const late = Math.max(0, performance.now() - startAt); // the rooms took longer to sync
  go({ startAt, stopAt });
  await sleep(startAt - performance.now());
  const before = process.cpuUsage();
  await sleep(stopAt - performance.now());
  const used = process.cpuUsage(before);
  const results = await Promise.all(rooms);
  const summary = JSON.stringify({
    event: "results",
    latencies: results.flatMap((r) => r.latencies),
    sent: results.reduce((n, r) => n + r.sent, 0),
    received: results.reduce((n, r) => n + r.received, 0),
    converged: results.every((r) => r.converged),
    max_send_lag_ms: Math.max(0, ...results.map((r) => r.maxSendLagMs)),
    client_cpu_s: (used.user + used.system) / 1e6,
    late_ms: late,
  });
  // exit once written: the providers' timers would keep the process alive, and an exit
  // before the pipe has taken a long line cuts it short
  process.stdout.write(summary + "\n", () => process.exit(0));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
