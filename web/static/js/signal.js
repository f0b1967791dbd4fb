// The signalling WebSocket: connect, send, and one handler per message type.

import { Live } from "./live.js";

// A network that stops passing traffic closes nothing: the page pings the server every
// PING_MS and gives a socket up once a ping has gone SILENT_MS without anything heard since
// (or once a new socket has not opened within CONNECT_MS), then comes back as after any
// drop. Silence counts from a ping actually sent, so a timer the browser slowed down (a
// hidden tab, a sleeping laptop) is never taken for a dead network.
const PING_MS = 2000;
const SILENT_MS = 6000;
const CONNECT_MS = 5000;
// The session is over for this socket: the server says so, then closes it (with 1000,
// docs/protocol.md, "Closing"). Nothing to come back to: the close that follows is no drop.
// (The message, not the close code, decides: a socket the page closes itself is answered
// with 1000 too.)
const FINAL = new Set(["room_ended", "declined", "removed"]);
// The staff sign-in this socket was opened with has ended (a sign-out on any device, ended
// from "Where you are signed in", or the account disabled): the page goes to sign in again.
const SIGNED_OUT = 4401;

/** A connection to /ws that hands each message to the handler registered for its type, and
 * the room's live movement (`live`: the peer channels the mesh makes, with this socket for
 * whoever has none). */
export class Signalling {
  constructor() {
    /** @type {Map<string, (msg: any) => void>} */
    this.handlers = new Map();
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
  }

  /** Open the socket; resolves once it is open. */
  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    this.ws = ws;
    ws.addEventListener("message", (event) => {
      if (ws === this.ws) this.heard = Date.now();
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
      if (answered) this.asked = now;
      this.pings += 1;
      this.send({ type: "ping", n: this.pings });
    }, PING_MS);
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
   * sign-in ended), that is a drop, and the page comes back with the resume token, with
   * backoff and jitter. */
  handleClose(ws, code) {
    if (ws !== this.ws) return;
    clearInterval(this.watch);
    if (code === SIGNED_OUT) {
      this.closing = true;
      location.assign("/signin");
      return;
    }
    if (this.closing || !this.resumeToken) {
      this.dispatch({ type: "closed" });
      return;
    }
    this.dispatch({ type: "reconnecting" });
    const delay = Math.min(8000, 400 * 2 ** this.attempt) * (0.5 + Math.random());
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
    }
    if (message.resume) {
      this.resumeToken = message.resume;
      this.attempt = 0;
    }
    if (message.type === "error" && message.code === "bad_resume") {
      // the place is gone (lost, or the server forgot it): the page starts again its own way
      this.resumeToken = null;
      this.dispatch({ type: "resume_refused" });
    }
    if (message.type === "error" && message.code === "resume_in_use" && this.ws) {
      // the server has not yet noticed our old socket is gone: try again shortly
      this.giveUp(this.ws);
      return;
    }
    this.live.note(message); // who is who, before the page acts on it
    const handler = this.handlers.get(message.type);
    if (handler) handler(message);
  }

  /** Close on purpose: no reconnecting, and no reconnection still waiting to start. */
  close() {
    this.closing = true;
    clearInterval(this.watch);
    clearTimeout(this.retry);
    this.retry = null;
    if (this.ws) this.ws.close();
  }
}
