// The signalling WebSocket: connect, send, and one handler per message type.

/** A connection to /ws that hands each message to the handler registered for its type. */
export class Signalling {
  constructor() {
    /** @type {Map<string, (msg: any) => void>} */
    this.handlers = new Map();
    this.ws = null;
    this.resumeToken = null; // kept in memory only
    this.attempt = 0;
    this.closing = false;
  }

  /** Open the socket; resolves once it is open. */
  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    this.ws = ws;
    ws.addEventListener("message", (event) => this.handleFrame(event.data));
    ws.addEventListener("close", () => this.handleClose(ws));
    return new Promise((resolve, reject) => {
      ws.addEventListener("open", resolve, { once: true });
      ws.addEventListener("error", reject, { once: true });
    });
  }

  /** The socket dropped: come back with the resume token, with backoff and jitter. */
  handleClose(ws) {
    if (ws !== this.ws) return;
    if (this.closing || !this.resumeToken) {
      this.dispatch({ type: "closed" });
      return;
    }
    this.dispatch({ type: "reconnecting" });
    const delay = Math.min(8000, 400 * 2 ** this.attempt) * (0.5 + Math.random());
    this.attempt += 1;
    setTimeout(() => this.reconnect(), delay);
  }

  async reconnect() {
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

  /** @param {object} message */
  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(JSON.stringify({ v: 1, ...message }));
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
    if (message.resume) {
      this.resumeToken = message.resume;
      this.attempt = 0;
    }
    if (message.type === "error" && message.code === "bad_resume") {
      // the place is gone (lost, or the server forgot it): the page starts again its own way
      this.resumeToken = null;
      this.dispatch({ type: "resume_refused" });
    }
    const handler = this.handlers.get(message.type);
    if (handler) handler(message);
  }

  /** Close on purpose: no reconnecting. */
  close() {
    this.closing = true;
    if (this.ws) this.ws.close();
  }
}
