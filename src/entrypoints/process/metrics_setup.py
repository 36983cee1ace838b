"""What `serve` prepares for metrics before any worker starts.

With several workers, prometheus-client's multiprocess mode: `PROMETHEUS_MULTIPROC_DIR`
must be in the environment before a worker imports the client, and the folder must start
without the client's value files (values left by an earlier run would be summed in).
With `METRICS_PORT`, one exposition server for the whole process tree, in the serving
process itself.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from users_service.adapters.metrics import PrometheusMetrics
from users_service.adapters.metrics.prometheus import MULTIPROCESS_VARIABLE
from users_service.entrypoints.settings import Settings

logger = logging.getLogger("users_service")

# What prometheus-client writes in the multiprocess folder: one file per metric kind
# and process (counter_1234.db, gauge_livesum_1234.db, ...).
VALUE_FILES = "*.db"


class MetricsFolderError(Exception):
    """METRICS_DIR names something that is not a folder."""


def prepare_multiprocess(settings: Settings, workers: int) -> Path | None:
    """For several workers: the multiprocess folder, emptied, named in the environment
    the workers inherit. (In Kubernetes, an emptyDir: see deploy/kubernetes.)"""
    if not settings.metrics or workers <= 1:
        return None
    if settings.metrics_dir:
        folder = Path(settings.metrics_dir)
        if folder.exists() and not folder.is_dir():
            raise MetricsFolderError(f"METRICS_DIR is not a folder: {folder}")
        folder.mkdir(parents=True, exist_ok=True)
        # Only the client's own value files: anything else there is not ours to delete.
        for entry in folder.glob(VALUE_FILES):
            if entry.is_file() and not entry.is_symlink():
                entry.unlink()
    else:
        folder = Path(tempfile.mkdtemp(prefix="users-service-metrics-"))
    os.environ[MULTIPROCESS_VARIABLE] = str(folder)
    return folder


def start_metrics_server(
    settings: Settings, host: str, folder: Path | None, metrics: PrometheusMetrics | None
) -> None:
    """`/metrics` on METRICS_PORT, in a thread of this process: every worker's values
    (several workers), or this process's app's (one)."""
    if not settings.metrics or settings.metrics_port is None:
        return
    from prometheus_client import start_http_server

    from users_service.adapters.metrics.prometheus import workers_registry

    if folder is not None:
        registry = workers_registry(folder)
    elif metrics is not None:
        registry = metrics.exposition_registry()
    else:
        return
    start_http_server(settings.metrics_port, addr=host, registry=registry)
    logger.info("metrics served", extra={"port": settings.metrics_port})
