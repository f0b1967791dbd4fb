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

from playwright.sync_api import sync_playwright

from tests.bench.cpu import cpu_seconds
from tests.bench.mesh_roster import ROSTER, Member, Room, fill
from tests.bench.report import summary, write
from tests.bench.server import bench_server

# what a page sends and receives so far, from every peer connection of its mesh; ``tiles``:
# video frames decoded from each person (their camera: nobody shares in this benchmark)
STATS = """async () => {
  const mesh = window.playroom.mesh;
  const out = { at: performance.now(), sent: 0, received: 0, tiles: {}, outbound: [], limits: [] };
  if (!mesh) return out;
  for (const [id, link] of mesh.peers) {
    (await link.pc.getStats()).forEach((r) => {
      if (r.type === "outbound-rtp") {
        out.sent += (r.bytesSent || 0) + (r.headerBytesSent || 0);
        if (r.kind === "video")
          out.outbound.push({ to: id, frames: r.framesEncoded || 0, width: r.frameWidth || 0,
            limited: r.qualityLimitationDurations || {} });
      }
      if (r.type === "inbound-rtp") {
        out.received += (r.bytesReceived || 0) + (r.headerBytesReceived || 0);
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
# each sending page lowers what it sends as the room grows, or not (full size, 30 frames a
# second, the browser's own bitrate), from now on
BUDGETED = (
    "(on) => { const mesh = window.playroom.mesh; mesh.budgeted = on; return mesh.adaptSending(); }"
)
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
    for member, a, b in zip(room.members, before["members"], after["members"], strict=True):
        span = b["at"] - a["at"]
        cpu = {
            pid: (kind, used - a["cpu"].get(pid, (kind, 0.0))[1])
            for pid, (kind, used) in b["cpu"].items()
        }
        mine = sum(used for kind, used in cpu.values() if kind == "renderer") / span
        everything = sum(used for _, used in cpu.values()) / span
        ms = (b["stats"]["at"] - a["stats"]["at"]) / 1000
        up = (b["stats"]["sent"] - a["stats"]["sent"]) * 8 / 1000 / ms
        down = (b["stats"]["received"] - a["stats"]["received"]) * 8 / 1000 / ms
        fps = {
            who: (frames - a["stats"]["tiles"].get(who, 0)) / ms
            for who, frames in b["stats"]["tiles"].items()
        }
        earlier = {o["to"]: o for o in a["stats"]["outbound"]}
        for out in b["stats"]["outbound"]:
            was = earlier.get(out["to"], {"frames": 0, "limited": {}})
            encoded.append((out["frames"] - was["frames"]) / ms)
            widths.append(out["width"])
            for why, spent in out["limited"].items():
                limited[why] = limited.get(why, 0.0) + spent - was["limited"].get(why, 0.0)
        for limit in b["stats"]["limits"]:
            key = "scale {}, {} fps, {} bit/s".format(*limit)
            limits[key] = limits.get(key, 0) + 1
        renderer.append(mine)
        whole.append(everything)
        sent.append(up)
        received.append(down)
        tiles += fps.values()
        pages.append(
            {
                "role": member.role,
                "renderer_cpu_cores": round(mine, 3),
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
        "sent_kbit_s": summary(sent),
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
        "pages": pages,
    }


def connected(room: Room, timeout_s: float = 60.0) -> float:
    """Wait until every page decodes the video of everyone who sends; returns how long."""
    began = time.monotonic()
    for member in room.members:
        ids = [m.id for m in room.members if m.sends and m is not member]
        member.page.wait_for_function(SHOWING, arg=ids, polling=250, timeout=timeout_s * 1000)
    return time.monotonic() - began


def main(size: int, seconds: float, settle: float) -> dict[str, Any]:
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
                figures["connected_after_filling_s"] = round(connected(room), 1)
                # on, off, on again: a drift of the shared machine shows as the two "on" differing
                for phase, budgeted in PHASES:
                    for member in room.members:
                        if member.sends:
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
        for key in ("renderer_cpu_cores", "sent_kbit_s", "decoded_fps_a_tile")
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
