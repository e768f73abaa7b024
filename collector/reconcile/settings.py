"""Admin keys and API addresses for pulling the providers' reports.

Keys come from `LLMSIGHT_OPENAI_ADMIN_KEY` / `LLMSIGHT_ANTHROPIC_ADMIN_KEY` or from a secrets file
(`LLMSIGHT_ADMIN_KEYS_FILE`, lines `NAME=value`, readable by its owner only). They are SecretStr: never logged,
never written to collector.json, never part of an error message. Base URLs: llmsight's own setting, else the
SDKs' variables (`OPENAI_BASE_URL`, `ANTHROPIC_BASE_URL`), else the providers' public APIs.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmsight.errors import ConfigurationError

OPENAI_KEY_VARIABLE = "LLMSIGHT_OPENAI_ADMIN_KEY"
ANTHROPIC_KEY_VARIABLE = "LLMSIGHT_ANTHROPIC_ADMIN_KEY"
KEY_VARIABLES = {"openai": OPENAI_KEY_VARIABLE, "anthropic": ANTHROPIC_KEY_VARIABLE}
DEFAULT_BASE_URLS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}
SDK_BASE_URL_VARIABLES = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}


class AdminKeyError(ConfigurationError):
    """A missing, unreadable or refused admin key: the message names the provider and the variable, never the key."""


class ReconcileSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMSIGHT_", extra="ignore")

    openai_admin_key: SecretStr | None = Field(default=None, description="OpenAI admin key (sk-admin-…).")
    anthropic_admin_key: SecretStr | None = Field(default=None, description="Anthropic admin key (sk-ant-admin…).")
    admin_keys_file: Path | None = Field(default=None, description="NAME=value lines, mode 0600: the keys above.")
    openai_admin_base_url: str | None = Field(default=None, description="Default: OPENAI_BASE_URL, else OpenAI's API.")
    anthropic_admin_base_url: str | None = Field(default=None, description="Default: ANTHROPIC_BASE_URL, else Anthropic's.")
    reconcile_interval_s: float = Field(default=3600.0, gt=0, description="The collector's pull schedule.")
    reconcile_repull_days: int = Field(default=3, ge=1, le=31, description="Recent days every scheduled pull re-pulls.")


@dataclass(frozen=True)
class ProviderAccess:
    provider: str
    base_url: str
    admin_key: SecretStr


def _keys_from_file(path: Path) -> dict[str, SecretStr]:
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except OSError as exc:
        raise AdminKeyError(f"cannot read the admin keys file {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AdminKeyError(f"the admin keys file {path} is readable by others (mode {stat.S_IMODE(mode):o}): chmod 600 it")
    keys: dict[str, SecretStr] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or name.strip() not in KEY_VARIABLES.values():
            raise AdminKeyError(f"{path}:{number}: expected {OPENAI_KEY_VARIABLE}=… or {ANTHROPIC_KEY_VARIABLE}=…")
        keys[name.strip()] = SecretStr(value.strip().strip("'\""))
    return keys


def configured_providers(settings: ReconcileSettings) -> list[ProviderAccess]:
    """Every provider with an admin key, with the base URL its admin API is asked at."""
    from_file = _keys_from_file(settings.admin_keys_file) if settings.admin_keys_file else {}
    keys = {
        "openai": settings.openai_admin_key or from_file.get(OPENAI_KEY_VARIABLE),
        "anthropic": settings.anthropic_admin_key or from_file.get(ANTHROPIC_KEY_VARIABLE),
    }
    own = {"openai": settings.openai_admin_base_url, "anthropic": settings.anthropic_admin_base_url}
    access = []
    for provider, key in keys.items():
        if key is None or not key.get_secret_value():
            continue
        base_url = own[provider] or os.environ.get(SDK_BASE_URL_VARIABLES[provider]) or DEFAULT_BASE_URLS[provider]
        access.append(ProviderAccess(provider, base_url.rstrip("/"), key))
    return access
