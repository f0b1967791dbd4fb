// Peer-to-peer media between browsers: one RTCPeerConnection per other person, with
// perfect negotiation (polite and impolite roles) so glare never wedges a call. Each
// connection between two people in the room also carries the board's live movement, on a
// "live" data channel (live.js); a connection with an observer carries none.
//
// Each person sends one stream for their camera and microphone, and may send one more: a
// screen they share (share.js), announced to the server before it is added. What comes from
// someone in their first stream is their camera; any other stream goes to `onOtherStream`,
// which shows it only if it is the share announced for them.
//
// What the page sends each person shrinks as the room grows (budget.js), and further on a
// poor connection or by choice (poorlink.js, `setCap`): the lower of the two wins.

import { budgetFor, lower } from "./budget.js";

/** Per-peer state: the connection and the perfect-negotiation flags. */
class PeerLink {
  constructor(id, polite, pc) {
    this.id = id;
    this.polite = polite;
    this.pc = pc;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.stream = new MediaStream();
    this.camera = null; // the id of their stream that carries their camera and microphone
    this.down = false; // its connection was disconnected or failed since it last connected
  }
}

// After a reconnect, while video from someone is not decoded again, the page asks them for a
// key frame over the signalling socket every KEY_ASK_MS, at most KEY_ASKS times: the
// browser's own request (RTCP PLI) goes over the media path, and one lost there is asked
// again only after about 3 s.
const KEY_ASK_MS = 250;
const KEY_ASKS = 8;

/** The mesh: local media out, remote media in, signalling through the server. */
export class Mesh {
  /**
   * @param {import("./signal.js").Signalling} signalling
   * @param {string} myId
   * @param {RTCConfiguration} config
   * @param {MediaStream | null} localStream
   * @param {{onStream: (id: string, stream: MediaStream) => void, onGone: (id: string) => void,
   *   isShare?: (id: string, streamId: string) => boolean,
   *   onOtherStream?: (id: string, stream: MediaStream) => void}} events
   */
  constructor(signalling, myId, config, localStream, events) {
    this.signalling = signalling;
    this.myId = myId;
    this.config = config;
    this.localStream = localStream;
    this.events = events;
    /** @type {import("./live.js").Live | null} */
    this.live = signalling.live ?? null;
    /** @type {Map<string, PeerLink>} */
    this.peers = new Map();
    /** @type {Map<string, MediaStream>} streams this page sends besides its camera (a share) */
    this.extra = new Map();
    this.restarts = 0; // ICE restarts, for the page's own display and for tests
    // the most this page's video may be, on a poor connection or by choice (poorlink.js):
    // shrunk by `scale`, at most `fps` frames a second and `bitrate` bits, or not sent
    this.cap = { scale: 1, fps: 30, bitrate: null, paused: false };
    // whether what we send shrinks as the room grows (budget.js); turned off only to measure
    // what that saves (tests/bench/bench_mesh.py)
    this.budgeted = true;
    // changes to what we send, one after another: a sender's parameters are read and then
    // set, and another change set in between would make the second one fail
    this.changing = Promise.resolve();
    // someone cannot decode our video yet (after a reconnect): a key frame, at once
    signalling.on("key_frame", (m) => this.freshFrame(m.from));
  }

  /** Run ``change`` (async) after every change to our sending already asked for. */
  changeSending(change) {
    this.changing = this.changing
      .then(change)
      .catch((error) => console.warn("sending not changed", error));
    return this.changing;
  }

  /** The connection to ``id``, made on first use; ``addTracks`` adds local media now. */
  ensure(id, addTracks) {
    let link = this.peers.get(id);
    if (link) return link;
    const pc = new RTCPeerConnection(this.config);
    link = new PeerLink(id, this.myId > id, pc);
    this.peers.set(id, link);
    pc.onnegotiationneeded = () => this.negotiate(link);
    pc.onicecandidate = ({ candidate }) => {
      if (candidate)
        this.signalling.send({ type: "signal", to: id, candidate: candidate.toJSON() });
    };
    pc.ontrack = ({ track, streams: [carrier] }) => {
      const from = carrier?.id ?? "";
      const share = this.events.isShare?.(id, from) ?? false;
      if (!share && (link.camera === null || link.camera === from)) {
        link.camera = from;
        link.stream.addTrack(track);
        this.events.onStream(id, link.stream);
        return;
      }
      this.events.onOtherStream?.(id, carrier ?? new MediaStream([track]));
    };
    // a sender's encodings may be there only once a negotiation ends (one added to an
    // offered transceiver, one of a connection made again): what it may send, set again then
    pc.onsignalingstatechange = () => {
      if (pc.signalingState === "stable") this.adaptSending();
    };
    pc.onconnectionstatechange = () => {
      this.signalling.send({ type: "media_state", peer: id, state: pc.connectionState });
      if (pc.connectionState === "failed") this.restart(id);
      if (pc.connectionState === "disconnected" || pc.connectionState === "failed")
        link.down = true;
      if (pc.connectionState === "connected") {
        // media getting through again: the network is back, whatever the socket says yet;
        // and a key frame on the path that now works (one sent as the page resumed may
        // have gone down the old one, and the other side's request for one may be lost)
        this.signalling.networkBack?.();
        if (link.down) {
          link.down = false;
          this.freshFrame(id);
        }
      }
    };
    this.live?.connect(id, pc); // before the first offer, which then has its data section
    if (addTracks) this.addLocalTracks(link);
    else this.adaptSending(); // one more person to send to: less to each of the others
    return link;
  }

  addLocalTracks(link) {
    if (!this.localStream) {
      // nothing to send (an observer, or no camera): still ask to receive both kinds
      if (link.pc.getTransceivers().length === 0) {
        link.pc.addTransceiver("audio", { direction: "recvonly" });
        link.pc.addTransceiver("video", { direction: "recvonly" });
      }
      return;
    }
    const sending = new Set(link.pc.getSenders().map((s) => s.track));
    for (const track of this.localStream.getTracks()) {
      if (!sending.has(track)) link.pc.addTrack(track, this.localStream);
    }
    this.addExtraTracks(link);
    this.adaptSending(); // the new senders within the room's budget from their first frame
  }

  addExtraTracks(link) {
    const sending = new Set(link.pc.getSenders().map((s) => s.track));
    for (const stream of this.extra.values())
      for (const track of stream.getTracks())
        if (!sending.has(track)) link.pc.addTrack(track, stream);
  }

  /** Send ``stream`` to everyone besides the camera (a share the server was told of first);
   * perfect negotiation offers it. */
  addStream(stream) {
    this.extra.set(stream.id, stream);
    for (const link of this.peers.values()) this.addExtraTracks(link);
    this.adaptSending();
  }

  /** Stop sending ``stream`` to everyone. */
  removeStream(stream) {
    if (!this.extra.delete(stream.id)) return;
    const tracks = new Set(stream.getTracks());
    for (const link of this.peers.values())
      for (const sender of link.pc.getSenders())
        if (sender.track && tracks.has(sender.track)) link.pc.removeTrack(sender);
    this.adaptSending(); // the camera has the whole budget again
  }

  /** Send ``fresh`` wherever ``old`` was sent (another camera or microphone): no
   * renegotiation, the far side's video goes on in the same place. */
  async replaceTrack(old, fresh) {
    const replacing = [];
    for (const link of this.peers.values())
      for (const sender of link.pc.getSenders())
        if (sender.track === old) replacing.push(sender.replaceTrack(fresh));
    await Promise.all(replacing);
  }

  async negotiate(link) {
    try {
      link.makingOffer = true;
      await link.pc.setLocalDescription();
      this.signalling.send({
        type: "signal",
        to: link.id,
        description: link.pc.localDescription.toJSON(),
      });
    } catch (error) {
      console.warn("negotiation failed", error);
    } finally {
      link.makingOffer = false;
    }
  }

  /** A description or candidate relayed from another participant. */
  async handleSignal(message) {
    const link = this.ensure(message.from, false);
    const pc = link.pc;
    if (message.description) {
      const description = message.description;
      const collision =
        description.type === "offer" && (link.makingOffer || pc.signalingState !== "stable");
      link.ignoreOffer = !link.polite && collision;
      if (link.ignoreOffer) return;
      if (description.type === "offer") {
        // someone we knew nothing of yet offers a live channel: ours, before we answer
        this.live?.connect(link.id, pc, /^m=application /m.test(description.sdp || ""));
      }
      await pc.setRemoteDescription(description);
      if (description.type === "offer") {
        this.addLocalTracks(link);
        await pc.setLocalDescription();
        this.signalling.send({
          type: "signal",
          to: link.id,
          description: pc.localDescription.toJSON(),
        });
      }
    } else if (message.candidate) {
      try {
        await pc.addIceCandidate(message.candidate);
      } catch (error) {
        if (!link.ignoreOffer) console.warn("candidate refused", error);
      }
    }
  }

  /**
   * Back in the room after our socket dropped: keep the connections to everyone still here
   * and restart their ICE (new candidates for a network that may have changed); offer to
   * anyone new; drop anyone who went while we were away.
   * @param {string[]} present
   */
  resume(present) {
    for (const id of [...this.peers.keys()]) if (!present.includes(id)) this.drop(id);
    for (const id of present) {
      if (this.peers.has(id)) {
        this.restart(id);
        this.freshFrame(id);
        this.watchFrames(id);
      } else {
        this.ensure(id, true);
      }
    }
  }

  /** ``id`` is back after their connection dropped: an offer of ours they missed goes, and
   * they get a key frame from us at once. */
  async peerBack(id) {
    this.watchFrames(id);
    await this.settle(id);
    await this.freshFrame(id);
  }

  /** Until video from ``id`` is decoded again (after a reconnect), ask them for a key frame
   * over the signalling socket, a few times at most. */
  async watchFrames(id) {
    const link = this.peers.get(id);
    if (!link) return;
    link.watching = (link.watching || 0) + 1;
    const mine = link.watching;
    const decoded = async () => {
      let frames = 0;
      (await link.pc.getStats()).forEach((report) => {
        if (report.type === "inbound-rtp" && report.kind === "video")
          frames += report.framesDecoded || 0;
      });
      return frames;
    };
    const before = await decoded();
    for (let ask = 0; ask < KEY_ASKS; ask += 1) {
      await new Promise((resolve) => setTimeout(resolve, KEY_ASK_MS));
      if (link.watching !== mine || this.peers.get(id) !== link) return;
      if ((await decoded()) > before) return;
      this.signalling.send({ type: "key_frame", to: id });
    }
  }

  /**
   * Send ``id`` a key frame now. After a gap in the network the other side cannot decode
   * what follows until a key frame comes, and its own request for one may have been lost with
   * the network (the browser asks again only after about 3 s). Pausing the encoding for a
   * moment makes the encoder start again with a key frame.
   */
  freshFrame(id) {
    return this.changeSending(async () => {
      const link = this.peers.get(id);
      if (!link) return;
      for (const sender of link.pc.getSenders()) {
        if (sender.track?.kind !== "video") continue;
        const paused = sender.getParameters();
        if (!paused.encodings?.length || paused.encodings[0].active === false) continue;
        paused.encodings[0].active = false;
        await sender.setParameters(paused);
        // read afresh: nothing else changes what we send in between (one change at a time),
        // so this fails only if the connection closed meanwhile, with nothing left to send on
        const again = sender.getParameters();
        again.encodings[0].active = true;
        await sender.setParameters(again);
      }
    });
  }

  /** Restart ICE with ``id``; an offer of ours that was lost while they were away goes. */
  async restart(id) {
    const link = this.peers.get(id);
    if (!link) return;
    await this.settle(id);
    this.restarts += 1;
    link.pc.restartIce(); // perfect negotiation sends the new offer
  }

  /** Someone came back: an offer we sent while they were away never reached them. */
  async settle(id) {
    const link = this.peers.get(id);
    if (link && link.pc.signalingState === "have-local-offer") {
      await link.pc.setLocalDescription({ type: "rollback" });
    }
  }

  /** Someone left the room (or went back to the waiting room). */
  drop(id) {
    const link = this.peers.get(id);
    if (!link) return;
    link.pc.close();
    this.live?.disconnect(id);
    this.peers.delete(id);
    this.events.onGone(id);
    this.adaptSending();
  }

  closeAll() {
    for (const id of [...this.peers.keys()]) this.drop(id);
  }

  /** What this page's video may be at most (`cap`, from poorlink.js): applied at once. */
  setCap(cap) {
    this.cap = { ...this.cap, ...cap };
    return this.adaptSending();
  }

  /** What each video sender may send: the room's budget for as many people as we send to
   * (budget.js) and the cap a poor connection (or the person) set, the lower of the two; the
   * camera's video paused altogether for sound only. Read when the change runs, so a change
   * queued behind others applies the room as it is by then. */
  adaptSending() {
    return this.changeSending(async () => {
      const shared = new Set([...this.extra.values()].flatMap((s) => s.getVideoTracks()));
      const budget = budgetFor(this.peers.size, shared.size > 0);
      const free = { scale: 1, fps: 30, bitrate: null };
      for (const link of this.peers.values()) {
        for (const sender of link.pc.getSenders()) {
          if (sender.track?.kind !== "video") continue;
          const params = sender.getParameters();
          if (!params.encodings || params.encodings.length === 0) continue;
          const share = shared.has(sender.track);
          const room = this.budgeted ? (share ? budget.share : budget.camera) : free;
          const most = lower(room, this.cap);
          const encoding = params.encodings[0];
          encoding.scaleResolutionDownBy = most.scale;
          encoding.maxFramerate = most.fps;
          if (most.bitrate) encoding.maxBitrate = most.bitrate;
          else delete encoding.maxBitrate;
          // sound only: the camera's video is not sent at all (a share still is)
          encoding.active = !(this.cap.paused && !share);
          await sender.setParameters(params).catch(() => {}); // a closed connection: nothing to adapt
        }
      }
    });
  }

  /** Send the server the latest measures of each link (kept for the session's record). */
  report(quality) {
    for (const [id, q] of Object.entries(quality)) {
      if (!this.peers.has(id)) continue;
      const rtt = q.rtt === null ? null : Math.round(q.rtt * 1000);
      this.signalling.send({
        type: "quality",
        peer: id,
        rtt_ms: rtt,
        loss: Math.min(1, Math.max(0, q.loss)),
      });
    }
  }

  /** Round-trip time, packet loss and frame rate for each peer, from getStats. */
  async quality() {
    const result = {};
    for (const [id, link] of this.peers) {
      const stats = await link.pc.getStats();
      let rtt = null,
        lost = 0,
        received = 0,
        sendLoss = 0,
        fps = null,
        decoded = 0;
      stats.forEach((report) => {
        if (
          report.type === "candidate-pair" &&
          report.nominated &&
          report.currentRoundTripTime !== undefined
        ) {
          rtt = report.currentRoundTripTime;
        }
        // what the far side reports of what this page sends it: the share of packets lost
        // in its last report (RTCP), and the round trip that report measured
        if (report.type === "remote-inbound-rtp") {
          sendLoss = Math.max(sendLoss, report.fractionLost || 0);
          if (rtt === null && report.roundTripTime !== undefined) rtt = report.roundTripTime;
        }
        if (report.type === "inbound-rtp") {
          lost += report.packetsLost || 0;
          received += report.packetsReceived || 0;
          if (report.kind === "video") {
            fps = report.framesPerSecond ?? fps;
            decoded = report.framesDecoded || 0;
          }
        }
      });
      const loss = received + lost > 0 ? lost / (received + lost) : 0;
      result[id] = {
        rtt,
        loss,
        fps,
        framesDecoded: decoded,
        state: link.pc.connectionState,
        // counts since the connection began, so that a watcher can take the last second's
        packetsLost: lost,
        packetsReceived: received,
        sendLoss,
      };
    }
    return result;
  }
}
