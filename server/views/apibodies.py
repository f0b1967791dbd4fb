"""The bodies the JSON API's handlers build as dicts, mirrored field for field as pydantic
models, so that ``openapi.py`` can describe them (the handlers do not use these: the tests
check real responses against the description)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from server.care.gate import GateStatus
from server.care.joinlinks import JOIN_ROLES
from server.storage.models import IThrive, RiskLevel, Role

# built when first used (the API's description, a test), not as the server starts: 19 ms of a
# start that every page waits for (docs/performance.md, §13)
DEFERRED = ConfigDict(defer_build=True)


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", **DEFERRED)


class Me(_Out):
    """``views/home.py``, ``me``."""

    id: str
    username: str
    name: str
    role: Role


class Client(_Out):
    """``views/clients.py``, ``client_json``: never the notes."""

    id: str
    display_name: str
    age_band: str | None
    date_of_birth: date | None
    ithrive: IThrive
    risk_level: RiskLevel
    risk_changed_at: datetime
    language: str | None  # of the family's pages (en, cy, ar), set by the therapist


class ClientList(_Out):
    clients: list[Client]


class Reason(_Out):
    """``gate.Reason.as_dict``."""

    code: str
    message: str
    item: str | None


class Gate(_Out):
    """``gate.GateResult.as_dict``."""

    status: GateStatus
    reasons: list[Reason]
    sign_off_items: list[str]


class AnswersSaved(_Out):
    revision: int
    saved_at: datetime
    gate: Gate


class ConsentLink(_Out):
    link_id: str
    url: str
    expires_at: datetime


class Session(_Out):
    """``views/sessions.py``, ``appointment_json``."""

    id: str
    client_id: str | None  # none for a group's session
    group_id: str | None  # a group's session (``views/groups.py``)
    starts_at: datetime
    ends_at: datetime
    status: Literal["scheduled", "open", "ended", "cancelled"]
    relay_only: bool


class JoinLink(_Out):
    role: Annotated[str, Field(json_schema_extra={"enum": list(JOIN_ROLES)})]
    url: str
    link_id: str


class ScheduledSession(Session):
    join_links: list[JoinLink]


class MemberJoinLink(JoinLink):
    client_id: str  # the member it is for


class GroupSessionMade(Session):
    """``views/groups.py``, ``api_group_session``: the links of the members whose way in
    is open now."""

    join_links: list[MemberJoinLink]


class Member(_Out):
    client_id: str
    name: str


class GroupMade(_Out):
    id: str
    name: str
    members: list[Member]


class MemberReady(Member):
    may_join: bool
    reasons: list[Reason]


class GroupReady(_Out):
    """``views/groups.py``, ``api_group``: each member and whether they may join now."""

    id: str
    name: str
    members: list[MemberReady]


class SeriesMade(_Out):
    """``views/series.py``, ``api_series``."""

    id: str
    every_weeks: Literal[1, 2]
    sessions: list[ScheduledSession]


class SessionsMoved(_Out):
    sessions: list[ScheduledSession]


class CancelledSession(_Out):
    id: str
    status: Literal["cancelled"]


class SessionsCancelled(_Out):
    sessions: list[CancelledSession]


class GuestInvited(_Out):
    """``views/guests.py``, ``api_invite``: one invitation, for one session."""

    id: str
    session: str
    role: Literal["interpreter", "social_worker", "teacher", "clinician", "other"]
    url: str | None


class GuestsInvited(_Out):
    guests: list[GuestInvited]


class GuestWithdrawn(_Out):
    id: str
    withdrawn: Literal[True]


class SessionEnded(_Out):
    id: str
    status: Literal["ended"]


class Saved(_Out):
    saved: Literal[True]


class Finding(_Out):
    """``sessionlog.Finding``."""

    seq: int | None
    problem: str
    detail: str


class WitnessNote(_Out):
    """``verify.WitnessNote``: what the witness outside the database saw of the log."""

    status: Literal["seen", "not_yet", "refused", "retired", "away", "off"]
    seen_to: int | None  # the newest entry it countersigned
    message: str


class LogReport(_Out):
    """``sessionlog.Report.as_dict``."""

    stream: str
    entries: int
    checkpoints: int
    intact: bool
    findings: list[Finding]
    # entries due and never written (someone a restored room expected back): not tampering
    unaccounted: list[Finding]
    witness: WitnessNote | None


class SignOff(_Out):
    revision: int
    at: datetime


class Scene(_Out):
    """``views/box.py``, ``scene_json``: a scene of the child's box (built from this model)."""

    id: str
    name: str
    session_id: str  # the session it was saved in
    saved_at: datetime
    thumbnail: str  # the address of a small PNG of it
    png: str  # the address of its PNG for the record (each download is logged)


class SceneList(_Out):
    scenes: list[Scene]


class ScenePlaced(_Out):
    """A scene put on a session's board: how many things were placed."""

    session_id: str
    placed: int


class Problem(BaseModel):
    """``security.error_response``: the HTTP status, the error's code and a message safe to
    show."""

    model_config = ConfigDict(extra="allow", **DEFERRED)
    status: int
    code: str
    message: str


class Error(_Out):
    """The error frame of every JSON error."""

    error: Problem


class GateProblem(Problem):
    gate: Gate


class GateError(_Out):
    """``POST /api/sessions/{id}/open`` when the gate is not open: every reason."""

    error: GateProblem


class Document(BaseModel):
    """This document (described loosely: it validates as OpenAPI 3.1)."""

    model_config = ConfigDict(extra="allow", **DEFERRED)
    openapi: str
