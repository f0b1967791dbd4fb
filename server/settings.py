"""All configuration, read once from the environment (prefix ``PLAYROOM_``)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WitnessSettings(BaseModel):
    """The witness each signed checkpoint of the session logs is also sent to
    (``server/audit/witness.py``): the embedded one, an append-only file apart from the
    database, or a witness service (``playroom witness``) at ``url``."""

    enabled: bool = Field(True, description="Off: logs are checked against the database alone.")
    url: str | None = Field(
        None, description="A witness service, e.g. http://witness:8090; unset: the embedded one."
    )
    dir: Path | None = Field(
        None,
        description="The embedded witness's (or the service's) folder; default DATA_DIR/witness.",
    )
    key_file: Path | None = Field(
        None, description="The witness's own Ed25519 key; default DIR/witness-key.json."
    )
    public_key: str | None = Field(
        None, description="The witness's public key (base64) to trust; unset: the one it gives."
    )
    server_keys: list[str] = Field(
        [],
        description="A witness service: the public keys (base64) of the servers whose "
        "checkpoints it takes; none: the first server it is shown, kept from then on.",
    )
    retry_seconds: float = Field(
        30, gt=0, description="How often checkpoints the witness has not yet seen are sent again."
    )
    timeout_seconds: float = Field(5, gt=0, description="How long to wait for a witness service.")


class Settings(BaseSettings):
    """Settings for one server process. Passed into ``create_app``; never a global.

    ``test_hooks`` is for test and benchmark servers only: it makes the room pages load
    ``testhooks.js``, which hands each page's state to test scripts as ``window.playroom``.
    Production leaves it off, and its pages expose nothing of the kind."""

    model_config = SettingsConfigDict(
        env_prefix="PLAYROOM_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Field(Path("data"), description="Folder for the SQLite file and key file.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; PostgreSQL in production. Default: SQLite in data_dir."
    )
    key_file: Path | None = Field(None, description="Key file; default data_dir/keys.json.")
    keys: SecretStr | None = Field(
        None, description="Key material as JSON (the key file's content) instead of a file."
    )
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: str | None = Field(None, description="Address people use, e.g. behind a proxy.")
    environment: Literal["production", "development"] | None = Field(
        None,
        description="Without a public address, development makes links from the address a "
        "request came to, production refuses to; unset: development only with the test hooks "
        "on, or when listening on this machine alone (a loopback address) with no trusted proxy.",
    )
    trusted_proxies: list[str] = Field(
        [], description="Reverse proxies (addresses or networks) whose X-Forwarded-For is read."
    )
    tls_cert: Path | None = None
    tls_key: Path | None = None
    session_max_age: int = Field(12 * 3600, ge=60, description="Staff sign-in lifetime, seconds.")
    session_check_seconds: float = Field(
        0.5, gt=0, description="How often open staff sockets check their sign-in is still live."
    )
    login_max_failures: int = Field(
        5, ge=1, description="Failures for one username from one address before waits begin."
    )
    login_lock_seconds: int = Field(
        15 * 60, ge=1, description="The longest wait after failures (they double from 1 s)."
    )
    login_rate_per_minute: int = Field(20, ge=1, description="Sign-in attempts per address.")
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="Largest request body.")
    key_reload_seconds: float = Field(5.0, gt=0, description="How often the key file is re-read.")
    checklist_valid_days: int = Field(
        90, ge=1, description="A suitability checklist older than this must be reviewed."
    )
    consent_link_days: int = Field(30, ge=1, description="How long a consent link works.")
    join_early_minutes: int = Field(15, ge=0, description="How early a join link opens.")
    practice_link_days: int = Field(
        14,
        ge=1,
        le=90,
        description="How long a practice link works when the client has no session to come "
        "(otherwise it ends with their next session).",
    )
    timezone: str = Field("Europe/London", description="Where 'today' is for daily checks.")
    service_name: str = Field(
        "Playroom",
        min_length=1,
        max_length=120,
        description="The service's name as the people it serves know it, e.g. on consent forms.",
    )
    stun_urls: list[str] = Field([], description="STUN servers, e.g. stun:turn.example.org")
    turn_urls: list[str] = Field([], description="TURN servers, e.g. turn:turn.example.org")
    turn_secret: SecretStr | None = Field(None, description="coturn's static-auth-secret")
    turn_ttl_seconds: int = Field(6 * 3600, ge=60, description="TURN credential lifetime")
    reconnect_grace_seconds: float = Field(
        30, gt=0, description="How long a dropped person's place is held for them."
    )
    place_seen_seconds: float = Field(
        10,
        gt=0,
        description="How often the places of those connected are marked seen: after a crash "
        "the log says since when each person was cut off, to within this.",
    )
    commit_gather_ms: float = Field(
        10,
        ge=0,
        le=100,
        description="Once writes arrive during a commit, a transaction begins at most this "
        "often and takes all that came meanwhile, until a span of it brings nothing: fewer "
        "transactions under load. A write when nothing is being written goes at once; 0: "
        "none ever waits.",
    )
    heartbeat_seconds: float = Field(
        1.25,
        gt=0,
        description="Silence on a socket after which the server pings it; a peer that does "
        "not answer within half of it is dropped, so a silent drop is noticed within 1.5x "
        "(under 2 s). Pages send a frame every 0.9 s, so a slow link never gets that far.",
    )
    control_timeout_seconds: float = Field(
        5,
        gt=0,
        description="Silence on a page's control channel (it pings every 2 s) after which "
        "the person counts as interrupted.",
    )
    log_checkpoint_seconds: float = Field(
        300, gt=0, description="How often the head of each changed session log is signed."
    )
    witness: WitnessSettings = Field(
        default_factory=WitnessSettings,
        description="Where each signed checkpoint is also sent (PLAYROOM_WITNESS__URL, ...).",
    )
    smtp_host: str | None = Field(
        None, description="Mail server for escalation alerts, invitations and reminders."
    )
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str = "playroom@localhost"
    smtp_timeout_seconds: float = Field(
        10, gt=0, description="How long one message may take to send before it counts as failed."
    )
    reminder_hours: list[float] = Field(
        [24, 1],
        max_length=6,
        description="Hours before each session that a reminder goes to the family (e-mail, "
        "and a text message where a text webhook is set), e.g. [24,1].",
    )
    sms_webhook_url: str | None = Field(
        None, description="Where text messages are POSTed for the service's SMS provider."
    )
    sms_webhook_secret: SecretStr | None = Field(
        None, description="Signs text-message webhook bodies (X-Playroom-Signature)."
    )
    outbox_poll_seconds: float = Field(
        15, gt=0, description="How often each node looks for invitations and reminders due."
    )
    outbox_lease_seconds: float = Field(
        120, gt=0, description="How long a node's claim on one message lasts while it sends."
    )
    outbox_retry_seconds: float = Field(
        60, gt=0, description="The wait before a failed message is tried again (then doubled)."
    )
    outbox_max_attempts: int = Field(
        8, ge=1, description="Tries before a message is given up and shown as failed."
    )
    webhook_url: str | None = Field(None, description="Where escalation events are POSTed.")
    webhook_secret: SecretStr | None = Field(None, description="Signs webhook bodies.")
    escalation_repeat_seconds: float = Field(
        120, gt=0, description="An unacknowledged escalation is repeated this often."
    )
    out_of_hours_number: str | None = Field(
        None,
        max_length=60,
        description="The service's out-of-hours number, shown to a therapist whose escalation "
        "finds nobody on shift; unset: they are told to follow the out-of-hours procedure.",
    )
    safeguarding_hours: str | None = Field(
        None,
        max_length=400,
        description="When the service's designated safeguarding support can be reached, as "
        "weekly spans in its time zone, e.g. 'Mon-Fri 09:00-17:00; Sat 10:00-13:00' (CCAP "
        "Context 3); a session scheduled or moved outside them needs the therapist's reason. "
        "Unset: any time.",
    )
    redis_url: SecretStr | None = Field(
        None, description="Redis for several nodes (placement, pub/sub); none: one process."
    )
    node_lease_seconds: float = Field(
        3, ge=0.3, description="How long a node's hold on its rooms lasts without renewal."
    )
    retention_client_until_age: int = Field(
        25,
        ge=18,
        description="A young person's record is kept until this birthday (one more if they "
        "were 17 when treatment ended).",
    )
    retention_client_min_years: int = Field(
        20, ge=1, description="And at least this many years after the end of treatment."
    )
    retention_box_days: int | None = Field(
        None,
        ge=1,
        description="Boards and pictures are deleted this many days after discharge; "
        "unset: kept with the record.",
    )
    retention_join_check_days: int = Field(
        7, ge=1, description="Pre-join answers (where the young person was) are kept this long."
    )
    retention_link_days: int = Field(
        30, ge=1, description="Expired or withdrawn links are deleted this long after."
    )
    retention_staff_days: int = Field(
        365, ge=1, description="A disabled staff account's credentials are erased after this."
    )
    purge_interval_seconds: float = Field(
        24 * 3600, gt=0, description="How often data past its retention period is deleted."
    )
    log_level: str = "INFO"
    log_json: bool = True
    test_hooks: bool = Field(
        False,
        description="Tests only: room pages expose their state to test scripts "
        "(window.playroom). Never on in production.",
    )

    @field_validator("service_name", "smtp_from")
    @classmethod
    def _one_line(cls, value: str) -> str:
        """Both go into e-mail headers: a line break there would add headers of its own."""
        if any(c in value for c in "\r\n\0"):
            raise ValueError("must be one line")
        return value

    @field_validator("reminder_hours")
    @classmethod
    def _hours(cls, value: list[float]) -> list[float]:
        if any(not 0 < h <= 24 * 14 for h in value):
            raise ValueError("each reminder is between 0 and 336 hours before a session")
        return sorted(set(value), reverse=True)

    @field_validator("log_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @property
    def resolved_key_file(self) -> Path:
        return self.key_file or self.data_dir / "keys.json"

    @property
    def resolved_database_url(self) -> str:
        """The async SQLAlchemy URL, with the driver filled in."""
        url = self.database_url or f"sqlite+aiosqlite:///{self.data_dir.resolve()}/playroom.db"
        for plain, driver in (
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgres://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if url.startswith(plain):
                return driver + url[len(plain) :]
        return url

    @property
    def development(self) -> bool:
        """Whether this is a developer's own server: as ``environment`` says, or else one
        with the test hooks on (which production never has), or one listening on this
        machine alone (a loopback address) with no proxy in front."""
        if self.environment is not None:
            return self.environment == "development"
        return self.test_hooks or (_loopback(self.host) and not self.trusted_proxies)

    @property
    def witness_dir(self) -> Path:
        return self.witness.dir or self.data_dir / "witness"

    @property
    def witness_key_file(self) -> Path:
        return self.witness.key_file or self.witness_dir / "witness-key.json"

    @property
    def tls(self) -> bool:
        if self.tls_cert is not None:
            return True
        return bool(self.public_url and self.public_url.startswith("https://"))


def _loopback(host: str) -> bool:
    """Whether ``host`` is an address only this machine reaches."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
