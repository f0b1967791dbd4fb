// The practice page: the camera and microphone check as the join page does it (devices.js),
// the same camera shown in the room's preview tile, and the quick exit. No socket and no
// request of its own: nothing leaves the page, and nothing is kept on the device.

import { Devices, levelMeter } from "./devices.js";
import { localMedia } from "./room.js";

const start = document.getElementById("device-start");
const stop = document.getElementById("device-stop");
const check = document.getElementById("device-check");
const none = document.getElementById("device-none");
const preview = document.getElementById("preview");
const meter = document.getElementById("mic-level");
const hidePreview = document.getElementById("hide-preview");
const selfTile = document.getElementById("preview-self-tile");
const selfVideo = document.getElementById("preview-self");

let stream = null;
let meterContext = null;
const devices = new Devices({
  getStream: () => stream,
  onChange: (kind) => {
    if (kind === "audio") showLevel(); // the bar follows the microphone chosen
  },
});

function showLevel() {
  meterContext?.close();
  meterContext = null;
  if (stream?.getAudioTracks().length) meterContext = levelMeter(stream, meter, () => !!stream);
}

/** Ask for the camera and microphone, and show them: in the check and in the room's tile. */
async function handleStart() {
  start.disabled = true;
  stream = await localMedia();
  start.disabled = false;
  if (!stream) {
    none.hidden = false;
    return;
  }
  none.hidden = true;
  start.hidden = true;
  check.hidden = false;
  preview.srcObject = stream;
  selfVideo.srcObject = stream;
  selfTile.classList.add("live");
  showLevel();
  devices.refresh();
  stop.focus();
}

/** Let the camera and microphone go: the check ends as it began. */
function handleStop() {
  release();
  check.hidden = true;
  start.hidden = false;
  start.focus();
}

function release() {
  if (stream) for (const track of stream.getTracks()) track.stop();
  stream = null;
  meterContext?.close();
  meterContext = null;
  preview.srcObject = null;
  selfVideo.srcObject = null;
  selfTile.classList.remove("live");
}

function handleHidePreview() {
  preview.hidden = hidePreview.checked;
  selfTile.classList.toggle("hidden-self", hidePreview.checked);
}

function quickExit() {
  release();
  location.replace("/away"); // the practice page leaves the history too
}

function main() {
  devices.place(document.querySelector('[data-devices="check"]'), "check");
  start.addEventListener("click", handleStart);
  stop.addEventListener("click", handleStop);
  hidePreview.addEventListener("change", handleHidePreview);
  for (const button of document.querySelectorAll("[data-quick-exit]"))
    button.addEventListener("click", quickExit);
  window.addEventListener("pagehide", release);
}

main();
