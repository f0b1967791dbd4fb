"""A copy of the board that follows the server's changes, as a page does: for tests, the
benchmarks' clients and the fuzzing of the board."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from media.changes import NO_SETTINGS
from server.exceptions import BoardError


class Replica:
    """A copy of the board that follows the server's changes (what a page does)."""

    def __init__(self, snapshot: dict[str, Any] | None = None) -> None:
        self.seq = 0
        self.elements: dict[str, dict[str, Any]] = {}
        self.settings: dict[str, Any] = dict(NO_SETTINGS)
        if snapshot is not None:
            self.load(snapshot)

    def load(self, snapshot: dict[str, Any]) -> None:
        self.seq = int(snapshot["seq"])
        self.elements = {e["id"]: json.loads(json.dumps(e)) for e in snapshot["elements"]}
        said = snapshot.get("settings") or {}  # a room's snapshot says more (who may clear)
        self.settings = {key: said.get(key, value) for key, value in NO_SETTINGS.items()}

    def receive(self, seq: int, changes: Sequence[Mapping[str, Any]]) -> None:
        """Apply the changes of operation ``seq``; old or repeated ones are ignored."""
        if seq <= self.seq:
            return
        if seq != self.seq + 1:
            raise BoardError("gap", f"missed operations {self.seq + 1} to {seq - 1}")
        for change in changes:
            if "set" in change:
                element = json.loads(json.dumps(change["set"]))
                self.elements[element["id"]] = element
            elif "points" in change:
                self.elements[change["points"]]["points"].extend(change["add"])
            elif "finished" in change:
                self.elements[change["finished"]]["finished"] = True
            elif "visible" in change:
                self.elements[change["visible"]]["visible"] = change["value"]
            elif "offset" in change:
                element = self.elements[change["offset"]]
                element["dx"], element["dy"] = change["dx"], change["dy"]
            elif "place" in change:
                self.elements[change["place"]]["place"] = dict(change["to"])
            elif "locked" in change:
                self.elements[change["locked"]]["locked"] = change["value"]
            elif "order" in change:
                ids = [i for i in self.elements if i != change["order"]]
                ids.insert(change["index"], change["order"])
                self.elements = {i: self.elements[i] for i in ids}
            elif "background" in change:
                self.settings["background"] = change["background"]
            elif "library_hidden" in change:
                self.settings["library_hidden"] = change["library_hidden"]
        self.seq = seq

    def snapshot(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "elements": list(self.elements.values()),
            "settings": dict(self.settings),
        }
