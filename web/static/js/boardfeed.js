// What the server's board sends a page, on the signalling socket and on the data connection
// alike, applied to the page's copy (board.js) once each and in `seq` order. During a
// hand-over both links carry changes at once (the socket still writes what it was sent as the
// data connection takes over), and after a reconnect a page that holds the board gets only the
// changes it missed, then `caught_up`, instead of the whole board again.

// changes held while one before them has not come yet; past this, the page asks for the
// whole board again
const MAX_AHEAD = 2000;
// a page that lacks the bytes of more pictures than this asks for the whole board (the server
// takes at most this many ids)
const MAX_MISSING = 100;

/** The board's messages from either link, applied to the view in order. */
export class BoardFeed {
  /**
   * @param {import("./board.js").BoardView} view
   * @param {() => void} onLost changes were missed past repair: open the board afresh
   */
  constructor(view, onLost) {
    this.view = view;
    this.onLost = onLost;
    this.holds = false; // the view holds this session's board: a snapshot and changes since
    this.awaiting = false; // the whole board is asked for: every change waits for it
    this.ahead = new Map(); // seq -> a change that came before one it follows
    this.parts = new Map(); // link -> the parts of a snapshot coming on it
    this.target = null; // the seq a `caught_up` said, until the view has reached it
    this.restored = []; // when the board was up to date after each opening (ms since the epoch)
  }

  /** What to tell the server as the board opens: the seq held and the pictures on it whose
   * bytes are not here, or nothing (the whole board, please). */
  opening() {
    const pictures = new Set();
    for (const e of this.view.elements.values()) {
      if (e.kind === "picture" && !this.view.images.has(e.data.object)) pictures.add(e.data.object);
    }
    if (!this.holds || pictures.size > MAX_MISSING) {
      this.awaiting = true;
      return {};
    }
    return { since: this.view.seq, missing: [...pictures] };
  }

  /** One message of the board, from `link` ("socket" or "data"). */
  handle(message, link) {
    switch (message.type) {
      case "snapshot_part":
        this.parts.set(link, (this.parts.get(link) || []).concat(message.elements));
        return;
      case "snapshot":
        this.snapshot(message, link);
        return;
      case "caught_up":
        this.caughtUp(message);
        return;
      case "change":
        this.change(message);
        return;
      default:
        this.view.handle(message); // settings, and errors
    }
  }

  /** The whole board: it replaces the copy, and the changes held that follow it apply. */
  snapshot(message, link) {
    const behind = this.holds && message.seq < this.view.seq; // the board went back: rebuilt
    this.view.parts = this.parts.get(link) || [];
    this.parts.delete(link);
    this.view.handle(message);
    this.holds = true;
    this.awaiting = false;
    this.restored.push(Date.now());
    this.flush();
    if (behind) this.onLost(); // changes dropped as applied may not be in it
  }

  /** The link is live from `seq` on: what came before it is here or on its way. It sets no
   * seq of the copy; its settings are the board's now, unless the copy is past them. */
  caughtUp(message) {
    if (message.seq >= this.view.seq) {
      this.view.takeSettings(message.settings);
      this.view.render();
    }
    this.target = message.seq;
    this.reached();
  }

  change(message) {
    if (!this.awaiting && message.seq <= this.view.seq) return; // applied already
    if (this.awaiting || message.seq > this.view.seq + 1) {
      this.ahead.set(message.seq, message);
      if (this.ahead.size > MAX_AHEAD) {
        this.ahead.clear();
        this.holds = false;
        this.onLost();
      }
      return;
    }
    this.view.handle(message);
    this.flush();
  }

  /** The changes held that now follow on, in order; those the copy has are dropped. */
  flush() {
    for (const seq of this.ahead.keys()) if (seq <= this.view.seq) this.ahead.delete(seq);
    for (let next = this.ahead.get(this.view.seq + 1); next; ) {
      this.ahead.delete(next.seq);
      this.view.handle(next);
      next = this.ahead.get(this.view.seq + 1);
    }
    this.reached();
  }

  reached() {
    if (this.target === null || this.awaiting || this.view.seq < this.target) return;
    this.target = null;
    this.restored.push(Date.now());
  }

  /** A link closed: a snapshot it was bringing will not come. */
  dropped(link) {
    this.parts.delete(link);
  }

  /** The links closed (the board is opened afresh, or closed). */
  reset() {
    this.parts.clear();
    this.ahead.clear();
    this.target = null;
    this.awaiting = false;
  }

  /** The copy was wiped: nothing of this session's board is held any more. */
  forget() {
    this.reset();
    this.holds = false;
  }
}
