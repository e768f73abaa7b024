"""`Collector`: the running sidecar, in two processes.

This (store) process: store, pricer, pipeline (spool → ClickHouse), read API, alerts. The receiver
process it spawns: OTLP/HTTP and OTLP/gRPC in, normalised records durable in the spool. They share the
spool on disk and a few counters in shared memory (collector/shared.py).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from llmsight.alerts.budgets import report_section
from llmsight.alerts.evaluator import AlertEvaluator
from llmsight.alerts.rules import AlertsConfig
from llmsight.collector.accept import AcceptLimits
from llmsight.collector.config import CollectorSettings, check_exposure
from llmsight.collector.lockfile import lock_exclusively
from llmsight.collector.pipeline import Pipeline, PipelineLimits
from llmsight.collector.pricing import Pricer
from llmsight.collector.pricing.price_table import PricingWithPriceTable
from llmsight.collector.private import make_private
from llmsight.collector.read_api import (
    STATE_FILE,
    TOKEN_FILE,
    AlertsCheckRequest,
    Kill,
    LimitedQuery,
    Operations,
    Read,
    ReadApiServer,
    ReportRequest,
    new_token,
    write_private,
)
from llmsight.collector.receive.process import ReceiverConfig, ReceiverProcess
from llmsight.collector.reconcile.service import reconciliation_json
from llmsight.collector.report.queries import build_report
from llmsight.collector.report.window import Window
from llmsight.collector.shared import SharedState
from llmsight.collector.spool import spool_id
from llmsight.collector.store import Store, StoreUnavailableError
from llmsight.collector.store.store import without_dataframes

logger = logging.getLogger("llmsight.collector")
SHARED_FILE = "shared.mem"


def read_api_operations(read: Read, kill: Kill | None = None, alerts_config: AlertsConfig | None = None) -> Operations:
    """The read API's operations, wired here (the composition root) so the read API imports none of them."""
    config = alerts_config or AlertsConfig()

    def report(request: ReportRequest, query: LimitedQuery) -> dict[str, Any]:
        return build_report(query, Window(request.start, request.end), report_section(config.budgets))

    def reconcile(request: ReportRequest, query: LimitedQuery) -> dict[str, Any]:
        return reconciliation_json(query, request.start, request.end)

    def check_alerts(request: AlertsCheckRequest, query: LimitedQuery) -> dict[str, Any]:
        return {"transitions": [t.as_json() for t in AlertEvaluator(query, config).evaluate_once()]}

    return Operations(read, kill, report=report, reconcile=reconcile, check_alerts=check_alerts)


class Collector:
    def __init__(
        self, settings: CollectorSettings, *, limits: PipelineLimits | None = None, accept_limits: AcceptLimits | None = None
    ) -> None:
        self.settings = settings
        self.limits = limits
        self.accept_limits = accept_limits or AcceptLimits(
            max_span_age_s=settings.accept_past_days * 86_400, max_span_lead_s=settings.accept_future_minutes * 60
        )
        self.shared: SharedState | None = None
        self._lock_file: Any = None
        self.store: Store | None = None
        self.pipeline: Pipeline | None = None
        self._receiver: ReceiverProcess | None = None
        self._read_api: ReadApiServer | None = None
        self.alerts: Any = None
        self.reconcile: Any = None
        self.http_port = self.grpc_port = self.read_api_port = 0

    @property
    def state_file(self) -> Path:
        return self.settings.data_dir / STATE_FILE

    def start(self) -> Collector:
        settings = self.settings
        check_exposure(settings)  # before anything binds
        make_private(settings.data_dir)  # 0700 / 0600, and a 077 umask for everything created from here on
        pricer = Pricer(settings.prices_file)  # first: a bad prices or alerts file fails before anything binds
        alerts_config = self._alerts_config()
        # One collector per data directory: the spool, checkpoint and shared counters are its own.
        self._lock_file = lock_exclusively(settings.data_dir / ".collector.lock", what=f"the data directory {settings.data_dir}")
        try:
            # Lazy: a ClickHouse server that is down must not stop the collector from accepting spans —
            # they wait in the spool until it is back.
            self.store = Store.open(settings.effective_dsn, lazy=True)
            without_dataframes()
            try:
                self.store.ensure_schema(ttl_days=settings.raw_ttl_days, content_ttl_days=settings.content_ttl_days)
            except StoreUnavailableError as exc:
                logger.warning("%s; accepting spans into the spool until it answers", exc)
            spool_id(settings.spool_dir)  # created before either process uses the spool
            self.shared = SharedState.create(settings.data_dir / SHARED_FILE)
            # The pipeline prices through a wrapper that also keeps the model_prices table (savings panels).
            priced = PricingWithPriceTable(pricer, self.store, settings.cheaper_models)
            self.pipeline = Pipeline(settings, self.store, priced, self.shared, self.limits)
            self._receiver = ReceiverProcess(
                ReceiverConfig(
                    spool_dir=settings.spool_dir, shared_file=self.shared.path, host=settings.bind_host,
                    http_port=settings.otlp_http_port, grpc_port=settings.otlp_grpc_port,
                    auth_token=settings.auth_token, default_service=settings.service_name_default,
                    provider_hosts=settings.provider_hosts,
                    limits=self.accept_limits, read_timeout_s=settings.request_read_timeout_s, log_level=settings.log_level,
                )
            )
            self._receiver.start()  # opens (and repairs) the spool before the writer reads it
            self.pipeline.start()
            operations = read_api_operations(self.store.read, self.store.kill_reads, alerts_config)
            self._read_api = ReadApiServer(
                operations, settings.read_api_port, new_token(settings.data_dir), cancel_reads=self.store.cancel_reads
            )
            self._read_api.start()
            self.http_port, self.grpc_port = self._receiver.http_port, self._receiver.grpc_port
            self.read_api_port = self._read_api.port
            self._start_alerts(alerts_config)
            self._start_reconcile()
            self._write_state()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_reconcile(self) -> None:
        """The hourly pull of the providers' reports, when admin keys are configured (never written to collector.json)."""
        from llmsight.collector.reconcile.schedule import ScheduledPull
        from llmsight.collector.reconcile.settings import ReconcileSettings, configured_providers

        settings = ReconcileSettings()
        accesses = configured_providers(settings)
        if accesses:
            logger.info("pulling %s usage and costs every %.0f s", ", ".join(a.provider for a in accesses),
                        settings.reconcile_interval_s)
            self.reconcile = ScheduledPull(self.store, accesses, settings).start()

    def _alerts_config(self) -> Any:
        """The validated alerts file (ConfigFileError, `file:line: …`, when it is wrong)."""
        try:
            from llmsight.alerts.rules import load_config
        except ImportError:
            return None
        return load_config(self.settings.alerts_file)

    def _start_alerts(self, config: Any) -> None:
        if config is None:
            return
        from llmsight.alerts.evaluator import AlertEvaluator

        store = self.store
        assert store is not None

        def bounded_read(sql: str, parameters: dict[str, Any] | None = None) -> Any:
            return LimitedQuery(store.read)(sql, parameters)  # like the read API's: never blocks inserts

        self.alerts = AlertEvaluator.from_settings(
            self.settings, query=bounded_read, config=config, counters=self.shared.add  # type: ignore[union-attr]
        )
        if self.alerts is not None:
            self.alerts.start()

    def _write_state(self) -> None:
        state = {
            "pid": os.getpid(),
            "otlp_http_port": self.http_port,
            "otlp_grpc_port": self.grpc_port,
            "read_api_port": self.read_api_port,
            "dsn": self.settings.redacted_dsn,
        }
        write_private(self.state_file, json.dumps(state))

    def metrics(self) -> dict[str, Any]:
        return self.shared.metrics() if self.shared else {"ingest": {}, "pipeline": {}}

    def flush(self, timeout: float = 30.0) -> bool:
        return self.pipeline.flush(timeout) if self.pipeline else True

    def stop(self) -> None:
        """Stop receiving, store everything accepted, release the store."""
        if self._read_api is not None:  # first: reports in progress are killed (their clients get 503), not awaited
            self._read_api.begin_stop()
        elif self.store is not None:
            self.store.cancel_reads()
        if self._receiver is not None:
            self._receiver.stop()
        if self.alerts is not None:
            self.alerts.stop()
        if self.reconcile is not None:
            self.reconcile.stop()
            self.reconcile = None
        if self.pipeline is not None:
            self.pipeline.close()
        if self._read_api is not None:
            self._read_api.stop()
        if self.store is not None:
            self.store.close()
        if self._lock_file is not None:  # not when start-up failed on another collector's lock: those are its files
            self.state_file.unlink(missing_ok=True)
            (self.settings.data_dir / TOKEN_FILE).unlink(missing_ok=True)
            self._lock_file.close()
        self._receiver = self._read_api = self._lock_file = None
        self.pipeline = self.store = None
