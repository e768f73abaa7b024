"""The collector's scheduled pull: every hour (by default), the last few days again (providers revise recent buckets).

Runs in the store process, which owns the store. A failure is logged (never the key) and retried at the next
interval; it never stops the collector.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from llmsight.collector.reconcile.pull import pull
from llmsight.collector.reconcile.settings import ProviderAccess, ReconcileSettings
from llmsight.errors import LLMSightError

logger = logging.getLogger("llmsight.reconcile")


class ScheduledPull:
    def __init__(self, store: Any, accesses: list[ProviderAccess], settings: ReconcileSettings) -> None:
        self.store, self.accesses, self.settings = store, accesses, settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llmsight-reconcile", daemon=True)
        self.pulls = 0

    def start(self) -> ScheduledPull:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                summary = pull(self.store, self.accesses, timedelta(days=self.settings.reconcile_repull_days))
                if not summary.complete:
                    logger.warning("reconcile pull left incomplete: %s", "; ".join(
                        f"{e.endpoint} ({e.detail})" for e in summary.endpoints if e.status != "complete"))
            except LLMSightError as exc:  # a refused key, an unreachable store: said, and tried again later
                logger.error("reconcile pull failed: %s", exc)
            except Exception:  # noqa: BLE001 - the schedule must outlive any one pull
                logger.exception("reconcile pull failed")
            self.pulls += 1
            self._stop.wait(self.settings.reconcile_interval_s)
