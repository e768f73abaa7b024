"""llmsight's one exception hierarchy (like httpx's): catch `LLMSightError` to catch anything llmsight raises.

Instrumentation never raises into an app's LLM calls; these are raised only where the caller asked for
something that cannot be done (a misspelt setting, an invalid configuration file). Every exception class in the
package descends from `LLMSightError` (tests/test_errors.py walks them); each is defined next to the code that
raises it and also keeps the built-in base its callers catch (ValueError, OSError, RuntimeError):

    LLMSightError
    ├── ConfigurationError (ValueError)          bad setting, flag or file: exit code 2
    │   ├── ConfigFileError → OverridesError      `file:line: what`
    │   └── ExposureError                          refuses to listen beyond loopback unprotected
    ├── StoreError (RuntimeError)                  ClickHouse refused or failed; `.code` is its error code
    │   ├── StoreUnavailableError, StoreLockedError, StoreDataError
    │   └── OperationTimeout, OperationCancelled   (the read API)
    ├── LockedError, RepriceError, MissingExtraError (RuntimeError)
    ├── WindowError, RowFileError, TemplateError, MacroError, BadRequest, InvalidSpan, TooLarge (ValueError)
    ├── SpoolWriteError, ReceiverError (OSError)
    └── Backpressure, NotACall, BodyTooLarge, BodyTimeout, ClientGone, OverBudget   (answered, never escape)
"""

from __future__ import annotations


class LLMSightError(Exception):
    """Base of every error llmsight raises on purpose."""


class ConfigurationError(LLMSightError, ValueError):
    """A setting, argument or configuration file is invalid; the message says which and why."""
