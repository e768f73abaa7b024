"""Collector configuration: LLMSIGHT_* environment variables, CLI flags and an optional YAML file.

Precedence (highest first): CLI flags, environment, YAML file (LLMSIGHT_CONFIG_FILE), defaults.
The YAML file is validated strictly (unknown keys are errors, reported as `FILE:LINE: what`), and a bad
value from the environment or a flag is reported with the variable or flag that carried it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import stat
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from llmsight._env import ENV_PREFIX
from llmsight.collector.config_file import load_yaml_model
from llmsight.collector.logs import LogLevel
from llmsight.config import unparsable_variable
from llmsight.errors import ConfigurationError

CONFIG_FILE_VARIABLE = "LLMSIGHT_CONFIG_FILE"
logger = logging.getLogger("llmsight.collector")


def default_data_dir() -> Path:
    """Per-user data directory (XDG on Linux, ~/Library on macOS, %LOCALAPPDATA% on Windows)."""
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif os.uname().sysname == "Darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "llmsight"


class CollectorSettings(BaseSettings):
    # extra="ignore": the environment also carries the app side's LLMSIGHT_* settings.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir, description="Embedded store, spool and state.")
    clickhouse_dsn: str = Field(
        default="",
        description="chdb://PATH (embedded) or http(s)://user:pass@host:8123 (server). Empty: DATA_DIR/store.",
    )
    clickhouse_password: str | None = Field(
        default=None,
        description="Password of the DSN's user, kept out of the DSN (any character: it is URL-encoded into it). "
        "For a server DSN only; one written in the DSN must be URL-encoded there.",
    )
    otlp_http_port: int = Field(default=4318, ge=0, le=65535)
    otlp_grpc_port: int = Field(default=4317, ge=0, le=65535)
    read_api_port: int = Field(default=4319, ge=0, le=65535, description="Read API (report, alerts check): loopback only.")
    bind_host: str = Field(default="127.0.0.1", description="Loopback unless told otherwise.")
    auth_token: str | None = Field(default=None, description="Bearer token required from exporters, if set.")
    # Secrets in files (0600, first line): on a command line they show in `ps` to every local user.
    clickhouse_dsn_file: Path | None = Field(default=None, description="A file holding the DSN (instead of clickhouse_dsn).")
    auth_token_file: Path | None = Field(default=None, description="A file holding the auth token (instead of auth_token).")
    insecure: bool = Field(default=False, description="Allow a non-loopback bind without an auth token.")
    prices_file: Path | None = None
    alerts_file: Path | None = None
    service_name_default: str = "unknown_service"
    provider_hosts: dict[str, str] = Field(
        default_factory=dict,
        description="Provider name for other instrumentations' OpenAI-SDK calls by server host (`host` or "
        "`host:port`, globs allowed; JSON in the environment, the same LLMSIGHT_PROVIDER_HOSTS the app side reads). "
        "Without a match: a vendor's API host names its vendor, a local or private host is `self_hosted`.",
    )
    raw_ttl_days: int = Field(default=90, ge=1)
    cheaper_models: dict[str, str] | None = Field(
        default=None,
        description="Provider → its cheaper model, priced for the savings dashboard (JSON in the environment). "
        "Unset: llmsight's defaults (collector/pricing/price_table.py).",
    )
    # Spans must start inside this window around the collector's clock; others are rejected (OTLP
    # partial_success, with the reason) rather than stored under a wrong date. The default past bound stays
    # well inside the raw TTL; a wider one is allowed: inserts are split per day partition anyway.
    accept_past_days: float = Field(default=30, gt=0, le=36_500, description="Oldest span start accepted, in days.")
    accept_future_minutes: float = Field(default=60, ge=0, le=10_080, description="Clock skew allowed ahead, in minutes.")
    content_ttl_days: int = Field(default=7, ge=1, description="Days captured prompts and completions are kept.")
    request_read_timeout_s: float | None = Field(
        default=None, gt=0, le=600,
        description="Seconds an OTLP client may take to send a request head, each piece of a body, or (gRPC) its "
        "message; then the connection or call is closed, so stalled clients hold no slot. Unset: the receiver's "
        "REQUEST_READ_TIMEOUT_S (collector/receive/limits.py).",
    )
    log_level: LogLevel = Field(default="warning", description="Level of llmsight's own log messages, both processes.")

    @field_validator("clickhouse_dsn")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value and not value.startswith(("chdb://", "http://", "https://")):
            raise ValueError("must start with chdb://, http:// or https://")
        return value

    @model_validator(mode="after")
    def _secrets_from_files(self) -> CollectorSettings:
        for name in ("clickhouse_dsn", "auth_token"):
            path: Path | None = getattr(self, f"{name}_file")
            if path is None:
                continue
            if getattr(self, name):
                raise ValueError(f"give {name} or {name}_file, not both")
            setattr(self, name, read_secret_file(path))
            if name == "clickhouse_dsn":
                self._known_scheme(self.clickhouse_dsn)
        return self

    @field_validator("bind_host")
    @classmethod
    def _unbracketed(cls, value: str) -> str:
        """`[::1]` (as in a URL) and `::1` both name the IPv6 address; each server adds its own brackets."""
        return value.strip().removeprefix("[").removesuffix("]")

    @model_validator(mode="after")
    def _window_inside_ttl(self) -> CollectorSettings:
        if self.accept_past_days > self.raw_ttl_days:
            if "accept_past_days" not in self.model_fields_set:  # the default window follows a shorter TTL
                self.accept_past_days = float(self.raw_ttl_days)
                return self
            # Rows older than the TTL are deleted as soon as they are stored: acknowledged, then gone.
            raise ValueError(f"accept_past_days ({self.accept_past_days:g}) must not exceed raw_ttl_days ({self.raw_ttl_days})")
        return self

    @property
    def effective_dsn(self) -> str:
        if not self.clickhouse_dsn:
            return f"chdb://{self.data_dir / 'store'}"
        if self.clickhouse_password is None or not self.clickhouse_dsn.startswith(("http://", "https://")):
            return self.clickhouse_dsn
        return with_password(self.clickhouse_dsn, self.clickhouse_password)

    @property
    def redacted_dsn(self) -> str:
        """The DSN fit for logs, banners, errors and state files: no password."""
        return redact_dsn(self.effective_dsn)

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_VARIABLE)
        if config_file:
            sources.append(InitSettingsSource(settings_cls, init_kwargs=_config_file_values(Path(config_file))))
        return tuple(sources)


class ExposureError(ConfigurationError):
    """The collector would listen beyond this host with nobody's token required."""


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_exposure(settings: CollectorSettings) -> None:
    """OTLP/HTTP (and its /metrics) and OTLP/gRPC listen on `bind_host`: off loopback they need a token."""
    if is_loopback(settings.bind_host) or settings.auth_token or settings.insecure:
        return
    raise ExposureError(
        f"refusing to listen on {settings.bind_host} without an auth token: anyone who can reach it could write spans "
        "and read /metrics. Give --auth-token (LLMSIGHT_AUTH_TOKEN), or --insecure if the network is trusted."
    )


# Query parameters that carry a credential: clickhouse-connect's `password` and `access_token`, and any name a
# secret goes by (`token`, `secret`, `api_key`, a TLS key...). Masked whatever the other parameters are.
_SECRET_PARAMETER = re.compile(r"pass|pwd|token|secret|credential|key|auth", re.IGNORECASE)


def with_password(dsn: str, password: str) -> str:
    """`dsn` with its user's password set to `password`, URL-encoded (a `/`, `@` or `:` in it stays the
    password's); the user is the DSN's, else `default` (ClickHouse's)."""
    parts = urlsplit(dsn)
    user = parts.username or "default"  # already URL-encoded as written in the DSN
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{user}:{quote(password, safe='')}@{host}", parts.path, parts.query, parts.fragment))


def redact_dsn(dsn: str) -> str:
    """The DSN fit for logs, banners, errors, state files and /metrics: `scheme://user:***@host/...`, with the value
    of every secret-bearing query parameter masked (`?access_token=***`). The one redaction of a DSN."""
    parts = urlsplit(dsn)
    netloc = parts.netloc
    if "@" in netloc:
        credentials, host = netloc.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in credentials else f"{user}@{host}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if netloc == parts.netloc and not any(_SECRET_PARAMETER.search(key) for key, _ in pairs):
        return dsn  # nothing secret (and chdb:///path keeps its form)
    query = urlencode([(k, "***" if _SECRET_PARAMETER.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def read_secret_file(path: Path) -> str:
    """A secret's first line, from a file only its owner can read (anything else is refused: a secret others
    can read is no secret). Raises ValueError, which names the file and never its content."""
    try:
        mode = path.stat().st_mode
        if stat.S_IMODE(mode) & 0o077:
            raise ValueError(f"{path} can be read or written by others (mode {stat.S_IMODE(mode):03o}): chmod 600 {path}")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    secret = text.split("\n", 1)[0].strip()
    if not secret:
        raise ValueError(f"{path} is empty")
    return secret
class _FileSettings(CollectorSettings):
    """The YAML file's schema: the same settings, read from nothing but the file, unknown keys refused."""

    model_config = SettingsConfigDict(extra="forbid")
    query_port: int | None = Field(default=None, ge=0, le=65535, description="Deprecated: read_api_port.")

    @classmethod
    def settings_customise_sources(  # type: ignore[override]  # pydantic-settings passes the others by keyword
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource, **_: PydanticBaseSettingsSource
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _config_file_values(path: Path) -> dict[str, Any]:
    """The settings the YAML file sets (validated on their own first, so errors carry its line numbers)."""
    values = load_yaml_model(path, _FileSettings).model_dump(exclude_unset=True)
    for old, name in DEPRECATED_FILE_KEYS.items():
        if old in values:
            logger.warning("%s: %s is deprecated: use %s", path, old, name)
            value = values.pop(old)
            values.setdefault(name, value)
    return values


_SECRET_SETTINGS = frozenset({"clickhouse_dsn", "clickhouse_password", "auth_token"})


def _origin(name: str, overrides: dict[str, Any]) -> str:
    """Where a setting's value came from, for an error message."""
    if name in overrides:
        return f"{name} (command line)"
    variable = f"{ENV_PREFIX}{name.upper()}"
    if variable in os.environ:
        return variable
    return os.environ.get(CONFIG_FILE_VARIABLE) or "settings"


# Deprecated names of settings, still read (a warning says the new one): old name -> setting.
DEPRECATED_VARIABLES = {"LLMSIGHT_QUERY_PORT": "read_api_port"}
DEPRECATED_FILE_KEYS = {"query_port": "read_api_port"}


def _deprecated_variables(given: dict[str, Any]) -> dict[str, Any]:
    """Values of deprecated variables, for settings neither given nor set under their new name."""
    found = {}
    for variable, name in DEPRECATED_VARIABLES.items():
        if variable in os.environ and name not in given and f"{ENV_PREFIX}{name.upper()}" not in os.environ:
            logger.warning("%s is deprecated: use %s%s", variable, ENV_PREFIX, name.upper())
            found[name] = os.environ[variable]
    return found


def load_settings(**overrides: Any) -> CollectorSettings:
    """Settings from the environment/YAML with CLI flag values (non-None) on top. Raises ConfigurationError
    (a ConfigFileError for the YAML file) naming the variable, flag or line at fault."""
    given = {k: v for k, v in overrides.items() if v is not None}
    given = {**_deprecated_variables(given), **given}
    try:
        return CollectorSettings(**given)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            name = str(error["loc"][0]) if error["loc"] else ""
            # A secret's value is never echoed (a DSN carries its password).
            shown = "" if name in _SECRET_SETTINGS else f"={error['input']!r}"
            problems.append(f"{_origin(name, given)}{shown}: {error['msg']}" if name else error["msg"])
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from None
    except SettingsError as exc:  # an environment value pydantic-settings could not even parse
        raise ConfigurationError(f"invalid configuration: {unparsable_variable(exc)}") from None
