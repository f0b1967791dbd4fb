// A hand moving on the board, told to the others while it moves: over a "live" data channel
// on each browser-to-browser connection (mesh.js makes them), or, to anyone that channel is
// not open with, through the server in `live` frames on the signalling socket, at most 20 a
// second. Nothing of it is stored: the board gets the finished thing (board.js). Receivers
// check each message against their board before drawing it (BoardView.showLive).

import { MAX_POINTS_PER_OP } from "./items.js";

// negotiated: both sides make the channel with this id as they make the connection, so it
// needs no negotiation of its own and is there on both sides at once
const CHANNEL = { negotiated: true, id: 1, ordered: false, maxRetransmits: 0 };
const SERVER_MS = 50; // through the server: a frame at most this often (the server's bound)
const MAX_UPDATES = 8; // in one `live` frame (the server's bound)
const MAX_TO = 5; // the others in a room of six
const MAX_MESSAGE = 16 * 1024; // a longer message from a peer is dropped unread
const BUFFERED = 64 * 1024; // a channel this far behind is skipped: the next frame is newer

/** Updates waiting to go: the newest place of each item, a stroke's points joined. */
class Pending {
  constructor() {
    /** @type {Map<string, any[]>} */
    this.byId = new Map();
  }

  put(update) {
    const list = this.byId.get(update.id) ?? [];
    const last = list.at(-1);
    if (update.kind !== "points") {
      list.splice(0, list.length, update); // a move or an end says all there is to say
    } else if (
      last?.kind === "points" &&
      last.points.length + update.points.length <= MAX_POINTS_PER_OP
    ) {
      list[list.length - 1] = { ...update, points: last.points.concat(update.points) };
    } else {
      list.push(update);
    }
    this.byId.set(update.id, list);
  }

  /** Everything waiting, in order; nothing waits after. */
  take() {
    const all = [...this.byId.values()].flat();
    this.byId.clear();
    return all;
  }
}

/**
 * The room's live traffic for one page: a channel to each other person in the room (none to
 * or from an observer), the server for whoever has no open channel, and who is who, learnt
 * from what the server says of people (`note`).
 */
export class Live {
  /** @param {import("./signal.js").Signalling} signalling */
  constructor(signalling) {
    this.signalling = signalling;
    /** @type {Map<string, string>} participant id -> role */
    this.roles = new Map();
    this.myRole = null;
    /** @type {Map<string, {pc: RTCPeerConnection, channel: RTCDataChannel | null}>} */
    this.links = new Map(); // everyone we have a connection to, but observers
    this.channelsOff = false; // no peer channels: everything through the server (tests)
    /** @type {((update: any, from: string) => boolean | undefined) | null} */
    this.onMessage = null;
    this.toPeers = new Pending();
    this.toServer = new Pending();
    this.serverTo = new Set();
    this.frame = 0;
    this.timer = null;
    this.serverAt = -Infinity;
    // what went and came each way, for tests of which way live movement goes
    this.counts = { sent: { peer: 0, server: 0 }, heard: { peer: 0, server: 0 }, dropped: 0 };
    signalling.on("live", (m) => this.handleRelayed(m));
  }

  // -- who is who

  /** Learn roles from a message of the server's (before its own handler runs). */
  note(message) {
    switch (message.type) {
      case "joined":
      case "room_opened":
      case "resumed":
        if (message.you) this.myRole = message.you.role;
        this.learn([message.you, ...(message.present || [])]);
        break;
      case "admitted":
        this.learn(message.present);
        break;
      case "lobby":
        this.learn([...(message.waiting || []), ...(message.present || [])]);
        break;
      case "peer_joined":
        this.learn([message.participant]);
        break;
    }
  }

  learn(people) {
    for (const p of people || []) {
      if (p && typeof p.id === "string" && typeof p.role === "string") this.roles.set(p.id, p.role);
    }
  }

  // -- channels

  /**
   * A connection to `id` (mesh.js): its "live" channel, unless one side is an observer. A
   * person not known yet gets one only once their offer has a data section (`offered`): a
   * negotiated channel made on one side alone would send into the void.
   * @param {string} id @param {RTCPeerConnection} pc @param {boolean} offered
   */
  connect(id, pc, offered = false) {
    if (this.myRole === "observer" || this.roles.get(id) === "observer") return;
    const link = this.links.get(id);
    if (link?.pc === pc && link.channel) return;
    if (this.channelsOff || (!offered && !this.roles.has(id))) {
      this.links.set(id, { pc, channel: null });
      return;
    }
    const channel = pc.createDataChannel("live", CHANNEL);
    channel.onmessage = ({ data }) => this.receive(data, id);
    this.links.set(id, { pc, channel });
  }

  /** The connection to `id` is closed (they left, or went back to the waiting room). */
  disconnect(id) {
    this.links.delete(id);
  }

  /** Close every peer channel and make no more: live movement goes through the server. For
   * tests of that way, which a page takes by itself where a channel is not open. */
  closeChannels() {
    this.channelsOff = true;
    for (const link of this.links.values()) {
      link.channel?.close();
      link.channel = null;
    }
  }

  // -- sending

  /** One update from this page's hand (BoardView.onLive): it goes with the next frame. */
  send(update) {
    this.toPeers.put(update);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  /** Once a frame: what waits goes over each open channel, and to the others through the
   * server. */
  flush() {
    this.frame = 0;
    const updates = this.toPeers.take();
    if (!updates.length) return;
    const texts = updates.map((u) => JSON.stringify(u));
    for (const [id, { channel }] of this.links) {
      if (channel?.readyState !== "open") {
        this.serverTo.add(id);
        continue;
      }
      if (channel.bufferedAmount > BUFFERED) continue;
      try {
        for (const text of texts) channel.send(text);
        this.counts.sent.peer += texts.length;
      } catch {
        this.serverTo.add(id); // closing as we sent
      }
    }
    if (!this.serverTo.size) return;
    for (const update of updates) this.toServer.put(update);
    this.viaServer();
  }

  /** The next `live` frame to the server: now, or once SERVER_MS has passed since the last. */
  viaServer() {
    if (this.timer) return;
    const wait = Math.max(0, this.serverAt + SERVER_MS - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.serverAt = performance.now();
      const updates = this.toServer.take();
      const to = [...this.serverTo].slice(0, MAX_TO);
      this.serverTo.clear();
      for (let i = 0; i < updates.length; i += MAX_UPDATES) {
        const messages = updates.slice(i, i + MAX_UPDATES);
        this.signalling.send({ type: "live", to, messages });
        this.counts.sent.server += messages.length;
      }
    }, wait);
  }

  // -- receiving

  /** A message on the channel with `from`: one update, as JSON. Anything else is dropped. */
  receive(data, from) {
    if (typeof data !== "string" || data.length > MAX_MESSAGE) return;
    let update;
    try {
      update = JSON.parse(data);
    } catch {
      return;
    }
    this.deliver(update, from, "peer");
  }

  /** A `live` frame from the server: `from`'s updates. */
  handleRelayed(message) {
    if (typeof message.from !== "string" || !Array.isArray(message.messages)) return;
    for (const update of message.messages) this.deliver(update, message.from, "server");
  }

  deliver(update, from, route) {
    if (!update || typeof update !== "object" || Array.isArray(update)) return;
    this.counts.heard[route] += 1;
    let shown = false;
    try {
      shown = Boolean(this.onMessage) && this.onMessage(update, from) !== false;
    } catch (error) {
      console.warn("live message dropped", error);
    }
    if (!shown) this.counts.dropped += 1;
  }
}
