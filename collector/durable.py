"""Durable file replacement: the new content goes to a temporary file that is fsync'd, renamed over the target,
and the directory fsync'd, so after a crash the target holds its old content or its new one, never a torn mix."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def replace_durably(path: Path, fill: Callable[[BinaryIO], object]) -> None:
    """Write `path` through `fill(handle)`; raises OSError (the target unchanged) when it cannot be made durable."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        with open(tmp, "wb") as handle:
            fill(handle)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        tmp.unlink(missing_ok=True)  # a half-written temporary file must not take the last free bytes
        raise
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a directory's entries (a created, renamed or deleted file) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
