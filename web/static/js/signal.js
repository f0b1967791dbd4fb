// The signalling WebSocket: connect, send, and one handler per message type.

import { Live } from "./live.js";

// A network that stops passing traffic closes nothing: the page pings the server every
// PING_MS and gives a socket up once a ping has gone SILENT_MS without anything heard since
// (or once a new socket has not opened within CONNECT_MS), then comes back as after any
// drop. Silence counts from a ping actually sent, so a timer the browser slowed down (a
// hidden tab, a sleeping laptop) is never taken for a dead network.
//
// The page does not wait for TCP to say the network is back (the old socket's packets are
// retransmitted with growing gaps while it is down, so it recovers or fails seconds late):
// once a ping has gone QUIET_MS unanswered, or while a reconnection waits its turn, the page
// asks the server for /healthz every PROBE_MS, a fresh connection each time. The first answer
// (or the browser's `online` event) shows the network is back: a quiet socket is given up and
// the page resumes on a new one at once, which takes its place over on the server.
// Anything heard counts as an answer: a server whose handling of an earlier frame is slow
// says `working` meanwhile, so a socket that is only busy is kept.
const PING_MS = 900;
const QUIET_MS = 1500;
const SILENT_MS = 6000;
const CONNECT_MS = 5000;
const PROBE_MS = 100;
// a probe begun while the network was down waits on its own retransmission: it is dropped
// after PROBE_WAIT_MS, and a few run at once, so one begun just after the network returned
// is never stuck behind it (kept under the browser's 6 connections to a host)
const PROBE_WAIT_MS = 400;
const PROBES = 3;
// A probe that fails by itself (refused, or the browser knows it is offline) was answered by
// the way to the server: nothing is lost on it. Until a probe is lost again, each is held
// until answered, up to PROBE_HOLD_MS, one at a time: a server starting up after a crash
// holds it in its queue, and a probe dropped there would still be answered, for nobody, while
// a hundred pages' were the server's first work.
const PROBE_HOLD_MS = CONNECT_MS;
// how long a ping must have gone unanswered for the socket to count as stuck when the network
// shows it is back (a ping on its way on a slow link is not a stuck socket)
const STUCK_MS = 700;
// The session is over for this socket: the server says so, then closes it (with 1000,
// docs/protocol.md, "Closing"). Nothing to come back to: the close that follows is no drop.
// (The message, not the close code, decides: a socket the page closes itself is answered
// with 1000 too.)
const FINAL = new Set(["room_ended", "declined", "removed"]);
// Coming back (docs/protocol.md, "Coming back"): the first try at once, then each a random
// wait between 0 and a bound that doubles (full jitter), so that the pages of one server
// never try in step.
const RETRY_BASE_MS = 400;
const RETRY_CAP_MS = 8000;
// The server said it is restarting (`restarting`, then 1012): the first try after the time
// it gave this socket, then short tries, for as long as a restart can take. Its new process
// listens within a second, and holds a connection made early until it answers.
const RESTART_BASE_MS = 250;
const RESTART_CAP_MS = 1000;
const RESTART_HOLD_MS = 20000;
const RESTART_AFTER_MAX_MS = 5000; // the longest a page waits on the server's word
// The staff sign-in this socket was opened with has ended (a sign-out on any device, ended
// from "Where you are signed in", or the account disabled): the page goes to sign in again.
const SIGNED_OUT = 4401;

/** How long to wait before try number `attempt` (from 0) to come back after a socket died:
 * none for the first, then between 0 and a bound doubling from RETRY_BASE_MS to RETRY_CAP_MS,
 * or from RESTART_BASE_MS to RESTART_CAP_MS while the server is `restarting`.
 * @param {number} attempt @param {boolean} restarting @param {() => number} random */
export function retryDelay(attempt, restarting, random = Math.random) {
  if (attempt <= 0) return 0;
  const base = restarting ? RESTART_BASE_MS : RETRY_BASE_MS;
  const cap = restarting ? RESTART_CAP_MS : RETRY_CAP_MS;
  return random() * Math.min(cap, base * 2 ** (attempt - 1));
}

/** A connection to /ws that hands each message to the handler registered for its type, and
 * the room's live movement (`live`: the peer channels the mesh makes, with this socket for
 * whoever has none). */
export class Signalling {
  constructor() {
    /** @type {Map<string, (msg: any) => void>} */
    this.handlers = new Map();
    /** @type {Map<string, Set<(msg: any) => void>>} */
    this.listeners = new Map(); // the page's other parts following the same messages
    this.live = new Live(this);
    this.ws = null;
    this.resumeToken = null; // kept in memory only
    this.attempt = 0;
    this.closing = false;
    this.heard = 0; // when the server was last heard (ms)
    this.asked = 0; // when the oldest ping not yet answered was sent (ms)
    this.pings = 0;
    this.watch = null;
    this.retry = null; // the next reconnection, while one is waiting
    this.quiet = null; // the check that a ping was answered in time
    this.probing = null; // the probe of the network, while the socket is quiet or gone
    this.probesOut = 0;
    this.reconnects = 0; // how many reconnections the network's return started (for tests)
    this.restartingUntil = 0; // while the server is known to be restarting (ms)
    this.restartAfter = 0; // when it said to come back (ms after the close)
    this.restarts = 0; // how many times it said so (for tests)
    this.probes = 0; // how many times the page asked /healthz (for tests)
    this.holdProbes = false; // a probe failed by itself: the next are held until answered
    addEventListener("online", () => this.networkBack());
  }

  /** Open the socket; resolves once it is open. */
  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    this.ws = ws;
    this.connectingSince = Date.now();
    ws.addEventListener("message", (event) => {
      // a socket given up, or taken over by a newer one, speaks no more for this page
      if (ws !== this.ws) return;
      this.heard = Date.now();
      if (this.heard >= this.asked) this.stopProbing();
      this.handleFrame(event.data);
    });
    ws.addEventListener("close", (event) => this.handleClose(ws, event.code));
    const opening = setTimeout(() => this.giveUp(ws), CONNECT_MS);
    return new Promise((resolve, reject) => {
      ws.addEventListener(
        "open",
        () => {
          clearTimeout(opening);
          this.heard = Date.now();
          this.keepWatch(ws);
          resolve();
        },
        { once: true },
      );
      ws.addEventListener(
        "error",
        () => {
          clearTimeout(opening);
          reject(new Error("The connection could not be made."));
        },
        { once: true },
      );
    });
  }

  /** While ``ws`` is the socket: ping the server, and give the socket up when it is silent. */
  keepWatch(ws) {
    clearInterval(this.watch);
    this.asked = 0;
    this.watch = setInterval(() => {
      if (ws !== this.ws) {
        clearInterval(this.watch);
        return;
      }
      const now = Date.now();
      const answered = this.heard >= this.asked;
      if (!answered && now - this.asked > SILENT_MS) {
        this.giveUp(ws);
        return;
      }
      if (answered) {
        this.asked = now;
        clearTimeout(this.quiet);
        this.quiet = setTimeout(() => {
          if (ws === this.ws && this.heard < this.asked) this.startProbing();
        }, QUIET_MS);
      }
      this.pings += 1;
      this.send({ type: "ping", n: this.pings });
    }, PING_MS);
  }

  /** Ask the network, often and cheaply, whether it is back (until something is heard). */
  startProbing() {
    if (this.probing || this.closing) return;
    this.holdProbes = false;
    this.probing = setInterval(() => this.probe(), PROBE_MS);
    this.probe();
  }

  stopProbing() {
    clearInterval(this.probing);
    this.probing = null;
  }

  async probe() {
    const hold = this.holdProbes;
    if (this.probesOut >= (hold ? 1 : PROBES)) return;
    this.probesOut += 1;
    this.probes += 1;
    try {
      const answer = await fetch("/healthz", {
        cache: "no-store",
        credentials: "omit",
        signal: AbortSignal.timeout(hold ? PROBE_HOLD_MS : PROBE_WAIT_MS),
      });
      if (answer.ok) this.networkBack();
      else this.holdProbes = true; // a proxy answered for a server not back yet
    } catch (error) {
      // still no network (or no server): the next probe asks again, held unless this one
      // was dropped on its way
      this.holdProbes = !(error instanceof DOMException && error.name === "TimeoutError");
    } finally {
      this.probesOut -= 1;
    }
  }

  /** Something shows the network is back (a probe answered, the browser's `online` event, a
   * peer connection's ICE connected again): a socket that has gone quiet is given up, and a
   * reconnection waiting its turn starts now. A socket that is answering is left alone. */
  networkBack() {
    if (this.closing || !this.resumeToken) return;
    const ws = this.ws;
    if (ws && ws.readyState === WebSocket.CONNECTING) {
      // begun while the network was down, its opening may wait on a retransmission: a
      // fresh one gets through now
      if (Date.now() - this.connectingSince < PROBE_MS * 3) return;
      this.giveUp(ws);
    } else if (ws && ws.readyState === WebSocket.OPEN) {
      if (this.heard >= this.asked || Date.now() - this.asked < STUCK_MS) {
        if (this.heard >= this.asked) this.stopProbing();
        return;
      }
      this.giveUp(ws);
    }
    if (this.retry) {
      clearTimeout(this.retry);
      this.reconnects += 1;
      this.reconnect();
    }
  }

  /** ``ws`` will not do (silent, or not opening): treat it as dropped now, without waiting
   * for a closing handshake that a dead network would never finish. */
  giveUp(ws) {
    if (ws !== this.ws) return;
    this.handleClose(ws);
    this.ws = null;
    ws.close();
  }

  /** The socket closed: unless the session is over for it (or the page closed it, or the
   * sign-in ended), that is a drop, and the page comes back with the resume token: at once,
   * or when the restarting server said, then after jittered waits (`retryDelay`). */
  handleClose(ws, code) {
    if (ws !== this.ws) return;
    clearInterval(this.watch);
    clearTimeout(this.quiet);
    if (code === SIGNED_OUT) {
      this.closing = true;
      location.assign("/signin");
      return;
    }
    if (this.closing || !this.resumeToken) {
      this.stopProbing();
      this.dispatch({ type: "closed" });
      return;
    }
    const restarting = Date.now() < this.restartingUntil;
    // the network may be back before the next try is due; a restarting server has said the
    // network is not the matter, and a hundred pages asking it would only slow its start
    if (!restarting) this.startProbing();
    this.dispatch({ type: "reconnecting" });
    const delay =
      restarting && this.attempt === 0 ? this.restartAfter : retryDelay(this.attempt, restarting);
    this.attempt += 1;
    this.retry = setTimeout(() => this.reconnect(), delay);
  }

  async reconnect() {
    this.retry = null;
    if (this.closing) return;
    try {
      await this.connect();
    } catch {
      return; // the close handler schedules the next try
    }
    this.send({ type: "resume", token: this.resumeToken });
  }

  /** @param {string} type @param {(msg: any) => void} handler */
  on(type, handler) {
    this.handlers.set(type, handler);
    return this;
  }

  /** Call ``handler`` too with each message of ``type``, after the page's own handler: for
   * a part of the page that follows messages the page also handles (the shared screen
   * follows `lobby`, `error`, `reconnecting`).
   * @param {string} type @param {(msg: any) => void} handler */
  listen(type, handler) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(handler);
    return this;
  }

  /** Send ``message``; false when there is no open socket to send it on (it is dropped).
   * @param {object} message */
  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify({ v: 1, ...message }));
    return true;
  }

  handleFrame(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    this.dispatch(message);
  }

  dispatch(message) {
    if (FINAL.has(message.type)) {
      // whatever closes the socket next, it is not a drop: no heartbeat, no coming back
      this.closing = true;
      clearInterval(this.watch);
      clearTimeout(this.quiet);
      this.stopProbing();
    }
    if (message.resume) {
      this.resumeToken = message.resume;
      this.attempt = 0;
      this.restartingUntil = 0;
    }
    if (message.type === "restarting") {
      // the close that follows is a restart: come back when the server said, then often
      const after = Number(message.after_ms);
      this.restartAfter = Math.min(Math.max(0, after) || 0, RESTART_AFTER_MAX_MS);
      this.restartingUntil = Date.now() + RESTART_HOLD_MS;
      this.attempt = 0;
      this.restarts += 1;
    }
    if (message.type === "error" && message.code === "bad_resume") {
      // the place is gone (lost, or the server forgot it): the page starts again its own way
      this.resumeToken = null;
      this.dispatch({ type: "resume_refused" });
    }
    this.live.note(message); // who is who, before the page acts on it
    const handler = this.handlers.get(message.type);
    if (handler) handler(message);
    for (const listener of this.listeners.get(message.type) ?? []) listener(message);
  }

  /** Close on purpose: no reconnecting, and no reconnection still waiting to start. */
  close() {
    this.closing = true;
    clearInterval(this.watch);
    clearTimeout(this.quiet);
    this.stopProbing();
    clearTimeout(this.retry);
    this.retry = null;
    if (this.ws) this.ws.close();
  }
}
