"""The on-shift rota: weekly patterns and the button, the supervisor's home page and the
commands that set them, and the order an escalation goes down: those on shift first, the
service's other supervisors on shift next, those off shift last; and what the therapist is
told when nobody is on shift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import ACCOUNTS, ESCALATIONS, ROTA
from server.care.escalation import reach
from server.care.rota import Entry, Pattern, first_wave
from server.exceptions import PlayroomError
from server.settings import Settings
from server.storage.models import Role
from tests.client import ProtocolPeer
from tests.conftest import PASSWORD, make_staff, sign_in
from tests.helpers import cli_env, run_cli
from tests.scenes import Room

MONDAY = datetime(2026, 12, 14)  # a Monday, in the service's wall-clock time


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Repeats a few times a second (the timers shortened, never waited out by sleeping),
    and an out-of-hours number."""
    return settings.model_copy(
        update={
            "escalation_repeat_seconds": 0.3,
            "out_of_hours_number": "0800 123 4567",
            "timezone": "UTC",
        }
    )


def test_a_weekly_pattern_reads_days_and_hours() -> None:
    office = Pattern.parse("mon-fri 09:00-17:00")
    assert office.describe() == "Mon–Fri 09:00–17:00"
    assert office.on_at(MONDAY.replace(hour=9)) and not office.on_at(MONDAY.replace(hour=17))
    assert not office.on_at(MONDAY + timedelta(days=5, hours=10))  # Saturday
    assert office.next_change(MONDAY.replace(hour=10)) == MONDAY.replace(hour=17)
    friday_evening = MONDAY + timedelta(days=4, hours=18)
    assert office.next_change(friday_evening) == MONDAY + timedelta(days=7, hours=9)
    nights = Pattern.parse("sat,sun 20:00-08:00")  # past midnight: Sunday's runs into Monday
    assert nights.on_at(MONDAY.replace(hour=7)) and not nights.on_at(MONDAY.replace(hour=8))
    always = Pattern.parse("mon-sun 00:00-24:00")
    assert always.describe() == "Mon–Sun 00:00–24:00" and always.next_change(MONDAY) is None
    for bad in ("weekdays 09:00-17:00", "mon-fri 9-5", "mon-fri", "mon-fri 25:00-26:00"):
        with pytest.raises(PlayroomError):
            Pattern.parse(bad)


def test_the_first_alert_goes_to_everyone_who_comes_first() -> None:
    own_on, other_on, own_off = (
        Entry("a", True, True),
        Entry("b", True, False),
        Entry("c", False, True),
    )
    assert first_wave([own_on, other_on, own_off]) == [own_on]
    assert first_wave([other_on, own_off]) == [other_on]  # none of the team on shift
    assert first_wave([own_off, Entry("d", False, True)]) == [own_off]  # nobody on shift
    assert first_wave([]) == []


@pytest.mark.hazard("HZ-20")
def test_the_therapist_is_told_only_who_was_reached() -> None:
    """Never "your supervisors have been alerted" when nobody was: the words say who."""
    on = {"name": "Ann", "on_shift": True, "own": True}
    off = {"name": "Bob", "on_shift": False, "own": True}
    assert reach([on], "") == "Alerted, on shift: Ann."
    assert reach([on, off], "") == "Alerted, on shift: Ann. Alerted off shift: Bob."
    assert reach([off], "0800 123 4567") == (
        "Nobody is on shift: ring the out-of-hours number, 0800 123 4567. Alerted off shift: Bob."
    )
    assert reach([], "") == (
        "Nobody is on shift: follow your service's out-of-hours procedure. "
        "No supervisor has been alerted."
    )
    script = (Path(__file__).parent.parent / "web/static/js/therapist.js").read_text()
    assert "have been alerted" not in script


async def test_the_button_holds_until_the_pattern_next_changes(
    app: web.Application, client: TestClient
) -> None:
    await make_staff(app, "sol", Role.SUPERVISOR)
    sol = (await app[ACCOUNTS].find("sol")).id
    rota = app[ROTA]
    at = MONDAY.replace(hour=10, tzinfo=UTC)
    assert not (await rota.shift(sol, at)).on  # nobody is on shift until they say so
    await rota.set_pattern(sol, Pattern.parse("mon-fri 09:00-17:00"), at)
    assert (await rota.shift(sol, at)).on
    off = await rota.press(sol, False, at)  # off for the rest of today's shift
    assert not off.on and off.by_hand and off.held_until == MONDAY.replace(hour=17, tzinfo=UTC)
    assert not (await rota.shift(sol, at + timedelta(hours=6))).on  # 16:00
    assert (await rota.shift(sol, at + timedelta(days=1))).on  # Tuesday 10:00: the pattern
    evening = MONDAY.replace(hour=20, tzinfo=UTC)
    on = await rota.press(sol, True, evening)  # covering the night, until the next shift
    assert on.on and on.held_until == MONDAY.replace(hour=9, tzinfo=UTC) + timedelta(days=1)
    assert sol in await rota.on_shift(evening + timedelta(hours=3))
    await rota.set_pattern(sol, None, evening)  # no pattern: the button holds until pressed
    assert sol not in await rota.on_shift(evening)
    held = await rota.press(sol, True, evening)
    assert held.on and held.held_until is None
    assert sol in await rota.on_shift(evening + timedelta(days=30))


async def test_a_supervisor_goes_on_and_off_shift_from_their_home_page(
    app: web.Application, client: TestClient
) -> None:
    sup = await make_staff(app, "sam.sup", Role.SUPERVISOR)
    token = await sign_in(client, sup)
    sam = (await app[ACCOUNTS].find("sam.sup")).id
    home = await (await client.get("/")).text()
    assert "You are off shift" in home and "Go on shift" in home
    assert "You have no weekly shifts" in home
    pressed = await client.post(
        "/shift", data={"on": "yes", "csrf_token": token}, allow_redirects=False
    )
    assert pressed.status == 303 and pressed.headers["Location"] == "/#shift"
    home = await (await client.get("/")).text()
    assert "You are on shift" in home and "Go off shift" in home
    assert sam in await app[ROTA].on_shift()
    await app[ROTA].set_pattern(sam, Pattern.parse("sat-sun 10:00-16:00"))
    home = await (await client.get("/")).text()
    assert "Sat–Sun 10:00–16:00" in home
    refused = await client.post("/shift", data={"on": "yes"}, allow_redirects=False)
    assert refused.status == 403  # no CSRF token, no change


def test_shifts_are_set_from_the_command_line(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data", PLAYROOM_TIMEZONE="Europe/London")
    assert run_cli("migrate", env=env).returncode == 0
    for name, role in (("sol", "supervisor"), ("tia", "therapist")):
        made = run_cli(
            "create-user", "--username", name, "--role", role, "--password-stdin",
            env=env, stdin=PASSWORD + "\n",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
    weekly = run_cli("shift-pattern", "sol", "mon-fri", "09:00-17:00", env=env)
    assert weekly.returncode == 0, weekly.stderr
    assert "weekly shifts Mon–Fri 09:00–17:00 (Europe/London)" in weekly.stdout
    now = run_cli("shift", "sol", "on", env=env)
    assert now.returncode == 0 and "'sol' is on shift" in now.stdout
    cleared = run_cli("shift-pattern", "sol", "none", env=env)
    assert "'sol' is off shift; no weekly shifts" in cleared.stdout
    bad = run_cli("shift-pattern", "sol", "weekdays", "9-5", env=env)
    assert bad.returncode == 2 and "is not a day" in bad.stderr
    assert run_cli("shift", "tia", "on", env=env).returncode == 2  # therapists have no shifts


async def _watching(
    app: web.Application, aiohttp_client: Any, client: TestClient, name: str
) -> ProtocolPeer:  # type: ignore[no-untyped-def]
    browser = await aiohttp_client(client.server)
    staff = await make_staff(app, name, Role.SUPERVISOR)
    await sign_in(browser, staff)
    peer = ProtocolPeer(await browser.ws_connect("/ws"), media=False)
    await peer.send({"type": "watch"})
    await peer.expect("done")
    return peer


def _alerted(peer: ProtocolPeer, count: int) -> dict[str, Any] | None:
    """The therapist's latest word of an escalation that has reached ``count`` people."""
    for message in reversed(peer.inbox):
        if message["type"] in ("escalation", "escalation_update"):
            if len(message["escalation"]["alerted"]) >= count:
                return message["escalation"]  # type: ignore[no-any-return]
    return None


@pytest.mark.hazard("HZ-20")
async def test_an_escalation_goes_to_those_on_shift_first_then_down_the_rota(
    app: web.Application, aiohttp_client: Any, client: TestClient, room: Room
) -> None:
    """The team's supervisor on shift at once; the service's other supervisor on shift
    next (a supervisor of another team, who may then acknowledge); the team's supervisors
    off shift last; a supervisor of another team off shift never."""
    dashboards = {}
    for name in ("own.on", "own.off", "other.on", "other.off"):
        dashboards[name] = await _watching(app, aiohttp_client, client, name)
        if name.startswith("own"):
            await app[ACCOUNTS].supervise(name, "therapist.one")
        if name.endswith(".on"):
            await app[ROTA].press((await app[ACCOUNTS].find(name)).id, True)

    await room.therapist.send({"type": "escalate", "concern": "risk_to_self"})
    info = (await room.therapist.expect("escalation"))["escalation"]
    assert info["reached"] == "Alerted, on shift: Own.On." and not info["nobody_on_shift"]
    await dashboards["own.on"].expect("escalation_alert", within=5)
    await room.therapist.wait_for(lambda: _alerted(room.therapist, 4) is not None, within=10)
    latest = _alerted(room.therapist, 4)
    assert latest is not None
    names = [a["name"] for a in latest["alerted"]]
    assert names[:2] == ["Own.On", "Other.On"]  # those on shift, the team's first
    assert set(names[2:]) == {"Own.Off", "Supervisor Of Record"}  # then the team off shift
    assert [a["on_shift"] for a in latest["alerted"]] == [True, True, False, False]
    assert latest["reached"].startswith("Alerted, on shift: Own.On and Other.On.")
    alert = await dashboards["other.on"].expect("escalation_alert", within=5)
    assert alert["escalation"]["id"] == info["id"]

    # the supervisor of another team who was reached acknowledges; the one never reached
    # (off shift, another team) neither hears of it nor may acknowledge
    await dashboards["other.off"].send({"type": "acknowledge", "escalation": info["id"]})
    assert (await dashboards["other.off"].expect("error"))["code"] == "refused"
    await dashboards["other.on"].send({"type": "acknowledge", "escalation": info["id"]})
    await dashboards["other.on"].expect("done")
    assert not any(m["type"] == "escalation_alert" for m in dashboards["other.off"].inbox)
    assert await app[ESCALATIONS].repeats.pending(info["id"]) is None  # the alerts stopped
    for peer in dashboards.values():
        await peer.close()


@pytest.mark.hazard("HZ-20")
async def test_with_nobody_on_shift_the_therapist_is_told_at_once(
    app: web.Application, aiohttp_client: Any, client: TestClient, room: Room
) -> None:
    """Nobody on shift: the therapist's first word of the escalation says so, with the
    out-of-hours number, and names the supervisor off shift who was alerted; the log says
    so too. The team off shift is still alerted, one by one."""
    await room.therapist.send({"type": "escalate", "concern": "medical_emergency"})
    info = (await room.therapist.expect("escalation"))["escalation"]
    assert info["nobody_on_shift"] and info["out_of_hours"] == "0800 123 4567"
    assert info["reached"] == (
        "Nobody is on shift: ring the out-of-hours number, 0800 123 4567. "
        "Alerted off shift: Supervisor Of Record."
    )
    kinds = [kind for kind, _, _ in await app[ESCALATIONS].events(info["id"])]
    assert kinds[:3] == ["raised", "alerted_off_shift", "nobody_on_shift"]
