// The rooms benchmark's Yjs side (see bench_rooms.py): N rooms on one Yjs WebSocket sync
// server, each with a drawer and a receiver (two Y.Docs, two y-websocket providers). The
// drawer draws as the Playroom side does: one stroke about every second (each interval 0.75
// to 1.25 s, the first at a random moment of the first second), each stroke one Yjs update:
// a Y.Map pushed whole into the Y.Array "strokes" (id, colour, width, finished, and its 60
// points [x, y, pressure] in a Y.Array), in one transaction.
//
// Commit: from just before the drawer's update to the drawer receiving it back from the
// server, which sends every update to every connection of the document, its author's too
// (the k-th update message on the drawer's socket is its k-th stroke). Fan-out: to the
// receiver's document applying it. Both people are in this process, on one clock.
//
// Prints {"event": "ready"} once every room is connected and synced, then reads the start
// (milliseconds since the epoch) from standard input, draws for WARMUP + SECONDS (strokes of
// the warm-up are not counted) and prints one line of JSON with the results.
//
// node yjs_rooms.mjs PEERS_DIR URL FIRST_ROOM ROOMS WARMUP SECONDS POINTS_PER_STROKE

import { createRequire } from "node:module";
import path from "node:path";
import { performance } from "node:perf_hooks";
import readline from "node:readline";

const [peers, url, firstArg, roomsArg, warmupArg, secondsArg, pointsArg] = process.argv.slice(2);
const require = createRequire(path.join(peers, "package.json"));
const Y = require("yjs");
const { WebsocketProvider } = require("y-websocket");
const WebSocket = require("ws");

const FIRST = Number(firstArg);
const ROOMS = Number(roomsArg);
const WARMUP = Number(warmupArg) * 1000;
const SECONDS = Number(secondsArg) * 1000;
const POINTS = Number(pointsArg);
const EVERY = 1000;
const JITTER = 0.25;
const DRAIN = 5000;
const LAG_EVERY = 50;
const tag = `${process.pid}-${Date.now()}`; // fresh documents on every run
process.setMaxListeners(0); // every provider listens for the process's exit

// a socket that notes when each document update arrives on it (message sync, then update)
function timedSocket(onUpdate) {
  return class extends WebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        const data = new Uint8Array(event.data);
        if (data[0] === 0 && data[1] === 2) onUpdate(performance.now());
      });
    }
  };
}

function provider(name, doc, onUpdate) {
  return new WebsocketProvider(url, name, doc, {
    WebSocketPolyfill: onUpdate ? timedSocket(onUpdate) : WebSocket,
    disableBc: true,
  });
}

function synced(p) {
  return p.synced ? Promise.resolve() : new Promise((resolve) => p.once("sync", resolve));
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

function uniform(a, b) {
  return a + Math.random() * (b - a);
}

const round = (v, digits) => Math.round(v * 10 ** digits) / 10 ** digits;

function points() {
  let x = uniform(200, 1400);
  let y = uniform(200, 1000);
  const out = [];
  for (let i = 0; i < POINTS; i++) {
    x = Math.min(1600, Math.max(0, x + uniform(-15, 15)));
    y = Math.min(1200, Math.max(0, y + uniform(-15, 15)));
    out.push([round(x, 1), round(y, 1), round(uniform(0.3, 0.9), 2)]);
  }
  return out;
}

async function room(i, ready, go) {
  const name = `rooms-${tag}-${i}`;
  const sent = [];
  const echoed = [];
  const got = [];
  const sizes = [];
  const drawerDoc = new Y.Doc();
  const receiverDoc = new Y.Doc();
  const drawer = provider(name, drawerDoc, (t) => echoed.push(t));
  const receiver = provider(name, receiverDoc, null);
  await Promise.all([synced(drawer), synced(receiver)]);
  receiverDoc.on("update", (_update, origin) => {
    if (origin === receiver) got.push(performance.now());
  });
  drawerDoc.on("update", (update, origin) => {
    if (origin !== drawer) sizes.push(update.length);
  });
  const strokes = drawerDoc.getArray("strokes");
  ready();
  const { startAt, countAt, stopAt } = await go;
  let due = startAt + Math.random() * EVERY;
  let lag = 0;
  for (let k = 0; due < stopAt; k++) {
    await sleep(due - performance.now());
    const stroke = new Y.Map();
    const line = new Y.Array();
    line.push(points());
    const now = performance.now();
    lag = Math.max(lag, now - due);
    sent.push(now);
    drawerDoc.transact(() => {
      stroke.set("id", `s-${k}`);
      stroke.set("colour", "#204080");
      stroke.set("width", 6);
      stroke.set("finished", true);
      stroke.set("points", line);
      strokes.push([stroke]);
    });
    due += EVERY * uniform(1 - JITTER, 1 + JITTER);
  }
  const deadline = stopAt + DRAIN;
  while ((echoed.length < sent.length || got.length < sent.length) && performance.now() < deadline)
    await sleep(20);
  drawer.destroy();
  receiver.destroy();
  const counted = sent.map((t, j) => j).filter((j) => sent[j] >= countAt);
  return {
    commit: counted.filter((j) => j < echoed.length).map((j) => echoed[j] - sent[j]),
    fanout: counted.filter((j) => j < got.length).map((j) => got[j] - sent[j]),
    sent: counted.length,
    bytes: counted.filter((j) => j < sizes.length).reduce((n, j) => n + sizes[j], 0),
    lag,
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
  process.stdout.write(`${JSON.stringify({ event: "ready" })}\n`);
  const lines = readline.createInterface({ input: process.stdin });
  const startMs = Number(await new Promise((resolve) => lines.once("line", resolve)));
  lines.close();
  const startAt = startMs - performance.timeOrigin; // on performance.now()'s clock
  const countAt = startAt + WARMUP;
  const stopAt = countAt + SECONDS;
  go({ startAt, countAt, stopAt });
  const lags = [];
  await sleep(countAt - performance.now());
  while (performance.now() + LAG_EVERY < stopAt) {
    const due = performance.now() + LAG_EVERY;
    await sleep(LAG_EVERY);
    lags.push(performance.now() - due);
  }
  const results = await Promise.all(rooms);
  const summary = JSON.stringify({
    event: "results",
    commit_ms: results.flatMap((r) => r.commit),
    fanout_ms: results.flatMap((r) => r.fanout),
    sent: results.reduce((n, r) => n + r.sent, 0),
    committed: results.reduce((n, r) => n + r.commit.length, 0),
    received: results.reduce((n, r) => n + r.fanout.length, 0),
    op_bytes: results.reduce((n, r) => n + r.bytes, 0),
    send_lag_ms: Math.max(0, ...results.map((r) => r.lag)),
    loop_lag_ms: lags,
  });
  // exit once written: the providers' timers would keep the process alive, and an exit
  // before the pipe has taken a long line cuts it short
  process.stdout.write(`${summary}\n`, () => process.exit(0));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
