"""The data directory and everything the collector writes in it are private (0700 / 0600): created so, and an
existing directory that others could write (or files an earlier run left 0644) repaired at start, saying so."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from llmsight.collector.private import DataDirectoryError, make_private

from .conftest import CollectorProcess
from .spans import genai_request, post_protobuf


def _open_to_others(root: Path) -> list[str]:
    found = [] if not stat.S_IMODE(root.stat().st_mode) & 0o077 else [f". {stat.S_IMODE(root.stat().st_mode):04o}"]
    for path in root.rglob("*"):
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and stat.S_IMODE(mode) & 0o077:
            found.append(f"{path.relative_to(root)} {stat.S_IMODE(mode):04o}")
    return found


def test_an_open_data_directory_is_made_private_and_everything_the_collector_writes_is_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    for directory in (data_dir, data_dir / "spool", data_dir / "store"):
        directory.mkdir()
        directory.chmod(0o777 if directory == data_dir else 0o755)
    (data_dir / "spool" / "checkpoint.json").write_text("{}")
    (data_dir / "spool" / "checkpoint.json").chmod(0o644)
    collector = CollectorProcess(data_dir, []).start()
    assert post_protobuf(collector.http_endpoint, genai_request(1, spans=20)) == 200
    collector.wait_stored(20)
    assert _open_to_others(data_dir) == []  # spool segments, checkpoint, shared memory, the store's files, the token
    assert collector.stop() == 0
    assert collector.process is not None and collector.process.stdout is not None
    log = collector.process.stdout.read().decode()
    assert "was mode 0777 (others could write there); made it private (0700)" in log, log


def test_a_data_directory_that_cannot_be_made_private_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o777)
    data_dir.chmod(0o777)

    def refuse(path: object, mode: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chmod", refuse)  # what chmod answers for another user's directory
    umask = os.umask(0o022)
    try:
        with pytest.raises(DataDirectoryError, match="cannot make .* private"):
            make_private(data_dir)
    finally:
        os.umask(umask)
