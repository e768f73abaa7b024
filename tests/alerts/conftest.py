from tests.dashboards.conftest import empty_store  # noqa: F401 - the same seeded collector
