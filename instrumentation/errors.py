"""llmsight's one exception hierarchy (like httpx's): catch `LLMSightError` to catch anything llmsight raises.

Instrumentation never raises into an app's LLM calls; these are raised only where the caller asked for
something that cannot be done (a misspelt setting, an invalid configuration file).
"""

from __future__ import annotations


class LLMSightError(Exception):
    """Base of every error llmsight raises on purpose."""


class ConfigurationError(LLMSightError, ValueError):
    """A setting, argument or configuration file is invalid; the message says which and why."""
