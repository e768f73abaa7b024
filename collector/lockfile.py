"""Exclusive lock files: one process at a time owns an embedded store, a spool, a data directory.

`flock` locks belong to the open file, so the kernel releases them when the owner dies, even by
`kill -9`: a restarted collector never finds a stale lock. The file holds the owner's pid for the error.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import IO

from llmsight.errors import LLMSightError


class LockedError(LLMSightError, RuntimeError):
    """Another live process holds the lock."""


def lock_exclusively(path: Path, *, what: str, wait_s: float = 0.0) -> IO[str]:
    """Hold `path` locked while the returned file stays open; waits up to `wait_s` for another owner."""
    handle = open(path, "a+")  # noqa: SIM115 - the caller keeps it open while it owns the lock
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.seek(0)
                owner = handle.read().strip() or "another process"
                handle.close()
                raise LockedError(f"{what} is in use by {owner}") from None
            time.sleep(0.05)
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    return handle
