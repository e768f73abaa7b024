"""Alert rules (alerts/rules.yaml) and the user's alerts config, as validated pydantic models."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
OPERATORS = {"gt": lambda v, t: v > t, "lt": lambda v, t: v < t, "gte": lambda v, t: v >= t, "lte": lambda v, t: v <= t}


def seconds(duration: str) -> int:
    match = _DURATION.match(duration.strip())
    if not match:
        raise ValueError(f"{duration!r} is not a duration like 30s, 15m, 24h, 7d")
    return int(match.group(1)) * _UNITS[match.group(2)]


class Threshold(BaseModel):
    model_config = ConfigDict(extra="forbid")
    param: str
    default: float
    op: Literal["gt", "lt", "gte", "lte"] = "gt"


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    description: str
    severity: Literal["critical", "warning", "info"]
    lookback: str
    for_: str = Field(alias="for", default="0s")
    threshold: Threshold
    params: dict[str, float] = Field(default_factory=dict)
    query: str

    @field_validator("lookback", "for_")
    @classmethod
    def _duration(cls, value: str) -> str:
        seconds(value)
        return value

    @property
    def lookback_seconds(self) -> int:
        return seconds(self.lookback)

    @property
    def for_seconds(self) -> int:
        return seconds(self.for_)

    def sql(self, params: dict[str, float]) -> str:
        """The query with its parameters filled in (macros left for the plugin / evaluator)."""
        values = {**self.params, **{k: v for k, v in params.items() if k in self.params}}
        sql = self.query
        for name, value in values.items():
            sql = sql.replace("{" + name + "}", repr(value))
        return sql.strip()

    def threshold_value(self, params: dict[str, float]) -> float:
        return float(params.get(self.threshold.param, self.threshold.default))


class RuleSet(BaseModel):
    rules: list[Rule]


class Webhook(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(pattern=r"^https?://")
    format: Literal["json", "slack"] = "json"


class AlertsConfig(BaseModel):
    """The user's alerts file (LLMSIGHT_ALERTS_FILE): thresholds, webhooks, evaluation cadence."""

    model_config = ConfigDict(extra="forbid")
    interval: str = "1m"
    repeat_interval: str | None = None  # re-send a still-firing alert this often (None: never)
    params: dict[str, float] = Field(default_factory=dict)
    webhooks: list[Webhook] = Field(default_factory=list)
    disabled: list[str] = Field(default_factory=list)


def load_rules() -> RuleSet:
    text = resources.files("llmsight.alerts").joinpath("rules.yaml").read_text()
    return RuleSet.model_validate(yaml.safe_load(text))


def load_config(path: Path | None) -> AlertsConfig:
    if path is None:
        return AlertsConfig()
    document = yaml.safe_load(path.read_text()) or {}
    return AlertsConfig.model_validate(document)
