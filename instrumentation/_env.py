"""LLMSIGHT_* settings from the environment, checked only when there is something to check: without arguments
or LLMSIGHT_* variables the defaults hold, and pydantic (≈ 50 ms to import) stays out of the app's start-up."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmsight.config import InstrumentationSettings

ENV_PREFIX = "LLMSIGHT_"  # the app side's and the collector's settings alike


def validated_settings(settings: dict[str, Any]) -> InstrumentationSettings | None:
    """The settings, checked now if arguments or LLMSIGHT_* variables may be wrong (ConfigurationError); None
    when there is nothing to check: the defaults, built when an SDK is instrumented (pydantic is not imported
    at start-up for them)."""
    if not (settings or any(name.startswith(ENV_PREFIX) for name in os.environ)):
        return None
    from llmsight.config import InstrumentationSettings

    return InstrumentationSettings.from_arguments(**settings)
