"""One exception hierarchy: every exception class the package defines descends from LLMSightError (like httpx's
HTTPError), so `except LLMSightError` catches whatever llmsight raises on purpose; ClickHouse errors are
classified by clickhouse-connect's error code, not by their message text."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import struct
from pathlib import Path
from types import ModuleType

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from llmsight.collector.store import Store, StoreDataError, StoreError, StoreUnavailableError
from llmsight.collector.store.store import _classify
from llmsight.errors import LLMSightError

# Importing these has effects (instrumenting the process, running a server): they define no exceptions.
_NOT_IMPORTED = ("llmsight._bootstrap", "llmsight.testing.__main__")


def _modules() -> list[ModuleType]:
    """Every module of the package: its top-level folders are mapped onto `llmsight` one by one (setup.py)."""
    modules = []
    for root in ("llmsight", "llmsight.collector", "llmsight.alerts", "llmsight.dashboards"):
        package = importlib.import_module(root)
        modules.append(package)
        for info in pkgutil.walk_packages(package.__path__, f"{root}."):
            if not info.name.startswith(_NOT_IMPORTED):
                modules.append(importlib.import_module(info.name))
    return modules


def test_every_exception_class_of_the_package_descends_from_llmsighterror() -> None:
    modules = _modules()
    assert len(modules) > 60  # the walk really went through the package
    defined = [
        obj for module in modules for _, obj in inspect.getmembers(module, inspect.isclass)
        if obj.__module__ == module.__name__ and issubclass(obj, BaseException)
    ]
    assert len(defined) > 20
    outside = sorted(f"{cls.__module__}.{cls.__qualname__}" for cls in defined if not issubclass(cls, LLMSightError))
    assert outside == []


def test_store_errors_are_classified_by_clickhouse_error_code_not_text() -> None:
    dsn = "chdb:///nowhere"
    refused = _classify(DatabaseError("a message without any code in it", code=469), dsn)  # VIOLATED_CONSTRAINT
    assert type(refused) is StoreDataError and refused.code == 469
    # The text names a data error, the code does not: the code decides.
    other = _classify(DatabaseError("Code: 6. DB::Exception: Cannot parse text", code=81), dsn)
    assert type(other) is StoreError and other.code == 81
    assert type(_classify(OperationalError("gone", code=None), dsn)) is StoreUnavailableError
    assert type(_classify(struct.error("bad row"), dsn)) is StoreDataError


def test_a_real_chdb_error_carries_its_code(tmp_path: Path) -> None:
    store = Store.open(f"chdb://{tmp_path / 'store'}")
    try:
        with pytest.raises(StoreError) as raised:
            store.query("SELECT * FROM no_such_database.t")
    finally:
        store.close()
    assert raised.value.code == 81 and isinstance(raised.value, LLMSightError)  # UNKNOWN_DATABASE
