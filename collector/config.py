"""Collector configuration: LLMSIGHT_* environment variables, CLI flags and an optional YAML file.

Precedence (highest first): CLI flags, environment, YAML file (LLMSIGHT_CONFIG_FILE), defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource


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
    model_config = SettingsConfigDict(env_prefix="LLMSIGHT_", extra="ignore")

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
    # Spans must start inside this window around the collector's clock; others are rejected (OTLP
    # partial_success, with the reason) rather than stored under a wrong date. The default past bound stays
    # well inside the raw TTL; a wider one is allowed: inserts are split per day partition anyway.
    accept_past_days: float = Field(default=30, gt=0, le=36_500, description="Oldest span start accepted, in days.")
    accept_future_minutes: float = Field(default=60, ge=0, le=10_080, description="Clock skew allowed ahead, in minutes.")

    @field_validator("clickhouse_dsn")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value and not value.startswith(("chdb://", "http://", "https://")):
            raise ValueError("must start with chdb://, http:// or https://")
        return value

    @model_validator(mode="after")
    def _window_inside_ttl(self) -> CollectorSettings:
        if self.accept_past_days > self.raw_ttl_days:
            # Rows older than the TTL are deleted as soon as they are stored: acknowledged, then gone.
            raise ValueError(f"accept_past_days ({self.accept_past_days:g}) must not exceed raw_ttl_days ({self.raw_ttl_days})")
        return self

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
        config_file = os.environ.get("LLMSIGHT_CONFIG_FILE")
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)


def load_settings(**overrides: Any) -> CollectorSettings:
    """Settings from the environment/YAML with CLI flag values (non-None) on top."""
    return CollectorSettings(**{k: v for k, v in overrides.items() if v is not None})
