"""The long test files `tests/conftest.py` hands out first exist: a renamed or split one would silently lose its
place and could start last, leaving one worker running it alone at the end of the run."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import _LONG_FILES

ROOT = Path(__file__).resolve().parent.parent


def test_every_long_file_exists_once() -> None:
    assert [path for path in _LONG_FILES if not (ROOT / path).is_file()] == []
    assert len(set(_LONG_FILES)) == len(_LONG_FILES)
