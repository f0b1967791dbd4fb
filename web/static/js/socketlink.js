// The board over the signalling socket, for a network where the data connection to the
// server cannot be made (no UDP gets through): the same board, and its pictures.

import { IncomingObjects, SHARE_DROPPED, sharePicture } from "./serverlink.js";

// pictures over the socket: at most this many chunks a second (the server reads at most 200
// frames a second from a socket), and none while a megabyte is still waiting to go out
const CHUNKS_PER_SECOND = 100;
const SOCKET_BUFFER = 1024 * 1024;

/** The board over the signalling socket: the same board, and its pictures in ``objects``
 * frames, their bytes in base64 (the socket carries text). */
export class SocketLink {
  /**
   * @param {import("./signal.js").Signalling} signalling
   * @param {{onObject: (id: string, blob: Blob) => void, onObjectMessage: (msg: any) => void}} events
   * @param {{since?: number, missing?: string[]}} held the board the page holds, if it does
   */
  constructor(signalling, events, held = {}) {
    this.signalling = signalling;
    this.objects = new IncomingObjects(events);
    this.sharing = false;
    this.closed = false;
    signalling.send({ type: "board_open", ...held });
  }

  send(label, op) {
    if (label !== "board") return false;
    this.signalling.send({ type: "board", op });
    return true;
  }

  /** One ``objects`` frame from the server. */
  receive(frame) {
    if (frame.chunk === undefined || frame.chunk === null) {
      this.objects.take(frame.message);
      return;
    }
    const text = atob(frame.chunk);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
    this.objects.take(bytes.buffer);
  }

  /** Send a picture in base64 chunks, at a pace the server reads, and only on the socket it
   * began on. */
  async share(file) {
    const ws = this.signalling.ws;
    const send = (message) => this.signalling.send({ type: "objects", message });
    await sharePicture(this, file, send, async (part) => {
      let text = "";
      for (let i = 0; i < part.length; i += 4096)
        text += String.fromCharCode(...part.subarray(i, i + 4096));
      await this.paced();
      if (this.closed || this.signalling.ws !== ws) throw new Error(SHARE_DROPPED);
      this.signalling.send({ type: "objects", chunk: btoa(text) });
    });
  }

  /** Waits until the next chunk may go. */
  async paced() {
    const ws = this.signalling.ws;
    do {
      await new Promise((resolve) => setTimeout(resolve, 1000 / CHUNKS_PER_SECOND)); // the pace
    } while (ws && ws.bufferedAmount > SOCKET_BUFFER);
  }

  close() {
    this.closed = true;
  }
}
