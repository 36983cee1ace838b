"""Every metric of the service, on prometheus-client, with OpenTelemetry's stable semantic
conventions' names where they exist (as the Prometheus exporter spells them).

Two modes, the same code:

- one process (`serve`, the default, one uvicorn process per container): values live in
  memory, and `/metrics` adds the client's process, platform and GC collectors;
- several workers (`serve --workers N`): prometheus-client's multiprocess mode, chosen by
  `PROMETHEUS_MULTIPROC_DIR` (set by `serve` before any worker starts, see
  `entrypoints/process/metrics_setup.py`). Each worker writes its values to files there, and any
  worker's `/metrics` reads them all, summed. That mode has no custom collectors and no
  exemplars, and the process collector sees only the scraping worker. So what a custom
  collector would read at scrape time (the pools) is sampled into gauges by each worker
  once a second (`sample_pools`), each worker's memory, CPU and open files are gauges
  labelled with its pid, and exemplars are not exposed (traces carry the request id
  instead). Gauges are summed over live workers ("livesum"); a dead worker's files are
  dropped when it exits or, if it died, at the next scrape.

The request path costs little by prometheus-client's public API alone: each label set is
resolved to its child once and kept (a request then costs a dictionary look-up, not a
label parse), and a request observes three series: the active-requests gauge, its
duration and its statements' durations. No pool event listener runs on checkout: the
pools' own counters are read once a second instead.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# OpenTelemetry's advice for http.server.request.duration (seconds).
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
# db.client.operation.duration: the same advice, starting lower (a read by id takes well
# under a millisecond).
DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass(frozen=True, slots=True)
class PoolStats:
    """One pool, read without a listener: connections in use and idle, the most it may
    open, and units of work waiting for one."""

    used: int
    idle: int
    max: int
    pending: int


def multiprocess_directory() -> Path | None:
    value = os.environ.get(MULTIPROCESS_VARIABLE)
    return Path(value) if value else None


class PrometheusMetrics:
    """The registry and every instrument; the use cases see it as `UsageMetrics`, the
    HTTP edge and the adapters through the methods they call."""

    def __init__(self, version: str, revision: str) -> None:
        self._directory = multiprocess_directory()
        self.multiprocess = self._directory is not None
        # Registered on a registry of this object's own, never the global one: several
        # apps may live in one process (tests), each with its own values.
        registry = self._registry = CollectorRegistry(auto_describe=True)
        gauge: Final = "livesum"

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        self.http_duration = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests.",
            ("http_request_method", "http_route", "http_response_status_code", "error_type"),
            buckets=HTTP_BUCKETS,
            registry=registry,
        )
        self.http_active = Gauge(
            "http_server_active_requests",
            "Number of active HTTP server requests.",
            ("http_request_method",),
            registry=registry,
            multiprocess_mode=gauge,
        )
        self.db_connections = Gauge(
            "db_client_connection_count",
            "Connections in the pool, by state (sampled every second).",
            ("pool_name", "state"),
            registry=registry,
            multiprocess_mode=gauge,
        )
        self.db_max = Gauge(
            "db_client_connection_max",
            "The most connections the pool may open.",
            ("pool_name",),
            registry=registry,
            multiprocess_mode=gauge,
        )
        self.db_pending = Gauge(
            "db_client_connection_pending_requests",
            "Units of work waiting for a connection (sampled every second).",
            ("pool_name",),
            registry=registry,
            multiprocess_mode=gauge,
        )
        self.db_timeouts = counter(
            "db_client_connection_timeouts",
            "Connection checkouts that timed out.",
            ("pool_name",),
        )
        self.db_duration = Histogram(
            "db_client_operation_duration_seconds",
            "Duration of database statements, by statement.",
            ("db_operation_name",),
            buckets=DB_BUCKETS,
            registry=registry,
        )
        self.unavailable_total = counter("users_unavailable", "503 answers, by cause.", ("cause",))
        self.created = counter("users_created", "Users created.")
        self.updated = counter("users_updated", "Users updated.")
        self.deleted = counter("users_deleted", "Users deleted.")
        self.conflicts = counter("users_conflicts", "Conflicts answered, by reason.", ("reason",))
        self.replays = counter("users_idempotent_replays", "Idempotent requests replayed.")
        self.in_flight = counter(
            "users_idempotency_in_flight", "Requests refused: the same key is in flight."
        )
        self.auth_failures = counter(
            "users_auth_failures", "Requests refused by authentication, by reason.", ("reason",)
        )
        self.jwks_refreshes = counter(
            "users_jwks_refreshes", "JWKS fetches from the identity provider.", ("outcome",)
        )
        self.events_published_total = counter(
            "users_events_published", "Change events published to the broker (acknowledged)."
        )
        self.outbox_pending = Gauge(
            "users_outbox_pending",
            "Change events waiting in the outbox (measured by the relay and /readyz).",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.outbox_oldest_age = Gauge(
            "users_outbox_oldest_age_seconds",
            "Age of the oldest change event waiting in the outbox (0: none waits).",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.replica_lag = Gauge(
            "users_replica_lag_seconds",
            "The read replica's replay lag at its last measure (once a second, on reads).",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.replica_serving = Gauge(
            "users_replica_serving",
            "1 while the read replica serves reads (answering, within DB_REPLICA_MAX_LAG).",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.ready = Gauge(
            "users_ready",
            "1 while the instance is ready (its last readiness check passed), else 0.",
            registry=registry,
            multiprocess_mode="livemin",
        )
        build = Gauge(
            "users_service_build_info",
            "The running build (always 1).",
            ("version", "revision"),
            registry=registry,
            multiprocess_mode="livemax",
        )
        build.labels(version, revision).set(1)
        self._pools: dict[str, Callable[[], PoolStats]] = {}
        self._replica: Callable[[], tuple[float | None, bool]] | None = None
        if self.multiprocess:
            self._process = _WorkerProcess(registry)
        else:
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                registry.register(collector)
        # Label sets resolved once: a request then costs a dict look-up, not a label parse.
        # The keys are bounded: methods, route templates, statuses, statement names.
        self._active: dict[str, Any] = {}
        self._durations: dict[tuple[str, str, int], Any] = {}
        self._statements: dict[str, Any] = {}

    # -- UsageMetrics (the use cases)
    def users_created(self, count: int) -> None:
        self.created.inc(count)

    def user_updated(self) -> None:
        self.updated.inc()

    def user_deleted(self) -> None:
        self.deleted.inc()

    def events_published(self, count: int) -> None:
        if count:
            self.events_published_total.inc(count)

    def outbox_backlog(self, pending: int, oldest_age_seconds: float | None) -> None:
        self.outbox_pending.set(pending)
        self.outbox_oldest_age.set(oldest_age_seconds or 0.0)

    # -- the HTTP edge
    def request_started(self, method: str) -> Any:
        """The method's active-requests gauge, raised; `request_finished` lowers it."""
        active = self._active.get(method)
        if active is None:
            active = self._active[method] = self.http_active.labels(method)
        active.inc()
        return active

    def request_finished(
        self, active: Any, method: str, route: str, status: int, seconds: float
    ) -> None:
        active.dec()
        key = (method, route, status)
        duration = self._durations.get(key)
        if duration is None:
            error_type = str(status) if status >= 500 else ""
            duration = self._durations[key] = self.http_duration.labels(
                method, route, str(status), error_type
            )
        duration.observe(seconds)

    def conflict(self, reason: str) -> None:
        self.conflicts.labels(reason).inc()

    def idempotent_replay(self) -> None:
        self.replays.inc()

    def idempotency_in_flight(self) -> None:
        self.in_flight.inc()

    def auth_failure(self, reason: str) -> None:
        self.auth_failures.labels(reason).inc()

    def unavailable(self, cause: str) -> None:
        self.unavailable_total.labels(cause).inc()
        if cause == "pool_timeout":
            self.db_timeouts.labels("primary").inc()

    def readiness(self, ready: bool) -> None:
        self.ready.set(1 if ready else 0)

    # -- adapters
    def jwks_refresh(self, ok: bool) -> None:
        self.jwks_refreshes.labels("ok" if ok else "error").inc()

    def statement(self, name: str, seconds: float) -> None:
        duration = self._statements.get(name)
        if duration is None:
            duration = self._statements[name] = self.db_duration.labels(name)
        duration.observe(seconds)

    def watch_pool(self, name: str, stats: Callable[[], PoolStats]) -> None:
        self._pools[name] = stats
        self.sample_pools()

    def watch_replica(self, read: Callable[[], tuple[float | None, bool]]) -> None:
        """The replica's last measured lag (None: it did not answer) and whether it serves."""
        self._replica = read

    def sample_pools(self) -> None:
        """The pools' own counters into gauges (and, with several workers, this worker's
        process figures): once a second, from the app's lifespan."""
        for name, read in self._pools.items():
            stats = read()
            self.db_connections.labels(name, "used").set(stats.used)
            self.db_connections.labels(name, "idle").set(stats.idle)
            self.db_max.labels(name).set(stats.max)
            self.db_pending.labels(name).set(stats.pending)
        if self._replica is not None:
            lag, serving = self._replica()
            if lag is not None:
                self.replica_lag.set(lag)
            self.replica_serving.set(1 if serving else 0)
        if self.multiprocess:
            self._process.sample()

    # -- exposition
    def exposition_registry(self) -> CollectorRegistry:
        """What a scrape reads: this process's registry, or every worker's files."""
        if self._directory is None:
            return self._registry
        return workers_registry(self._directory)

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The scrape's body and content type, negotiated as prometheus-client's own
        server does (the text format, or OpenMetrics when the scraper asks for it)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.exposition_registry()), content_type

    def worker_exiting(self) -> None:
        """This worker's live gauges leave the sums (multiprocess mode)."""
        if self._directory is not None:
            multiprocess.mark_process_dead(os.getpid(), str(self._directory))


class _WorkerProcess:
    """The process collector's figures for one worker, as gauges labelled by pid (the
    multiprocess mode cannot run the collector for every worker at scrape time)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        pid = str(os.getpid())

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(
                name, doc, ("pid",), registry=registry, multiprocess_mode="liveall"
            ).labels(pid)

        self._rss = gauge("process_resident_memory_bytes", "Resident memory, bytes, by worker.")
        self._cpu = gauge("process_cpu_seconds", "User and system CPU, seconds, by worker.")
        self._fds = gauge("process_open_fds", "Open file descriptors, by worker.")
        self._page = os.sysconf("SC_PAGE_SIZE")

    def sample(self) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self._cpu.set(usage.ru_utime + usage.ru_stime)
        try:
            pages = int(Path("/proc/self/statm").read_text().split()[1])
            self._rss.set(pages * self._page)
            self._fds.set(len(os.listdir("/proc/self/fd")))
        except OSError:  # not Linux: memory and files are not sampled
            pass


class _WorkersCollector:
    """Every worker's values from the multiprocess directory, once dead workers' live
    gauges are dropped."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._files = multiprocess.MultiProcessCollector(None, str(directory))

    def collect(self) -> Any:
        _forget_dead_workers(self._directory)
        return self._files.collect()


def workers_registry(directory: Path) -> CollectorRegistry:
    """A registry that reads every worker's files (the multiprocess mode's exposition)."""
    registry = CollectorRegistry()
    registry.register(_WorkersCollector(directory))
    return registry


def _forget_dead_workers(directory: Path) -> None:
    """Drop the live gauges of workers that died without saying so (killed, crashed)."""
    for path in directory.glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, str(directory))
        except PermissionError:  # alive, another user's
            pass
