// What both sides of a room share: local media, video tiles, the controls and the timer.

import { floatTile } from "./tiles.js";

/** What the page keeps for its display; testhooks.js hands it to tests of what people see. */
export const state = {
  myId: null,
  firstFrame: {},
  frameGaps: {}, // peer id -> when frames came back after a pause of over half a second
  peerStates: [], // {participant, state, at}: what this page was told, and when
  resumes: 0, // how many times this page came back with its resume token
  admittedAt: {},
  quality: {},
  flags: [],
};

/** Camera and microphone, or whatever of them is available. */
export async function localMedia() {
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: 640, height: 480 },
    });
  } catch {
    try {
      return await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      return null;
    }
  }
}

/** Show a remote stream in its tile, made on first use. */
export function showStream(stage, id, name, stream) {
  let tile = stage.querySelector(`[data-peer="${CSS.escape(id)}"]`);
  if (!tile) {
    tile = document.createElement("figure");
    tile.className = "tile";
    tile.dataset.peer = id;
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    const caption = document.createElement("figcaption");
    caption.textContent = name;
    const quality = document.createElement("span");
    quality.className = "quality";
    caption.append(" ", quality);
    tile.append(video, caption);
    stage.append(tile);
    floatTile(stage, tile); // where the videos float over the board
    watchFirstFrame(video, id);
  }
  const video = tile.querySelector("video");
  if (video.srcObject !== stream) video.srcObject = stream;
  if (state.sinkId && video.sinkId !== state.sinkId) video.setSinkId(state.sinkId).catch(() => {});
  return tile;
}

function watchFirstFrame(video, id) {
  let last = 0;
  const record = () => {
    const now = performance.timeOrigin + performance.now();
    if (!(id in state.firstFrame)) state.firstFrame[id] = now;
    if (last && now - last > 500) {
      state.frameGaps[id] ||= [];
      state.frameGaps[id].push(now);
    }
    last = now;
  };
  if (!("requestVideoFrameCallback" in video)) {
    video.addEventListener("loadeddata", record, { once: true });
    return;
  }
  const each = () => {
    record();
    if (video.isConnected) video.requestVideoFrameCallback(each);
  };
  video.requestVideoFrameCallback(each);
}

export function removeTile(stage, id) {
  const tile = stage.querySelector(`[data-peer="${CSS.escape(id)}"]`);
  if (tile) tile.remove();
}

/** A toggle button: flips aria-pressed and calls ``apply(pressed)``. */
export function toggle(button, apply) {
  if (!button) return;
  button.addEventListener("click", () => {
    const pressed = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", String(pressed));
    apply(pressed);
  });
}

/** Mute, camera off and hide self-view, for everyone. */
export function mediaControls(stream, selfTile) {
  toggle(document.getElementById("mute"), (on) => {
    if (stream) for (const t of stream.getAudioTracks()) t.enabled = !on;
  });
  toggle(document.getElementById("camera"), (on) => {
    if (stream) for (const t of stream.getVideoTracks()) t.enabled = !on;
  });
  toggle(document.getElementById("hide-self"), (on) => {
    selfTile.hidden = on;
  });
}

/** A session timer (minutes:seconds since it started, for this person). */
export function startTimer(element) {
  const started = Date.now();
  setInterval(() => {
    const seconds = Math.floor((Date.now() - started) / 1000);
    element.textContent = `${String(Math.floor(seconds / 60)).padStart(2, "0")}:${String(seconds % 60).padStart(2, "0")}`;
  }, 1000);
}

export function say(element, text) {
  element.textContent = text;
}
