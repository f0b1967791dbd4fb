// A page's whiteboard: the canvas (board.js), its toolbar (tools.js), its link to the
// server's board: the signalling socket at once (socketlink.js), then the data connection
// (serverlink.js) once it is up, which it never is where no UDP reaches the server, with what
// both bring applied in order (boardfeed.js); and the hands of the others as they move, which
// come and go over the peer channels, or the socket (live.js).

import { BoardView } from "./board.js";
import { BoardFeed } from "./boardfeed.js";
import { ServerLink } from "./serverlink.js";
import { SocketLink } from "./socketlink.js";
import { t } from "./strings.js";
import { tools } from "./tools.js";

/** A page's whiteboard: the canvas, its toolbar, and its link to the server's board: the
 * signalling socket from the moment the page is in the room, handed over to the data
 * connection when that is up (the server moves the board to it; what the socket was sent
 * still comes, and the data connection goes on from there). So the board is there within a
 * round trip on every network; back after a reconnect, the page gets only what changed. */
export class Whiteboard {
  /**
   * @param {import("./signal.js").Signalling} signalling
   * @param {HTMLElement} area the element holding the toolbar, the canvas and the status line
   */
  constructor(signalling, area) {
    this.signalling = signalling;
    this.status = area.querySelector("#board-status");
    this.link = null; // how the board reaches the server now
    this.mode = null; // "data" or "socket"
    this.socket = null; // the board on the socket: read on after it hands over
    this.data = null; // the data connection, offered beside the socket until it takes over
    this.view = new BoardView(area.querySelector("canvas"), (op) => this.link?.send("board", op));
    this.view.onError = (m) => this.say(m.message);
    this.feed = new BoardFeed(this.view, () => this.open()); // changes missed: the whole board
    // a hand moving here goes to the others at once; theirs are drawn here, each checked
    // against this board first, knowing whose hand it is (BoardView.showLive)
    this.live = signalling.live;
    // guests the therapist has not given the board: their hands are not drawn here, as the
    // server takes nothing of theirs (a guest's page, or one that bypasses it)
    this.noBoard = new Set();
    this.view.onLive = (update) => this.live.send(update);
    this.live.onMessage = (update, from) => this.showLive(update, from);
    tools(area, this.view, {
      share: (file) =>
        this.link
          ?.share(file)
          .then(() => this.say(t("Sending your picture…")))
          .catch((error) => this.say(error.message)),
    });
    // whatever the socket was sent before the data connection took over still comes
    signalling.on("board", (m) => {
      if (this.socket) this.feed.handle(m.message, "socket");
    });
    signalling.on("objects", (m) => this.socket?.receive(m));
  }

  /** Another person's hand, from `from` (a participant id): drawn if the board is open here
   * and the update is one the server would take of them; false when it is dropped. */
  showLive(update, from) {
    if (!this.link || this.noBoard.has(from)) return false;
    return this.view.showLive(update, from);
  }

  say(text) {
    if (this.status) this.status.textContent = text;
  }

  /** Open (or reopen, after a reconnect) the board: over the socket at once, and the data
   * connection offered beside it. A page that holds the board says so, and gets only what
   * it missed. */
  open() {
    this.stop();
    const held = this.feed.opening();
    this.overSocket(held);
    const data = new ServerLink(this.signalling, {
      onBoard: (m) => {
        // the server sends on the connection only once it has the board: the hand-over
        if (this.data !== data) return;
        if (this.link !== data) this.takeOver(data);
        this.feed.handle(m, "data");
      },
      ...this.objectEvents(),
      onFailed: () => this.dataFailed(data),
    });
    this.data = data;
    data.open(held);
  }

  /** What to do with pictures and their messages, whichever way they come. */
  objectEvents() {
    return {
      onObject: (id, blob) => this.view.addObject(id, blob),
      onObjectMessage: (m) => {
        if (m.type === "error") this.say(m.message);
        if (m.type === "shared") this.say(t("Your picture is on the board."));
      },
    };
  }

  /** The board over the signalling socket (`held`: what the page holds of it, see
   * BoardFeed.opening): at the start, and again whenever the data connection fails. */
  overSocket(held) {
    this.link?.close();
    this.socket = new SocketLink(this.signalling, this.objectEvents(), held);
    this.link = this.socket;
    this.mode = "socket";
  }

  /** The data connection ``data`` carries the board from now on (its first message); the
   * socket still brings what it was sent before. */
  takeOver(data) {
    this.link?.close(); // no more pictures shared over it
    this.link = data;
    this.mode = "data";
  }

  /** The data connection ``data`` failed: if it had the board, the socket takes it back. */
  dataFailed(data) {
    if (data !== this.data) return;
    data.close();
    this.data = null;
    this.feed.dropped("data");
    if (this.link === data) this.overSocket(this.feed.opening());
  }

  handleAnswer(message) {
    this.data?.handleAnswer(message);
  }

  stop() {
    this.link?.close();
    this.data?.close();
    this.link = null;
    this.socket = null;
    this.data = null;
    this.mode = null;
    this.feed.reset();
  }

  /** Close the link and forget everything shown. */
  close() {
    this.stop();
    this.view.wipe();
    this.feed.forget();
  }
}
