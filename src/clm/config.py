"""Workspace settings: ``clm.toml``, validated by Pydantic.

The file is the single source of settings; ``clm config set KEY VALUE`` edits it
through :func:`set_value`, which validates the whole file before writing, so an
invalid value never reaches the disk. Defaults follow ``SPEC.md``.
"""

from __future__ import annotations

import itertools
import tomllib
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from clm.errors import ConfigError

ENV_VAR = "CLM_WORKSPACE"  # the workspace folder when -w is not given

CONFIG_FILE = "clm.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class WorkspaceSection(_Section):
    name: str = "clm"


class RfmSection(_Section):
    """SPEC §2: the window and how F is scored."""

    window_days: int = Field(365, ge=1, le=36500)
    frequency: Literal["fixed", "quantile"] = "fixed"
    frequency_thresholds: list[int] = Field(default_factory=lambda: [2, 3, 4, 6])

    @field_validator("frequency_thresholds")
    @classmethod
    def _four_increasing(cls, value: list[int]) -> list[int]:
        if len(value) != 4 or any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError("needs four strictly increasing integers, e.g. [2, 3, 4, 6]")
        return value


class EngineSection(_Section):
    """Where population work runs: the embedded DuckDB, or Spark."""

    name: Literal["duckdb", "spark"] = "duckdb"
    spark_master: str = "local[*]"
    memory_limit: str = ""
    threads: int = Field(0, ge=0)


class ImportSection(_Section):
    timezone: str = "UTC"
    max_reported_errors: int = Field(10, ge=1, le=1000)


class ActivitySection(_Section):
    """SPEC §4: half-lives (days), event weights, the rising-interest rule.

    ``enabled = false`` skips the activity family in scoring runs (RFM only).

    ``weights.purchase`` applies to purchase lines with a positive amount (other
    purchase lines weigh 0); any other event type weighs ``weights.<type>``
    (default 0), e.g. ``activity.weights.product_view = 0.2``.
    """

    enabled: bool = True
    half_life_short: float = Field(30.0, gt=0)
    half_life_long: float = Field(180.0, gt=0)
    weights: dict[str, float] = Field(default_factory=lambda: {"purchase": 1.0})
    rising_trend: float = Field(60.0, ge=0, le=100)
    rising_min_long: float = Field(3.0, ge=0)
    next_best: int = Field(3, ge=1, le=20)

    @field_validator("weights")
    @classmethod
    def _non_negative(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [k for k, w in value.items() if w < 0]
        if bad:
            raise ValueError(f"weights must be >= 0 (got {', '.join(bad)})")
        return value


class ClvSection(_Section):
    """SPEC §5: the purchase model, the time unit of its fit, and the CLV's horizon,
    gross margin (a share of revenue; 1.0 values revenue, not profit) and annual
    discount rate."""

    enabled: bool = True
    model: Literal["bgnbd", "pareto_nbd"] = "bgnbd"

    @field_validator("model", mode="before")
    @classmethod
    def _short_names(cls, value: object) -> object:
        return "pareto_nbd" if value == "pareto" else value

    time_unit: Literal["day", "week"] = "week"
    horizon_days: int = Field(90, ge=1, le=36500)
    margin: float = Field(1.0, gt=0, le=1)
    discount_rate: float = Field(0.10, ge=0, le=10)


class RateLimits(_Section):
    """Requests per second and key, by the key's role (a batch counts its messages)."""

    ingest: float = Field(50_000.0, gt=0)
    read: float = Field(2_000.0, gt=0)
    admin: float = Field(2_000.0, gt=0)
    burst_seconds: float = Field(2.0, gt=0)


class ServerSection(_Section):
    """``clm serve``: where it listens, how it stores accepted events, what it allows.

    ``flush_interval_ms``: how often accepted events are written to the database (they
    are in the journal, and live, as soon as they are accepted; under load the server
    writes less often, in larger batches: :mod:`clm.ingest.stream`). ``fsync``: also force
    each accepted request to the disk (survives a machine crash, not only a killed
    process). Body limits follow Segment's: 32 KB per call, 500 KB per batch.
    """

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    flush_interval_ms: int = Field(100, ge=5, le=60_000)
    fsync: bool = False
    max_body_bytes: int = Field(32 * 1024, ge=1024)
    max_batch_bytes: int = Field(500 * 1024, ge=1024)
    cors_origins: list[str] = Field(default_factory=lambda: ["*"])
    rate_limits: RateLimits = Field(default_factory=RateLimits)


class EmailChannelSection(_Section):
    """Email over SMTP. Nothing is sent while ``smtp_host`` or ``sender`` is empty.

    ``password_env`` names the environment variable that holds the SMTP password
    (the password itself is never stored). ``track_base_url``, when set (e.g.
    ``https://clm.example.com``), rewrites links for click tracking and adds an open
    pixel served by ``clm serve``.
    """

    smtp_host: str = ""
    smtp_port: int = Field(25, ge=1, le=65535)
    sender: str = ""
    username: str = ""
    password_env: str = ""
    starttls: bool = False
    timeout: float = Field(10.0, gt=0)
    retries: int = Field(5, ge=0, le=100)
    backoff_seconds: float = Field(60.0, ge=0)
    track_base_url: str = ""
    folder: str = ""  # deliver into this folder instead (demos, staging): see channels/folder.py
    concurrency: int = Field(4, ge=1, le=64)  # SMTP connections at once (one thread each)
    max_per_second: float = Field(0.0, ge=0)  # a provider's cap (token bucket); 0: none


class HttpChannelSection(_Section):
    """A channel that POSTs JSON to a provider (SMS, push, any webhook).

    ``body`` is the JSON body: every string in it is a Jinja2 template rendered
    against the message (``to``, ``text``, ``title``, ``body``, ``message_id``,
    ``customer_id``, ``automation``, ``variant`` ...); an empty body posts the
    message's own content. ``headers_env`` maps a header to the environment variable
    holding its value (for tokens). A send is tried ``1 + retries`` times, waiting
    ``backoff_seconds * 2**(attempt - 1)`` between tries.
    """

    url: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    headers_env: dict[str, str] = Field(default_factory=dict)
    body: dict[str, Any] = Field(default_factory=dict)
    retries: int = Field(5, ge=0, le=100)
    backoff_seconds: float = Field(60.0, ge=0)
    timeout: float = Field(10.0, gt=0)
    folder: str = ""  # deliver into this folder instead (demos, staging): see channels/folder.py
    concurrency: int = Field(4, ge=1, le=64)  # requests at once (one thread each)
    max_per_second: float = Field(0.0, ge=0)  # a provider's cap (token bucket); 0: none

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


class OutboxSection(_Section):
    """How :func:`clm.automation.outbox.deliver` works through the outbox: ``batch_size``
    due messages read at a time; results written every ``flush_every`` messages or
    ``flush_ms`` milliseconds (the in-flight log covers them meanwhile); ``fsync``
    makes every in-flight log write durable against a power cut, not just a crash."""

    batch_size: int = Field(1000, ge=1, le=100_000)
    flush_every: int = Field(500, ge=1, le=100_000)
    flush_ms: int = Field(500, ge=1, le=600_000)
    fsync: bool = False


def _http_channel(**body: str) -> Any:
    return Field(default_factory=lambda: HttpChannelSection(body=dict(body)))


class ChannelsSection(_Section):
    """Where messages go: email (SMTP), SMS and push (HTTP providers), a generic webhook."""

    email: EmailChannelSection = Field(default_factory=EmailChannelSection)
    sms: HttpChannelSection = _http_channel(to="{{ to }}", text="{{ text }}")
    push: HttpChannelSection = _http_channel(to="{{ to }}", title="{{ title }}", body="{{ body }}")
    webhook: HttpChannelSection = Field(default_factory=HttpChannelSection)
    outbox: OutboxSection = Field(default_factory=OutboxSection)


# Settings that are free-form tables: ``clm config set`` may add new keys to them.
OPEN_TABLES = (
    "activity.weights",
    "automation.frequency_caps",
    *(
        f"channels.{channel}.{table}"
        for channel in ("sms", "push", "webhook")
        for table in ("headers", "headers_env", "body")
    ),
)
# "HH:MM-HH:MM", or empty for no quiet hours.
QUIET_HOURS = r"^(([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d)?$"


class AutomationSection(_Section):
    """SPEC §6–7: the global control group, the default holdout, and the guards.

    ``global_control_share`` of all customers (by a hash of their id) is touched by no
    automation; ``holdout_share`` is each automation's control share unless its file
    says otherwise. ``frequency_caps`` allows at most N messages per customer and
    channel in ``frequency_period_days`` (a channel not listed is not capped).
    ``quiet_hours`` is a ``HH:MM-HH:MM`` local-time window (in the profile's time
    zone, else ``default_timezone``) in which sends on ``quiet_channels`` wait.
    Under ``clm serve`` the scheduler runs what is due every ``serve_tick_seconds``.
    """

    global_control_share: float = Field(0.05, ge=0, lt=1)
    global_control_key: str = "global-control"
    holdout_share: float = Field(0.1, ge=0, lt=1)
    frequency_caps: dict[str, int] = Field(
        default_factory=lambda: {"email": 3, "sms": 2, "push": 5}
    )
    frequency_period_days: int = Field(7, ge=1, le=365)
    quiet_hours: str = Field("21:00-08:00", pattern=QUIET_HOURS)
    quiet_channels: list[str] = Field(default_factory=lambda: ["email", "sms", "push"])
    default_timezone: str = "UTC"
    slice_hours: int = Field(24, ge=1, le=24 * 31)
    serve_tick_seconds: float = Field(30.0, ge=1.0, le=3600.0)


class Settings(_Section):
    """The whole ``clm.toml``."""

    workspace: WorkspaceSection = Field(default_factory=WorkspaceSection)
    rfm: RfmSection = Field(default_factory=RfmSection)
    engine: EngineSection = Field(default_factory=EngineSection)
    imports: ImportSection = Field(default_factory=ImportSection, alias="import")
    activity: ActivitySection = Field(default_factory=ActivitySection)
    clv: ClvSection = Field(default_factory=ClvSection)
    server: ServerSection = Field(default_factory=ServerSection)
    channels: ChannelsSection = Field(default_factory=ChannelsSection)
    automation: AutomationSection = Field(default_factory=AutomationSection)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def load(root: Path) -> Settings:
    """Read and validate ``root/clm.toml``."""
    path = root / CONFIG_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    return _validate(data, path)


def save(root: Path, settings: Settings) -> None:
    """Write the settings (all keys, defaults included) to ``root/clm.toml``."""
    text = tomli_w.dumps(settings.model_dump(by_alias=True))
    (root / CONFIG_FILE).write_text(text, encoding="utf-8")


def get_value(settings: Settings, key: str) -> Any:
    """The value at a dotted key such as ``rfm.window_days``."""
    node: Any = settings.model_dump(by_alias=True)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"unknown setting {key!r}; see `clm config list`")
        node = node[part]
    return node


def set_value(settings: Settings, key: str, raw: str) -> Settings:
    """A copy of ``settings`` with ``key`` set to ``raw`` parsed as a TOML value.

    ``raw`` is read as a TOML literal (``365``, ``true``, ``[2, 3, 4, 6]``) and
    taken as a plain string when it is not one (``quantile``).
    """
    parent = key.rsplit(".", 1)[0]
    if parent not in OPEN_TABLES:
        get_value(settings, key)  # unknown keys fail before anything else
    data = settings.model_dump(by_alias=True)
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = parse_literal(raw)
    return _validate(data, Path(CONFIG_FILE))


def flatten(settings: Settings) -> dict[str, Any]:
    """Every setting as ``dotted.key -> value``."""
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            out[prefix] = node

    walk("", settings.model_dump(by_alias=True))
    return out


def parse_literal(raw: str) -> Any:
    """Parse a TOML literal, or return ``raw`` unchanged when it is not one."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _validate(data: dict[str, Any], path: Path) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc
