"""`Collector`: the running sidecar — store, pricer, pipeline, OTLP receivers, read API, alerts."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from llmsight.collector.config import CollectorSettings
from llmsight.collector.pipeline import Pipeline, PipelineLimits
from llmsight.collector.pricing import Pricer
from llmsight.collector.query_api import STATE_FILE, QueryApiServer
from llmsight.collector.receive.grpc import OtlpGrpcReceiver
from llmsight.collector.receive.http import OtlpHttpReceiver
from llmsight.collector.receive.ingest import Ingest
from llmsight.collector.store import Store, StoreUnavailableError
from llmsight.collector.store.store import warm_up_inserts

logger = logging.getLogger("llmsight.collector")


class Collector:
    def __init__(self, settings: CollectorSettings, *, limits: PipelineLimits | None = None) -> None:
        self.settings = settings
        self.limits = limits
        self.store: Store | None = None
        self.pipeline: Pipeline | None = None
        self.ingest: Ingest | None = None
        self._http: OtlpHttpReceiver | None = None
        self._grpc: OtlpGrpcReceiver | None = None
        self._query: QueryApiServer | None = None
        self.alerts: Any = None
        self.http_port = self.grpc_port = self.query_port = 0

    @property
    def state_file(self) -> Path:
        return self.settings.data_dir / STATE_FILE

    def start(self) -> Collector:
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        pricer = Pricer(settings.prices_file)  # first: a bad prices file fails before anything binds
        # Lazy: a ClickHouse server that is down must not stop the collector from accepting spans —
        # they wait in the spool until it is back.
        self.store = Store.open(settings.effective_dsn, lazy=True)
        threading.Thread(target=warm_up_inserts, name="llmsight-warm-up", daemon=True).start()
        try:
            try:
                self.store.ensure_schema(ttl_days=settings.raw_ttl_days)
            except StoreUnavailableError as exc:
                logger.warning("%s; accepting spans into the spool until it answers", exc)
            self.pipeline = Pipeline(settings, self.store, pricer, self.limits)
            self.ingest = Ingest(self.pipeline, default_service=settings.service_name_default)
            host = settings.bind_host
            self._http = OtlpHttpReceiver(
                self.ingest, host, settings.otlp_http_port, auth_token=settings.auth_token, metrics=self.metrics
            )
            self._grpc = OtlpGrpcReceiver(self.ingest, host, settings.otlp_grpc_port, auth_token=settings.auth_token)
            self._query = QueryApiServer(self.store, "127.0.0.1", settings.query_port)  # loopback only, always
            self._http.start()
            self._grpc.start()
            self._query.start()
            self.http_port, self.grpc_port, self.query_port = self._http.port, self._grpc.port, self._query.port
            self._start_alerts()
            self._write_state()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_alerts(self) -> None:
        try:
            from llmsight.alerts.evaluator import AlertEvaluator
        except ImportError:
            return
        self.alerts = AlertEvaluator.from_settings(self.settings, query=self.store.query)  # type: ignore[union-attr]
        if self.alerts is not None:
            self.alerts.start()

    def _write_state(self) -> None:
        state = {
            "pid": os.getpid(),
            "otlp_http_port": self.http_port,
            "otlp_grpc_port": self.grpc_port,
            "query_port": self.query_port,
            "dsn": self.settings.effective_dsn,
        }
        self.state_file.write_text(json.dumps(state))

    def metrics(self) -> dict[str, Any]:
        return {
            "ingest": self.ingest.stats.as_dict() if self.ingest else {},
            "pipeline": self.pipeline.stats.as_dict() if self.pipeline else {},
        }

    def flush(self, timeout: float = 30.0) -> bool:
        return self.pipeline.flush(timeout) if self.pipeline else True

    def stop(self) -> None:
        """Stop receiving, store everything accepted, release the store."""
        for server in (self._http, self._grpc):
            if server is not None:
                try:
                    server.stop()
                except Exception:
                    logger.debug("error stopping a receiver", exc_info=True)
        if self.alerts is not None:
            self.alerts.stop()
        if self.pipeline is not None:
            self.pipeline.close()
        if self._query is not None:
            self._query.stop()
        if self.store is not None:
            self.store.close()
        self.state_file.unlink(missing_ok=True)
        self._http = self._grpc = self._query = None
        self.pipeline = self.store = None
