// What a page's video may be as the room grows. In a mesh every person's video is encoded
// and sent once for each other person, so both the page's upload and its encoders' work grow
// with the room: the budget keeps the camera's video within a total upload (TOTAL_BITS) and
// its encoding near what two people in full cost, by sending smaller, slower video to each
// as there are more of them. The figures, and why these, are in docs/performance.md
// ("A full room in Chromium"). No I/O here: mesh.js applies what these say.

// the most the camera's video sent to everyone together may take, in bits a second, and the
// most one person gets of it
export const TOTAL_BITS = 1_400_000;
export const MOST_BITS = 1_000_000;
// a shared screen counts as SHARE_WEIGHT cameras in the budget: its text must stay sharp
const SHARE_WEIGHT = 2;

// by how many people the page sends to (at most `upTo`): shrunk by `scale` (640 × 480 from
// the camera: 512 × 384, then 320 × 240) and at most `fps` frames a second
const STEPS = [
  { upTo: 2, scale: 1, fps: 30 },
  { upTo: 3, scale: 1.25, fps: 24 },
  { upTo: 4, scale: 2, fps: 20 },
  { upTo: Number.POSITIVE_INFINITY, scale: 2, fps: 15 },
];

/**
 * @typedef {{scale: number, fps: number, bitrate: number | null}} Limit
 * the most a video sender may send: shrunk by `scale`, at most `fps` frames and `bitrate`
 * bits a second (null: as the browser likes)
 */

/**
 * What each video sender may send when the page sends to `peers` people, a shared screen
 * among what it sends or not.
 * @param {number} peers
 * @param {boolean} sharing
 * @returns {{camera: Limit, share: Limit}}
 */
export function budgetFor(peers, sharing = false) {
  const people = Math.max(1, peers);
  const step = STEPS.find((s) => people <= s.upTo) ?? STEPS[STEPS.length - 1];
  const unit = TOTAL_BITS / (people * (1 + (sharing ? SHARE_WEIGHT : 0)));
  const camera = Math.round(Math.min(MOST_BITS, unit));
  return {
    camera: { scale: step.scale, fps: step.fps, bitrate: camera },
    // a share keeps its size and frame rate (the browser drops frames before detail for
    // it, as its track asks): only its bits are budgeted
    share: { scale: 1, fps: 30, bitrate: Math.round(unit * SHARE_WEIGHT) },
  };
}

/**
 * The lower of two limits, each way: the larger shrinking, the fewer frames, the fewer bits.
 * @param {Limit} a
 * @param {Limit} b
 * @returns {Limit}
 */
export function lower(a, b) {
  const bits = [a.bitrate, b.bitrate].filter((x) => x !== null && x !== undefined);
  return {
    scale: Math.max(a.scale, b.scale),
    fps: Math.min(a.fps, b.fps),
    bitrate: bits.length ? Math.min(...bits) : null,
  };
}
