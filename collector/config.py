"""Collector configuration: LLMSIGHT_* environment variables, CLI flags and an optional YAML file.

Precedence (highest first): CLI flags, environment, YAML file (LLMSIGHT_CONFIG_FILE), defaults.
The YAML file is validated strictly (unknown keys are errors, reported as `FILE:LINE: what`), and a bad
value from the environment or a flag is reported with the variable or flag that carried it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings import SettingsError

from llmsight.collector.config_file import load_yaml_model
from llmsight.collector.logs import LogLevel
from llmsight.errors import ConfigurationError

CONFIG_FILE_VARIABLE = "LLMSIGHT_CONFIG_FILE"
ENV_PREFIX = "LLMSIGHT_"


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
    otlp_http_port: int = Field(default=4318, ge=0, le=65535)
    otlp_grpc_port: int = Field(default=4317, ge=0, le=65535)
    query_port: int = Field(default=4319, ge=0, le=65535, description="Read-only SQL API for report/alerts.")
    bind_host: str = Field(default="127.0.0.1", description="Loopback unless told otherwise.")
    auth_token: str | None = Field(default=None, description="Bearer token required from exporters, if set.")
    prices_file: Path | None = None
    alerts_file: Path | None = None
    service_name_default: str = "unknown_service"
    raw_ttl_days: int = Field(default=90, ge=1)
    cheaper_models: dict[str, str] | None = Field(
        default=None,
        description="Provider → its cheaper model, priced for the savings dashboard (JSON in the environment). "
        "Unset: llmsight's defaults (collector/pricing/price_table.py).",
    )
    content_ttl_days: int = Field(default=7, ge=1, description="Days captured prompts and completions are kept.")
    log_level: LogLevel = Field(default="warning", description="Level of llmsight's own log messages, both processes.")

    @field_validator("clickhouse_dsn")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value and not value.startswith(("chdb://", "http://", "https://")):
            raise ValueError("must start with chdb://, http:// or https://")
        return value

    @property
    def effective_dsn(self) -> str:
        return self.clickhouse_dsn or f"chdb://{self.data_dir / 'store'}"

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


class _FileSettings(CollectorSettings):
    """The YAML file's schema: the same settings, read from nothing but the file, unknown keys refused."""

    model_config = SettingsConfigDict(extra="forbid")

    @classmethod
    def settings_customise_sources(  # type: ignore[override]  # pydantic-settings passes the others by keyword
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource, **_: PydanticBaseSettingsSource
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _config_file_values(path: Path) -> dict[str, Any]:
    """The settings the YAML file sets (validated on their own first, so errors carry its line numbers)."""
    return load_yaml_model(path, _FileSettings).model_dump(exclude_unset=True)


def _origin(name: str, overrides: dict[str, Any]) -> str:
    """Where a setting's value came from, for an error message."""
    if name in overrides:
        return f"{name} (command line)"
    variable = f"{ENV_PREFIX}{name.upper()}"
    if variable in os.environ:
        return variable
    return os.environ.get(CONFIG_FILE_VARIABLE) or "settings"


def load_settings(**overrides: Any) -> CollectorSettings:
    """Settings from the environment/YAML with CLI flag values (non-None) on top. Raises ConfigurationError
    (a ConfigFileError for the YAML file) naming the variable, flag or line at fault."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return CollectorSettings(**given)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            name = str(error["loc"][0]) if error["loc"] else ""
            problems.append(f"{_origin(name, given)}={error['input']!r}: {error['msg']}" if name else error["msg"])
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from None
    except SettingsError as exc:  # an environment value pydantic-settings could not even parse
        raise ConfigurationError(f"invalid configuration: {exc}") from None
