// A page's whiteboard: the canvas (board.js), its toolbar (tools.js), its link to the
// server's board: the data connection (serverlink.js), or the signalling socket
// (socketlink.js) where that connection cannot be made; and the hands of the others as they
// move, which come and go over the peer channels, or the socket (live.js).

import { BoardView } from "./board.js";
import { ServerLink } from "./serverlink.js";
import { SocketLink } from "./socketlink.js";
import { tools } from "./tools.js";

// The data connection to the server must be up within this long, or the board goes over
// the signalling socket instead (a network that lets no UDP through to the server).
const DATA_CONNECTION_MS = 5000;

/** A page's whiteboard: the canvas, its toolbar, and its link to the server's board: the
 * data connection, or the signalling socket when the data connection cannot be made. */
export class Whiteboard {
  /**
   * @param {import("./signal.js").Signalling} signalling
   * @param {HTMLElement} area the element holding the toolbar, the canvas and the status line
   */
  constructor(signalling, area) {
    this.signalling = signalling;
    this.status = area.querySelector("#board-status");
    this.link = null;
    this.mode = null; // "data" or "socket": how the board reaches the server now
    this.waiting = null;
    this.view = new BoardView(area.querySelector("canvas"), (op) => this.link?.send("board", op));
    this.view.onError = (m) => this.say(m.message);
    // a hand moving here goes to the others at once; theirs are drawn here, each checked
    // against this board first, knowing whose hand it is (BoardView.showLive)
    this.live = signalling.live;
    this.view.onLive = (update) => this.live.send(update);
    this.live.onMessage = (update, from) => this.showLive(update, from);
    tools(area, this.view, {
      share: (file) =>
        this.link
          ?.share(file)
          .then(() => this.say("Sending your picture…"))
          .catch((error) => this.say(error.message)),
    });
    signalling.on("board", (m) => {
      if (this.mode === "socket") this.view.handle(m.message);
    });
    signalling.on("objects", (m) => {
      if (this.mode === "socket") this.link.receive(m);
    });
  }

  /** Another person's hand, from `from` (a participant id): drawn if the board is open here
   * and the update is one the server would take of them; false when it is dropped. */
  showLive(update, from) {
    if (!this.link) return false;
    return this.view.showLive(update, from);
  }

  say(text) {
    if (this.status) this.status.textContent = text;
  }

  /** Open (or reopen, after a reconnect) the data connection: the board comes back whole.
   * If it is not up in time, the board goes over the signalling socket. */
  open() {
    this.stop();
    const link = new ServerLink(this.signalling, {
      onBoard: (m) => this.view.handle(m),
      ...this.objectEvents(),
      onFailed: () => this.overSocket(link),
    });
    this.link = link;
    this.mode = "data";
    link.open();
    this.waiting = setTimeout(() => {
      if (!link.connected()) this.overSocket(link);
    }, DATA_CONNECTION_MS);
  }

  /** What to do with pictures and their messages, whichever way they come. */
  objectEvents() {
    return {
      onObject: (id, blob) => this.view.addObject(id, blob),
      onObjectMessage: (m) => {
        if (m.type === "error") this.say(m.message);
        if (m.type === "shared") this.say("Your picture is on the board.");
      },
    };
  }

  /** The data connection ``link`` did not come up: the board goes over the socket. */
  overSocket(link) {
    if (link !== this.link) return;
    this.stop();
    this.link = new SocketLink(this.signalling, this.objectEvents());
    this.mode = "socket";
  }

  handleAnswer(message) {
    if (this.mode === "data" && this.link) this.link.handleAnswer(message);
  }

  stop() {
    clearTimeout(this.waiting);
    if (this.link) this.link.close();
    this.link = null;
    this.mode = null;
  }

  /** Close the link and forget everything shown. */
  close() {
    this.stop();
    this.view.wipe();
  }
}
