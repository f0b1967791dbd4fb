"""The sand tray's library: at least 1,000 miniatures on the shelves children reach for, found
by name, served as safe SVG, drawn on the exported PNG, refused when unknown, and credited."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from PIL import Image

from media import miniatures, shelves, stickers
from media.board import Board
from media.ops import parse_op
from media.render import render_png
from server.app import create_app
from server.exceptions import BoardError, ConfigurationError
from server.settings import Settings

SVG = "{http://www.w3.org/2000/svg}svg"
SHELVES = {
    "people", "families", "jobs", "feelings", "animals", "monsters", "buildings", "vehicles",
    "nature", "paths", "things", "food", "toys",
}  # fmt: skip


@pytest.mark.hazard("HZ-15")
def test_the_shelves_hold_over_a_thousand_miniatures_that_all_exist() -> None:
    lib = miniatures.library()
    assert lib.version == "1.2.6"
    assert len(lib.labels) >= 1000  # distinct names, however many shelves each is on
    assert {shelf.id for shelf in lib.shelves} == SHELVES
    assert lib.missing == ()  # every name the shelves ask for is in the set
    for shelf in lib.shelves:
        assert shelf.names, shelf.id
        assert len(set(shelf.names)) == len(shelf.names), shelf.id
        assert shelf.short.lower() in shelf.label.lower()  # a tab's text is in its name
        assert miniatures.exists(shelf.icon)
        for name in shelf.names:
            assert miniatures.exists(name), name
            assert not (name in lib.icons and lib.icons[name].hidden), name
    people = next(shelf for shelf in lib.shelves if shelf.id == "people").names
    for age in ("baby", "child", "girl", "boy", "person", "woman", "man", "older-person"):
        assert all(f"{age}-{tone}" in people for tone in shelves.TONES), age
    monsters = next(shelf for shelf in lib.shelves if shelf.id == "monsters").names
    for creature in ("dragon", "unicorn", "ghost", "ogre", "goblin", "troll", "alien", "skull"):
        assert creature in monsters
    assert "person-zombie" in monsters and "woman-vampire-dark" in monsters
    on_shelves = set(lib.labels)
    assert not any(name.startswith(("keycap-", "japanese-")) for name in on_shelves - {
        "japanese-castle", "japanese-dolls"
    })  # fmt: skip
    assert "middle-finger" not in on_shelves and "rainbow-flag" not in on_shelves


def test_labels_are_what_people_say() -> None:
    assert miniatures.label("old-woman-medium") == "older woman, medium skin tone"
    assert miniatures.label("man-technologist-medium-dark") == (
        "man technologist, medium-dark skin tone"
    )
    assert miniatures.label("person-red-hair-light") == "person with red hair, light skin tone"
    assert miniatures.label("woman-merpeople") == "mermaid"
    assert miniatures.label("mans-shoe") == "man's shoe"
    assert miniatures.label("police-car-light") == "police car light"  # a light, not a tone


def test_search_finds_by_words_of_name_label_and_shelf_and_is_bounded() -> None:
    assert miniatures.search("dragon")[:2] == ["dragon", "dragon-face"]
    assert miniatures.search("Dragons") == miniatures.search("dragon")
    older = miniatures.search("  OLDER woman ")
    assert older[0] == "old-woman"
    assert set(older) == {"old-woman", *(f"old-woman-{tone}" for tone in shelves.TONES)}
    assert miniatures.search("older woman dark") == ["old-woman-dark", "old-woman-medium-dark"]
    assert "brick" in miniatures.search("fences")  # by the shelf's name
    assert miniatures.search("") == [] and miniatures.search("!!!") == []
    assert miniatures.search("zzzzqx") == []
    assert len(miniatures.search("a", limit=10_000)) == miniatures.SEARCH_LIMIT
    assert len(miniatures.search("man", limit=5)) == 5
    assert miniatures.search("x" * 100_000) == []  # only the first characters are read


def test_every_miniature_is_a_standalone_svg_document_with_nothing_but_drawing() -> None:
    lib = miniatures.library()
    for name in [*lib.icons, *stickers.NAMES]:
        root = ET.fromstring(miniatures.svg(name))  # noqa: S314 - our own document
        assert root.tag == SVG, name
        assert len(root.get("viewBox", "").split()) == 4, name
    assert 'viewBox="0 0 32 33"' in miniatures.svg("swan")
    flipped = miniatures.svg("backhand-index-pointing-right")  # an alias, mirrored
    assert "scale(-1 1)" in flipped
    with pytest.raises(KeyError):
        miniatures.svg("no-such-miniature")


@pytest.mark.parametrize(
    "body",
    [
        "<script>alert(1)</script>",
        '<path d="M0 0" onload="alert(1)"/>',
        '<path d="M0 0" ONLOAD = "alert(1)"/>',
        '<use href="https://example.org/x.svg#a"/>',
        '<use href="data:image/svg+xml,x"/>',
        '<path fill="url(https://example.org/x)"/>',
        "<foreignObject><p>x</p></foreignObject>",
        '<image href="#a"/>',
        '<path d="M0" style="fill:red"/>',
        '<!DOCTYPE x [<!ENTITY a "b">]><path d="&a;"/>',
        '<a href="#a"><path d="M0 0"/></a>',
    ],
)
@pytest.mark.hazard("HZ-15")
def test_a_body_that_could_run_or_load_anything_is_never_drawn(body: str) -> None:
    assert not miniatures._safe(body)


@pytest.mark.hazard("HZ-16")
def test_the_old_drawings_stay_placeable_and_drawn() -> None:
    assert len(stickers.NAMES) == 19
    for name in stickers.NAMES:
        assert miniatures.exists(name)
        parse_op({"op": "sticker", "id": "s", "name": name, "x": 1, "y": 1})
    assert "family" in next(s for s in miniatures.shelves() if s.id == "families").names
    # a name both have is drawn as the library draws it
    assert miniatures.svg("cat") != stickers.FOLDER.joinpath("cat.svg").read_text()
    assert miniatures.svg("ball") == stickers.FOLDER.joinpath("ball.svg").read_text()


def test_a_sticker_the_library_does_not_have_is_refused_by_the_board() -> None:
    longest = "person-in-motorized-wheelchair-facing-right-medium-light"
    op = parse_op({"op": "sticker", "id": "s", "name": longest, "x": 1, "y": 1})
    assert op.name == longest  # type: ignore[union-attr]
    for name in ("no-such-thing", "flag-united-kingdom", "../../etc/passwd", "Dragon", "a" * 65):
        with pytest.raises(BoardError) as refused:
            parse_op({"op": "sticker", "id": "s", "name": name, "x": 1, "y": 1})
        assert refused.value.code in ("bad_op", "unknown_sticker"), name  # malformed, or unknown
    with pytest.raises(BoardError, match="There is no such sticker"):
        parse_op(json.dumps({"op": "sticker", "id": "s", "name": "no-such-thing", "x": 1, "y": 1}))


@pytest.mark.hazard("HZ-16")
def test_a_board_with_a_miniature_exports_it_on_the_png() -> None:
    board = Board()
    op = parse_op({"op": "sticker", "id": "s", "name": "dragon", "x": 400, "y": 300, "scale": 1})
    board.check("therapist", op, may_clear=True)
    board.apply("therapist", op)
    image = Image.open(io.BytesIO(render_png(board.snapshot()["elements"], lambda _: None)))
    inside = image.convert("RGB").crop((400, 300, 560, 460))
    drawn = sum(1 for pixel in inside.get_flattened_data() if pixel != (255, 255, 255))
    assert drawn > 160 * 160 // 5  # a fifth of its square at least is the dragon
    assert image.convert("RGB").getpixel((200, 200)) == (255, 255, 255)


async def test_the_catalogue_is_public_small_and_without_pictures(client: TestClient) -> None:
    resp = await client.get("/miniatures/catalogue.json", headers={"Accept-Encoding": "gzip"})
    assert resp.status == 200 and resp.content_type == "application/json"
    assert resp.headers.get("Content-Encoding") == "gzip"
    assert "Set-Cookie" not in resp.headers
    body = await resp.read()
    assert b"<svg" not in body and b"<path" not in body
    catalogue = json.loads(body)
    assert catalogue["version"] == miniatures.revision()
    assert catalogue["image"] == f"/miniatures/{{name}}.svg?v={miniatures.revision()}"
    items = {name: label for shelf in catalogue["shelves"] for name, label in shelf["items"]}
    assert len(items) >= 1000
    assert items["old-woman-medium"] == "older woman, medium skin tone"
    assert [s["id"] for s in catalogue["shelves"]][0] == "people"
    assert all({"id", "label", "short", "icon", "items"} == set(s) for s in catalogue["shelves"])


async def test_search_is_served_and_bounded(client: TestClient) -> None:
    resp = await client.get("/miniatures/search", params={"q": "older woman", "limit": "3"})
    assert resp.status == 200
    found = await resp.json()
    assert found["items"][0] == ["old-woman", "older woman"] and len(found["items"]) == 3
    for limit in ("0", "61", "many"):
        resp = await client.get("/miniatures/search", params={"q": "cat", "limit": limit})
        assert resp.status == 400, limit
    assert (await (await client.get("/miniatures/search")).json())["items"] == []


@pytest.mark.hazard("HZ-15")
async def test_a_miniature_is_served_as_svg_that_can_run_nothing(client: TestClient) -> None:
    resp = await client.get("/miniatures/dragon.svg", params={"v": miniatures.revision()})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "image/svg+xml"
    policy = resp.headers["Content-Security-Policy"]
    assert (
        policy.startswith("default-src 'none'; style-src 'unsafe-inline'") and "sandbox" in policy
    )
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "geolocation=()" in resp.headers["Permissions-Policy"]
    assert "Set-Cookie" not in resp.headers
    assert await resp.text() == miniatures.svg("dragon")
    # without the current revision: a day, not a year
    for params in ({}, {"v": "0.0.0"}):
        resp = await client.get("/miniatures/sun.svg", params=params)
        assert resp.status == 200 and resp.headers["Cache-Control"] == "public, max-age=86400"
    resp = await client.head("/miniatures/dragon.svg")
    assert resp.status == 200 and resp.headers["Content-Length"] == str(
        len(miniatures.svg("dragon"))
    )
    assert await resp.read() == b""
    resp = await client.get("/miniatures/happy-face.svg")  # an old drawing
    assert resp.status == 200 and await resp.text() == miniatures.svg("happy-face")


@pytest.mark.parametrize(
    "path",
    [
        "/miniatures/no-such-thing.svg",
        "/miniatures/Dragon.svg",
        "/miniatures/dragon.png",
        f"/miniatures/{'a' * 65}.svg",
        "/miniatures/..%2F..%2Fetc%2Fpasswd.svg",
        "/miniatures/%2e%2e/%2e%2e/pyproject.svg",
        "/miniatures/../node_modules/x.svg",
        "/miniatures/dragon.svg/..",
        "/miniatures/.svg",
    ],
)
async def test_unknown_and_traversing_names_are_not_found(client: TestClient, path: str) -> None:
    resp = await client.get(path, allow_redirects=False)
    assert resp.status == 404, path
    assert resp.headers.get("Content-Type", "").split(";")[0] != "image/svg+xml"


async def test_the_about_page_credits_fluent_emoji_and_its_licence(client: TestClient) -> None:
    resp = await client.get("/about")
    assert resp.status == 200 and "Set-Cookie" not in resp.headers
    page = await resp.text()
    for words in (
        "Fluent Emoji",
        "Microsoft",
        "MIT licence",
        "Copyright (c) Microsoft Corporation.",
        "Permission is hereby granted, free of charge",
        "@iconify-json/fluent-emoji-flat",
        "1.2.6",
        "AGPL-3.0-or-later",
    ):
        assert words in page, words
    footer = (await (await client.get("/signin")).text()).split('class="site-footer"', 1)[1]
    assert 'href="/about"' in footer


@pytest.mark.hazard("HZ-16")
def test_a_library_not_installed_stops_start_up_naming_npm_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(miniatures, "FOLDER", tmp_path / "node_modules" / miniatures.PACKAGE)
    miniatures.library.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match="run `npm ci`"):
            create_app(Settings(data_dir=tmp_path))
    finally:
        monkeypatch.undo()
        miniatures.library.cache_clear()
    assert miniatures.library().version == "1.2.6"


@pytest.mark.hazard("HZ-16")
def test_a_library_at_another_version_than_pinned_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / miniatures.PACKAGE
    folder.mkdir(parents=True)
    (folder / "package.json").write_text('{"version": "1.0.0"}')
    (folder / "icons.json").write_text('{"icons": {}, "width": 32, "height": 32}')
    monkeypatch.setattr(miniatures, "FOLDER", folder)
    miniatures.library.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match="package.json pins 1.2.6"):
            create_app(Settings(data_dir=tmp_path))
        with pytest.raises(ConfigurationError, match="package.json pins 1.2.6"):
            miniatures.library()
    finally:
        monkeypatch.undo()
        miniatures.library.cache_clear()
