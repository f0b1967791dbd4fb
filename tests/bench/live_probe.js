// Timing of the board's live movement, for tests/bench/bench_live.py. Never served: the
// benchmark puts it into a page of a test server (window.playroom, PLAYROOM_TEST_HOOKS) with
// page.evaluate, once the page is in the room. It wraps the page's own live path, on the same
// objects the page calls, so nothing it does changes: on the way out, the hand's update
// (Live.send), the display frame that sends it over the peer channels (Live.flush, the
// updates it takes) and the `live` frame on the socket (Signalling.send); on the way in, the
// arrival (Live.receive, Live.handleRelayed), the board's check and keeping of it
// (BoardView.showLive, true when shown) and the drawing that shows it (BoardView.render).
// Each update is known by a key its receiver can make too: `m id x y` for an item's place,
// `p id x y` for each point of a stroke. Times are the page's clock in ms since the epoch
// (performance.timeOrigin + performance.now()), the first time each key passed each step.
() => {
  const playroom = window.playroom;
  const live = playroom.signalling.live;
  const board = playroom.board;
  const now = () => performance.timeOrigin + performance.now();
  const keys = (u) => {
    if (u?.kind === "move") return [`m ${u.id} ${u.x} ${u.y}`];
    if (u?.kind === "points" && Array.isArray(u.points))
      return u.points.map((p) => `p ${u.id} ${p[0]} ${p[1]}`);
    return [];
  };
  const blank = () => ({
    hand: {}, // Live.send: the hand's update
    frame: {}, // Live.flush took it: the display frame after the hand's
    peer: {}, // ...and had sent it on the peer channel
    socket: {}, // the `live` frame carrying it went on the socket
    arrived: {}, // Live.receive / handleRelayed began
    shown: {}, // BoardView.showLive checked and kept it
    drawn: {}, // the end of the BoardView.render that drew it first
    renders: [], // [start, end] of each render
  });
  const probe = { t: blank(), arriving: null, taken: [], undrawn: [] };
  const note = (table, list, t) => {
    for (const k of list) if (!(k in table)) table[k] = t;
  };

  const send = live.send.bind(live);
  live.send = (update) => {
    note(probe.t.hand, keys(update), now());
    send(update);
  };
  const take = live.toPeers.take.bind(live.toPeers);
  live.toPeers.take = () => {
    const t = now();
    probe.taken = take();
    for (const u of probe.taken) note(probe.t.frame, keys(u), t);
    return probe.taken;
  };
  const flush = live.flush.bind(live);
  live.flush = () => {
    probe.taken = [];
    const before = live.counts.sent.peer;
    flush();
    if (live.counts.sent.peer === before) return;
    const t = now();
    for (const u of probe.taken) note(probe.t.peer, keys(u), t);
  };
  const signal = playroom.signalling.send.bind(playroom.signalling);
  playroom.signalling.send = (message) => {
    const out = signal(message);
    if (message?.type === "live") {
      const t = now();
      for (const u of message.messages) note(probe.t.socket, keys(u), t);
    }
    return out;
  };

  const arrive =
    (inner) =>
    (...args) => {
      probe.arriving = now();
      try {
        return inner(...args);
      } finally {
        probe.arriving = null;
      }
    };
  live.receive = arrive(live.receive.bind(live));
  live.handleRelayed = arrive(live.handleRelayed.bind(live));
  const showLive = board.showLive.bind(board);
  board.showLive = (message, from) => {
    const shown = showLive(message, from);
    if (shown) {
      const t = now();
      const list = keys(message);
      note(probe.t.arrived, list, probe.arriving ?? t);
      note(probe.t.shown, list, t);
      probe.undrawn.push(...list);
    }
    return shown;
  };
  const render = board.render.bind(board);
  board.render = () => {
    const start = now();
    render();
    const end = now();
    probe.t.renders.push([start, end]);
    note(probe.t.drawn, probe.undrawn, end);
    probe.undrawn = [];
  };

  /** The display's frames on this page: the times between requestAnimationFrame callbacks
   * over `ms`, to set beside the wait for the next frame. */
  probe.frames = (ms) =>
    new Promise((resolve) => {
      const times = [];
      const tick = (t) => {
        times.push(t);
        if (t - times[0] < ms) requestAnimationFrame(tick);
        else resolve(times.slice(1).map((u, i) => u - times[i]));
      };
      requestAnimationFrame(tick);
    });
  /** Everything noted since the last call, and a fresh start. */
  probe.take = () => {
    const taken = probe.t;
    probe.t = blank();
    return taken;
  };
  window.liveProbe = probe;
  return true;
};
