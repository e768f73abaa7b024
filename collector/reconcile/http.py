"""The HTTP side of pulling: one httpx client per provider, its auth headers, retries with backoff.

429 and 5xx (and connection failures) are retried, honouring `retry-after`, a few times; then the caller gets
`ProviderUnavailableError` and leaves the window incomplete. 401/403 are the admin key's fault: `AdminKeyError`
naming the provider and the variable to fix. Messages never carry the key (nor the provider's message for a
refused key, which may quote part of it).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx

from llmsight._version import __version__
from llmsight.collector.reconcile.settings import KEY_VARIABLES, AdminKeyError, ProviderAccess
from llmsight.errors import LLMSightError

logger = logging.getLogger("llmsight.reconcile")
ANTHROPIC_VERSION = "2023-06-01"
PROVIDER_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic"}
RETRIED_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class ProviderUnavailableError(LLMSightError):
    """The provider kept failing (429/5xx/no answer) after every retry."""


class ProviderRequestError(LLMSightError):
    """The provider refused the request itself (another 4xx) or answered something that is not JSON."""


class AdminClient:
    def __init__(
        self, access: ProviderAccess, *, timeout_s: float = 30.0, attempts: int = 5, backoff_s: float = 1.0,
        max_wait_s: float = 60.0, sleep: Callable[[float], None] = time.sleep, transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.provider = access.provider
        self.name = PROVIDER_NAMES.get(access.provider, access.provider)
        self.attempts, self.backoff_s, self.max_wait_s, self._sleep = attempts, backoff_s, max_wait_s, sleep
        key = access.admin_key.get_secret_value()
        headers = {"user-agent": f"llmsight/{__version__}"}
        if access.provider == "anthropic":
            headers |= {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}
        else:
            headers["authorization"] = f"Bearer {key}"
        self._client = httpx.Client(base_url=access.base_url + "/", headers=headers, timeout=timeout_s, transport=transport)
        self.retries = 0

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get(self, path: str, params: list[tuple[str, str]]) -> Any:
        """The JSON body of GET `path` (relative to the base URL), numbers with a fraction as Decimal."""
        last = ""
        for attempt in range(1, self.attempts + 1):
            try:
                response = self._client.get(path.lstrip("/"), params=tuple(params))
            except httpx.TransportError as exc:
                last = f"no answer ({type(exc).__name__})"
                wait = self._backoff(attempt, None)
            else:
                if response.status_code in (401, 403):
                    reason = "refused" if response.status_code == 401 else "is not allowed to read organization usage with"
                    raise AdminKeyError(
                        f"{self.name} {reason} the admin key in {KEY_VARIABLES[self.provider]} "
                        f"(HTTP {response.status_code}): set it to an admin key of the organization"
                    )
                if response.status_code < 400:
                    try:
                        return json.loads(response.content, parse_float=Decimal)
                    except ValueError:
                        raise ProviderRequestError(f"{self.name} answered {path} with something that is not JSON") from None
                if response.status_code not in RETRIED_STATUSES:
                    raise ProviderRequestError(f"{self.name} refused {path}: HTTP {response.status_code} {_message(response)}")
                last = f"HTTP {response.status_code}"
                wait = self._backoff(attempt, response.headers.get("retry-after"))
            if attempt == self.attempts:
                break
            self.retries += 1
            logger.info("%s %s: %s; retrying in %.1f s", self.name, path, last, wait)
            self._sleep(wait)
        raise ProviderUnavailableError(f"{self.name} {path}: {last} after {self.attempts} attempts")

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(max(float(retry_after), 0.0), self.max_wait_s)
            except ValueError:
                pass  # an HTTP date: fall back to exponential backoff
        return float(min(self.backoff_s * 2 ** (attempt - 1), self.max_wait_s))


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except ValueError:
        return ""
    message = error.get("message") if isinstance(error, dict) else None
    return str(message)[:200] if message else ""
