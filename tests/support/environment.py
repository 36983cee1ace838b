"""Hermetic tests: the caller's environment never reaches the code under test.

The suite reads only `CI`, `TEST_POSTGRES_URL` and `TEST_TIME_FACTOR`. In process, the
service's own variables (and proxies, which httpx would honour) are removed before any
test runs; subprocesses get an environment built from scratch, and a working directory
of their own.
"""

from __future__ import annotations

import os
from pathlib import Path

from users_service.entrypoints.settings import ENV_FILE_VARIABLE, Settings

SUITE_VARIABLES = ("CI", "TEST_POSTGRES_URL", "TEST_TIME_FACTOR")
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def service_variables() -> set[str]:
    names = {name.upper() for name in Settings.model_fields}
    return names | {ENV_FILE_VARIABLE, "NO_COLOR", "FORCE_COLOR"}


# Read by libraries the service uses, not by its settings: OpenTelemetry's SDK and
# prometheus-client's multiprocess mode.
_LIBRARY_PREFIXES = ("OTEL_", "PROMETHEUS_MULTIPROC_DIR")


def scrub_process_environment() -> None:
    for name in list(os.environ):
        upper = name.upper()
        if upper in service_variables() or upper in _PROXIES or upper.startswith(_LIBRARY_PREFIXES):
            del os.environ[name]


def clean_environment(home: Path, **values: str) -> dict[str, str]:
    """A subprocess's whole environment: a system PATH, its own HOME, and `values`.
    No dotenv file is read (`ENV_FILE=`) unless `values` name one."""
    return {
        "PATH": SYSTEM_PATH,
        "HOME": str(home),
        "LANG": "C.UTF-8",
        ENV_FILE_VARIABLE: "",
        **values,
    }
