from pathlib import Path

import pytest

from tests.alerts.go_templates import build_go_expander
from tests.dashboards.conftest import empty_store  # noqa: F401 - the same seeded collector


@pytest.fixture(scope="module")
def go_expander(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Go's text/template with Grafana's alerting data shape, built once per module."""
    return build_go_expander(tmp_path_factory.mktemp("gotemplate"))
