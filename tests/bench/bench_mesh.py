"""A full room in Chromium: as many real pages as the roles allow (``mesh_roster.py``; 6 by
default, the mesh's limit), each in a Chromium of its own with a fake camera and microphone,
all in one room; once every page shows every video it should, each page is measured for a
fixed time: the CPU its renderer used (where the page's WebRTC encodes and decodes) and its
whole Chromium's, the media it sent and received (``getStats``: outbound-rtp and inbound-rtp
bytes, headers included), and the frames it decoded a second of each remote video (a tile).
Twice in the same room: with each page lowering what it sends as the room grows
(``web/static/js/budget.js``), then with that turned off (``mesh.budgeted = false``: full
size, 30 frames a second, the browser's own bitrate), each after a settling time.

    python -m tests.bench.bench_mesh [--size 6] [--seconds 20] [--settle 10]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect, sync_playwright

from tests.bench.cpu import cpu_seconds
from tests.bench.mesh_roster import ROSTER, Member, Room, fill
from tests.bench.report import summary, write
from tests.bench.server import bench_server

# what a page sends and receives so far, from every peer connection of its mesh; ``tiles``:
# video frames decoded from each person (their camera: nobody shares in this benchmark)
STATS = """async () => {
  const mesh = window.playroom.mesh;
  const out = { at: performance.now(), sent: {}, received: {}, tiles: {}, outbound: [] };
  out.limits = [];
  if (!mesh) return out;
  for (const [id, link] of mesh.peers) {
    (await link.pc.getStats()).forEach((r) => {
      if (r.type === "outbound-rtp") {
        out.sent[id] = (out.sent[id] || 0) + (r.bytesSent || 0) + (r.headerBytesSent || 0);
        if (r.kind === "video")
          out.outbound.push({ to: id, frames: r.framesEncoded || 0, width: r.frameWidth || 0,
            limited: r.qualityLimitationDurations || {} });
      }
      if (r.type === "inbound-rtp") {
        out.received[id] =
          (out.received[id] || 0) + (r.bytesReceived || 0) + (r.headerBytesReceived || 0);
        if (r.kind === "video") out.tiles[id] = (out.tiles[id] || 0) + (r.framesDecoded || 0);
      }
    });
    for (const sender of link.pc.getSenders()) {
      if (sender.track?.kind !== "video") continue;
      const e = sender.getParameters().encodings?.[0] || {};
      out.limits.push([e.scaleResolutionDownBy ?? 1, e.maxFramerate ?? null, e.maxBitrate ?? null]);
    }
  }
  return out;
}"""
# every video the page should show has frames decoded, from the last reading (each poll
# starts the next: a predicate's promise is not waited for)
SHOWING = """(ids) => {
  const mesh = window.playroom.mesh;
  if (!mesh) return false;
  Promise.all(ids.map((id) => mesh.peers.get(id)?.pc.getStats())).then((all) => {
    window.benchDecoded = all.map((stats) => [...(stats?.values() ?? [])].some((r) =>
      r.type === "inbound-rtp" && r.kind === "video" && r.framesDecoded > 0));
  });
  const seen = window.benchDecoded || [];
  return seen.length === ids.length && seen.every(Boolean);
}"""
# each of a page's connections: whom to, its state, video frames decoded from them
STATES = """async () => {
  const states = [];
  for (const [id, link] of window.playroom.mesh?.peers ?? []) {
    let frames = 0;
    (await link.pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") frames += r.framesDecoded || 0;
    });
    states.push(`${id} ${link.pc.connectionState} ${frames} frames`);
  }
  return states.join(", ");
}"""
# each sending page lowers what it sends as the room grows, or not (full size, 30 frames a
# second, the browser's own bitrate), from now on
BUDGETED = (
    "(on) => { const mesh = window.playroom.mesh; mesh.budgeted = on; return mesh.adaptSending(); }"
)
# poorlink.js held at its first step (everything), so that what is measured is the room's
# budget alone: on a machine this busy the pages' own measures read as a poor line (a late
# RTCP report is a long round trip) and would step every page down to its lowest, on or off;
# returns the steps it had taken before
HOLD_POOR_LINK = """() => {
  const poor = window.playroom.poorLink;
  if (!poor) return [];
  poor.settings.downAfter = Number.POSITIVE_INFINITY;
  poor.level = 0;
  poor.apply();
  return poor.steps.map((s) => s.mode);
}"""
PHASES = [("lowering_on", True), ("lowering_off", False), ("lowering_on_again", True)]


def processes(member: Member) -> dict[int, tuple[str, float]]:
    """Each process of the member's Chromium: its type and CPU seconds so far."""
    session = member.browser.new_browser_cdp_session()
    try:
        info = session.send("SystemInfo.getProcessInfo")["processInfo"]
    finally:
        session.detach()
    return {p["id"]: (p["type"], float(p["cpuTime"])) for p in info}


def machine_busy() -> tuple[float, float]:
    """Busy and total jiffies of every CPU so far (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def grown(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """How much each counter grew; one that went down belongs to a connection made again
    meanwhile, and counts from nothing."""
    return {k: v - before.get(k, 0) if v >= before.get(k, 0) else v for k, v in after.items()}


def reading(room: Room) -> dict[str, Any]:
    return {
        "members": [
            {"cpu": processes(m), "stats": m.page.evaluate(STATS), "at": time.monotonic()}
            for m in room.members
        ],
        "server": cpu_seconds(room.server.proc.pid),
        "machine": machine_busy(),
        "at": time.monotonic(),
    }


def measure(room: Room, seconds: float) -> dict[str, Any]:
    """Each page over ``seconds``: CPU, bandwidth, decoded frames a second a tile."""
    before = reading(room)
    time.sleep(seconds)  # the measuring window itself
    after = reading(room)
    pages, renderer, whole, sent, received, tiles, widths, encoded = [], [], [], [], [], [], [], []
    limited: dict[str, float] = {}  # seconds of encoding limited by each reason, all streams
    limits: dict[str, int] = {}  # the senders' encodings as set, and how many of each
    per_frame: list[float] = []  # renderer CPU ms a frame encoded or decoded, a page
    replaced = 0  # connections gone or made again within the window (a drop, a resume)
    for member, a, b in zip(room.members, before["members"], after["members"], strict=True):
        span = b["at"] - a["at"]
        cpu = {
            pid: (kind, used - a["cpu"].get(pid, (kind, 0.0))[1])
            for pid, (kind, used) in b["cpu"].items()
        }
        mine = sum(used for kind, used in cpu.values() if kind == "renderer") / span
        everything = sum(used for _, used in cpu.values()) / span
        secs = (b["stats"]["at"] - a["stats"]["at"]) / 1000  # the page's own clock
        up = sum(grown(a["stats"]["sent"], b["stats"]["sent"]).values()) * 8 / 1000 / secs
        down = sum(grown(a["stats"]["received"], b["stats"]["received"]).values()) * 8 / 1000 / secs
        fps = {who: n / secs for who, n in grown(a["stats"]["tiles"], b["stats"]["tiles"]).items()}
        replaced += sum(b["stats"]["sent"].get(who, 0) < n for who, n in a["stats"]["sent"].items())
        earlier = {o["to"]: o for o in a["stats"]["outbound"]}
        frames = sum(fps.values()) * secs
        for out in b["stats"]["outbound"]:
            was = earlier.get(out["to"], {"frames": 0, "limited": {}})
            if out["frames"] < was["frames"]:
                was = {"frames": 0, "limited": {}}  # a fresh connection: counted from nothing
            encoded.append((out["frames"] - was["frames"]) / secs)
            frames += out["frames"] - was["frames"]
            widths.append(out["width"])
            for why, spent in out["limited"].items():
                limited[why] = limited.get(why, 0.0) + spent - was["limited"].get(why, 0.0)
        for limit in b["stats"]["limits"]:
            key = "scale {}, {} fps, {} bit/s".format(*limit)
            limits[key] = limits.get(key, 0) + 1
        renderer.append(mine)
        if frames:
            per_frame.append(mine * span * 1000 / frames)
        whole.append(everything)
        if member.sends:
            sent.append(up)
        received.append(down)
        tiles += fps.values()
        pages.append(
            {
                "role": member.role,
                "renderer_cpu_cores": round(mine, 3),
                "renderer_cpu_ms_a_frame": round(mine * span * 1000 / frames, 2)
                if frames
                else None,
                "chromium_cpu_cores": round(everything, 3),
                "sent_kbit_s": round(up, 1),
                "received_kbit_s": round(down, 1),
                "tiles_fps": [round(f, 1) for f in fps.values()],
            }
        )
    span = after["at"] - before["at"]
    busy = after["machine"][0] - before["machine"][0]
    total = after["machine"][1] - before["machine"][1]
    return {
        "renderer_cpu_cores": summary(renderer),
        "chromium_cpu_cores": summary(whole),
        # on a machine whose CPUs are all busy, the work a frame costs says more than the CPU
        # a page got: every frame encoded (for each person) or decoded (from each)
        "renderer_cpu_ms_a_frame": summary(per_frame) if per_frame else None,
        "sent_kbit_s": summary(sent),  # by the pages that send (observers send nothing)
        "received_kbit_s": summary(received),
        "decoded_fps_a_tile": summary(tiles) if tiles else None,
        "encoded_fps_a_stream": summary(encoded) if encoded else None,
        "sent_width_px": summary([float(w) for w in widths]) if widths else None,
        # the share of the encoders' time the browser itself held back, and why (its own
        # adaptation to CPU or bandwidth, beyond what the page asked)
        "encoding_time_limited_by": {
            why: round(spent / sum(limited.values()), 3)
            for why, spent in limited.items()
            if sum(limited.values())
        },
        "sender_encodings": limits,
        "all_chromiums_cpu_cores": round(sum(whole), 2),
        "server_cpu_cores": round((after["server"] - before["server"]) / span, 3),
        "machine_busy": round(busy / total, 3) if total else None,
        "connections_replaced": replaced,
        "pages": pages,
    }


def connected(room: Room, timeout_s: float = 120.0) -> list[str]:
    """Wait until every page decodes the video of everyone who sends, for ``timeout_s`` in
    all; returns what is still missing then (a page, whom it does not see, its connections'
    states), so that a room that did not fully connect is measured and says so."""
    deadline = time.monotonic() + timeout_s
    missing = []
    for member in room.members:
        ids = [m.id for m in room.members if m.sends and m is not member]
        try:
            left = max(1.0, deadline - time.monotonic()) * 1000
            member.page.wait_for_function(SHOWING, arg=ids, polling=250, timeout=left)
        except PlaywrightTimeout:
            states = member.page.evaluate(STATES)
            missing.append(f"{member.role} {member.id}: {states}")
    return missing


def main(size: int, seconds: float, settle: float) -> dict[str, Any]:
    # six Chromiums on a small machine: a page may take longer than the tests' 5 s to show
    expect.set_options(timeout=30_000)
    server = bench_server()
    figures: dict[str, Any] = {"size_asked": size}
    try:
        with sync_playwright() as playwright:
            room = Room(playwright, server)
            try:
                began = time.monotonic()
                short = fill(room, size)
                figures["size_reached"] = len(room.members)
                figures["roles"] = [m.role for m in room.members]
                if short:
                    figures["stopped_short"] = short
                figures["filled_s"] = round(time.monotonic() - began, 1)
                began = time.monotonic()
                missing = connected(room)
                figures["connected_after_filling_s"] = round(time.monotonic() - began, 1)
                if missing:
                    figures["not_showing_every_video"] = missing
                # on, off, on again: a drift of the shared machine shows as the two "on" differing
                for phase, budgeted in PHASES:
                    for member in room.members:
                        if member.sends:
                            steps = member.page.evaluate(HOLD_POOR_LINK)
                            if steps:
                                held = figures.setdefault("poor_link_steps_held", {})
                                held[f"{member.role} {member.id}"] = ", ".join(steps)
                            member.page.evaluate(BUDGETED, budgeted)
                    time.sleep(settle)  # encoders and bandwidth estimates settle
                    figures[phase] = measure(room, seconds)
                version = room.members[0].browser.version
            finally:
                room.close()
    finally:
        server.stop()
    figures["window_s"] = seconds
    figures["settle_s"] = settle
    figures["compare"] = [
        {
            "label": f"{key}, lowering on",
            "playroom": f"lowering_on/{key}",
            "peer": f"lowering_off/{key}",
            "peer_name": "lowering off",
        }
        for key in ("renderer_cpu_ms_a_frame", "sent_kbit_s", "decoded_fps_a_tile")
    ]
    path = write("full_room_chromium", figures, {"chromium": version})
    print(f"wrote {path}")
    for phase, _ in PHASES:
        f = figures[phase]
        tiles = f["decoded_fps_a_tile"] or {"median": 0.0}
        print(
            f"{phase}: renderer CPU median {f['renderer_cpu_cores']['median']:.2f} of a core,"
            f" sent {f['sent_kbit_s']['median']:.0f} kbit/s, received"
            f" {f['received_kbit_s']['median']:.0f}, tiles {tiles['median']:.1f} fps,"
            f" machine busy {f['machine_busy']},"
            f" encoding limited by {f['encoding_time_limited_by']},"
            f" senders {f['sender_encodings']}"
        )
    print(f"room of {figures['size_reached']} ({', '.join(figures['roles'])})")
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=len(ROSTER), help="pages in the room")
    parser.add_argument("--seconds", type=float, default=20.0, help="each measuring window")
    parser.add_argument("--settle", type=float, default=10.0, help="before each window")
    args = parser.parse_args()
    started = time.monotonic()
    main(args.size, args.seconds, args.settle)
    print(f"took {time.monotonic() - started:.0f} s")
