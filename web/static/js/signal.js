// The signalling WebSocket: connect, send, and one handler per message type.

/** A connection to /ws that hands each message to the handler registered for its type. */
export class Signalling {
  constructor() {
    /** @type {Map<string, (msg: any) => void>} */
    this.handlers = new Map();
    this.ws = null;
  }

  /** Open the socket; resolves once it is open. */
  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.ws = new WebSocket(`${scheme}://${location.host}/ws`);
    this.ws.addEventListener("message", (event) => this.handleFrame(event.data));
    this.ws.addEventListener("close", () => this.dispatch({ type: "closed" }));
    return new Promise((resolve, reject) => {
      this.ws.addEventListener("open", resolve, { once: true });
      this.ws.addEventListener("error", reject, { once: true });
    });
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
    const handler = this.handlers.get(message.type);
    if (handler) handler(message);
  }

  close() {
    if (this.ws) this.ws.close();
  }
}
