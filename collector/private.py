"""The data directory is private to the user the collector runs as: 0700 directories, 0600 files.

Whoever can write there can feed the spool, the checkpoint and the store (and read the read-API token), so the
collector creates everything private (a 077 umask for both of its processes and the embedded store's files)
and, at each start, repairs what an earlier run, a restore or a hand-made directory left open, saying so.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from llmsight.errors import ConfigurationError

logger = logging.getLogger("llmsight.collector")
PRIVATE_UMASK = 0o077
_OTHERS = stat.S_IRWXG | stat.S_IRWXO


class DataDirectoryError(ConfigurationError):
    """The data directory cannot be made private (another user's, or its mode cannot be changed)."""


def make_private(data_dir: Path) -> int:
    """Create `data_dir` (0700) or make it and everything in it private; returns how many modes were repaired.
    Raises DataDirectoryError when that cannot be done. Symbolic links are neither followed nor changed."""
    os.umask(PRIVATE_UMASK)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not data_dir.is_dir() or data_dir.is_symlink():
        raise DataDirectoryError(f"the data directory {data_dir} is not a directory")
    mode = stat.S_IMODE(data_dir.stat().st_mode)
    if mode & _OTHERS:
        _repair(data_dir, 0o700)
        logger.warning(
            "the data directory %s was mode %04o (%s); made it private (0700)", data_dir, mode,
            "others could write there" if mode & (stat.S_IWGRP | stat.S_IWOTH) else "others could read it",
        )
    repaired = 0
    for root, directories, files in os.walk(data_dir):
        for name in directories:
            repaired += _repair(Path(root) / name, 0o700)
        for name in files:
            repaired += _repair(Path(root) / name, 0o600)
    if repaired:
        logger.warning("made %d file(s) and directories under %s private (0600 / 0700)", repaired, data_dir)
    return repaired


def _repair(path: Path, private: int) -> int:
    try:
        status = path.lstat()
        if stat.S_ISLNK(status.st_mode) or not stat.S_IMODE(status.st_mode) & _OTHERS:
            return 0
        os.chmod(path, (stat.S_IMODE(status.st_mode) | private) & stat.S_IRWXU)
    except FileNotFoundError:
        return 0  # gone meanwhile (a temporary file)
    except OSError as exc:
        raise DataDirectoryError(
            f"cannot make {path} private ({exc.strerror}): others could write the collector's data; fix its owner or mode"
        ) from None
    return 1
