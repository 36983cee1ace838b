"""/docs in a real browser with every host but 127.0.0.1 unresolvable: Swagger UI renders
the API from the files the service ships, so the page works offline.

Debian's headless Chromium (/usr/bin/chromium) loads the page, runs its scripts and dumps
the resulting DOM. Without Chromium the test skips, except in CI, where it fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from pydantic import SecretStr

from tests.support.engines import IN_CI
from tests.support.settings import IsolatedSettings
from tests.support.timing import bound
from tests.support.tokens import SECRET
from users_service.entrypoints.container import container_for
from users_service.entrypoints.http.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_TIMEOUT = bound(90.0)
SERVER_TIMEOUT = bound(30.0)
# The operations a rendered page must show, whatever else the schema grows.
REQUIRED_OPERATIONS = {"create_user", "get_user", "list_users"}


def chromium_args(profile: Path, *extra: str) -> list[str]:
    return [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        f"--user-data-dir={profile}",
        # Every name but 127.0.0.1 fails to resolve: a CDN reference cannot load.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--virtual-time-budget=20000",
        *extra,
    ]


def run_chromium(tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Chromium in its own session (killed whole on timeout), fresh profile, bare env."""
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    process = subprocess.Popen(
        chromium_args(profile, *extra),
        cwd=tmp,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=BROWSER_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"chromium did not finish within {BROWSER_TIMEOUT:.0f}s")
    finally:
        _kill_leftovers(process.pid)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _kill_leftovers(group: int) -> None:
    """Children chromium left running in its process group (renderers, utilities) end too."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        reason = f"{CHROMIUM} is not installed (Debian package `chromium`)"
        if IN_CI:
            pytest.fail(f"the browser test is required in CI: {reason}", pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The app on a free 127.0.0.1 port, served by uvicorn in a background thread."""
    settings = IsolatedSettings(database_url="memory://", auth_jwt_secret=SecretStr(SECRET))
    app = create_app(container_for(settings))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # uvicorn listens on this socket: no port race
    port: int = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-docs", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + SERVER_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("the server did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(SERVER_TIMEOUT)
        sock.close()
        assert not thread.is_alive(), "the server thread did not stop"


def operations(base_url: str) -> dict[str, str]:
    """operationId -> tag, for every operation /openapi.json documents."""
    schema = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
    return {
        op["operationId"]: op["tags"][0]
        for item in schema["paths"].values()
        for op in item.values()
    }


def test_swagger_ui_renders_offline(chromium: Path, base_url: str, tmp_path: Path) -> None:
    ops = operations(base_url)
    assert ops.keys() >= REQUIRED_OPERATIONS

    result = run_chromium(tmp_path, "--dump-dom", f"{base_url}/docs")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout

    assert 'id="swagger-ui"' in dom
    assert "Failed to load API definition" not in dom
    assert 'class="btn authorize' in dom  # the bearer scheme, from the schema, rendered
    missing = [
        operation_id
        for operation_id, tag in sorted(ops.items())
        # Swagger UI renders each operation as <div class="opblock opblock-<method> ...">
        # with id operations-<tag>-<operationId> (deepLinking is on).
        if f'id="operations-{tag}-{operation_id}"' not in dom
    ]
    assert not missing, f"operations not rendered: {missing}"
    assert dom.count('class="opblock opblock-') >= len(ops)
