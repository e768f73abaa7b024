"""pytest fixtures: `provider_server` (one per session, reset before each test that uses it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmsight.testing.server import ProviderServer


@pytest.fixture(scope="session")
def _provider_server_session() -> Iterator[ProviderServer]:
    with ProviderServer(seed=7) as server:
        yield server


@pytest.fixture
def provider_server(_provider_server_session: ProviderServer) -> ProviderServer:
    """The local provider, with empty faults, prompt cache, ledger and request counter."""
    _provider_server_session.reset()
    return _provider_server_session
