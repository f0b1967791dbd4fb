// The page's data connection to the server: channels "board", "objects" and "control".
// The browser offers; the server (aiortc) answers over the signalling socket.

export const CHUNK = 16 * 1024;
// what the page says when a picture cannot go now, whichever way the board reaches the server
export const STILL_SHARING = "Your last picture is still on its way. Try again when it arrives.";
export const SHARE_DROPPED =
  "The connection dropped while your picture was on its way. Please share it again.";
const ANSWER_MS = 10000;

/**
 * Share ``file`` over ``link`` (a ServerLink or a SocketLink: its ``objects`` and its
 * ``sharing`` flag): one picture at a time, as the server keeps one transfer a person, and
 * no bytes after a refused ``begin``. ``send`` sends a JSON message of the objects channel;
 * ``sendChunk`` waits its turn and sends a chunk of bytes, or throws SHARE_DROPPED.
 */
export async function sharePicture(link, file, send, sendChunk) {
  if (link.sharing) throw new Error(STILL_SHARING);
  link.sharing = true;
  try {
    const data = new Uint8Array(await file.arrayBuffer());
    const id = crypto.randomUUID().replaceAll("-", "").slice(0, 24);
    const answered = link.objects.answer();
    send({ type: "begin", id, size: data.byteLength });
    const answer = await answered;
    if (answer.type === "error") throw new Error(answer.message);
    for (let start = 0; start < data.byteLength; start += CHUNK) {
      await sendChunk(data.subarray(start, start + CHUNK));
    }
    send({ type: "end", id });
  } finally {
    link.sharing = false;
  }
}

/** Pictures arriving on the objects channel (or in its frames on the socket), put back
 * together: a message (``object``, then the bytes, then ``object_end``) or the bytes. */
export class IncomingObjects {
  /** @param {{onObject: (id: string, blob: Blob) => void, onObjectMessage: (msg: any) => void}} events */
  constructor(events) {
    this.events = events;
    this.incoming = null;
    this.waiting = null; // a share waiting for the answer to its ``begin``
  }

  /** The server's answer to a ``begin`` about to go: ``ready``, or an ``error`` (too large,
   * too many pictures); none within ``ms`` and the connection is taken for dropped. */
  answer(ms = ANSWER_MS) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new Error(SHARE_DROPPED));
      }, ms);
      this.waiting = (message) => {
        clearTimeout(timer);
        this.waiting = null;
        resolve(message);
      };
    });
  }

  /** @param {ArrayBuffer | any} part a picture's bytes, or a message */
  take(part) {
    if (part instanceof ArrayBuffer) {
      if (this.incoming) this.incoming.parts.push(part);
      return;
    }
    if (part.type === "object") {
      this.incoming = { id: part.object, mime: part.mime, parts: [] };
    } else if (part.type === "object_end" && this.incoming) {
      const blob = new Blob(this.incoming.parts, { type: this.incoming.mime });
      this.events.onObject(this.incoming.id, blob);
      this.incoming = null;
    } else {
      if (this.waiting && (part.type === "ready" || part.type === "error")) this.waiting(part);
      this.events.onObjectMessage(part);
    }
  }
}

/** One RTCPeerConnection to the server carrying the three channels. */
export class ServerLink {
  /**
   * @param {import("./signal.js").Signalling} signalling
   * @param {{onBoard: (msg: any) => void, onObject: (id: string, blob: Blob) => void, onObjectMessage: (msg: any) => void, onFailed: () => void}} events
   */
  constructor(signalling, events) {
    this.signalling = signalling;
    this.events = events;
    this.pc = null;
    this.channels = {};
    this.objects = new IncomingObjects(events);
    this.heartbeat = null;
    this.sharing = false;
  }

  /** Offer the connection; `held` says what board the page holds (BoardFeed.opening), for
   * a connection that finds no board on the socket to take over from. */
  async open(held = {}) {
    this.close();
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    for (const label of ["board", "objects", "control"]) {
      const channel = pc.createDataChannel(label, { ordered: true });
      channel.binaryType = "arraybuffer";
      this.channels[label] = channel;
    }
    this.channels.board.onmessage = (event) => this.events.onBoard(JSON.parse(event.data));
    this.channels.objects.onmessage = ({ data }) =>
      this.objects.take(data instanceof ArrayBuffer ? data : JSON.parse(data));
    this.channels.control.onopen = () => {
      this.heartbeat = setInterval(
        () => this.send("control", { type: "ping", t: Date.now() }),
        2000,
      );
    };
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) this.signalling.send({ type: "server_signal", candidate: candidate.toJSON() });
    };
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      this.signalling.send({ type: "media_state", peer: "server", state: pc.connectionState });
      if (pc.connectionState === "failed") this.events.onFailed();
    };
    await pc.setLocalDescription();
    const description = pc.localDescription.toJSON();
    this.signalling.send({ type: "server_signal", description, ...held });
  }

  /** Whether the board's channel is open. */
  connected() {
    return this.channels.board?.readyState === "open";
  }

  /** The server's answer, relayed by the signalling socket. */
  async handleAnswer(message) {
    if (this.pc && message.description) await this.pc.setRemoteDescription(message.description);
  }

  send(label, doc) {
    const channel = this.channels[label];
    if (channel?.readyState !== "open") return false;
    channel.send(typeof doc === "string" ? doc : JSON.stringify(doc));
    return true;
  }

  /** Send a picture in chunks, waiting when the channel's buffer is full; given up if the
   * channel closes. */
  async share(file) {
    const channel = this.channels.objects;
    if (channel?.readyState !== "open") throw new Error(SHARE_DROPPED);
    channel.bufferedAmountLowThreshold = 4 * CHUNK;
    await sharePicture(
      this,
      file,
      (doc) => this.send("objects", doc),
      async (part) => {
        if (channel.bufferedAmount > 16 * CHUNK) {
          await new Promise((resolve) => {
            channel.addEventListener("bufferedamountlow", resolve, { once: true });
            channel.addEventListener("close", resolve, { once: true });
          });
        }
        if (channel.readyState !== "open") throw new Error(SHARE_DROPPED);
        channel.send(part.slice());
      },
    );
  }

  close() {
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.pc) this.pc.close();
    this.pc = null;
    this.channels = {};
  }
}
