"""A real server process on a real port: migrated SQLite file, real HTTP, clean exit."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.support.tokens import SECRET, bearer, token

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment(workdir: Path, **extra: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AUTH_")}
    return (
        inherited | {"DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'var' / 'users.db'}"} | extra
    )


def _start(
    env: dict[str, str], *args: str, output: IO[bytes] | int
) -> tuple[subprocess.Popen[bytes], str]:
    """Migrate (as `make run` does), serve on a free port, wait until it answers."""
    subprocess.run([BIN / "users-service", "migrate"], env=env, check=True, timeout=60)
    port = _free_port()
    process = subprocess.Popen(
        [BIN / "users-service", "serve", "--port", str(port), *args],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    process.wait()
    pytest.fail("the server did not become ready")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("e2e")
    env = _environment(workdir, LOG_LEVEL="INFO", AUTH_JWT_SECRET=SECRET)
    with (workdir / "server.log").open("wb") as log:
        process, base = _start(env, output=log)
        yield base
        _stop(process)


def test_crud_and_batch_over_http(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10, headers=bearer(token())) as client:
        created = client.post("/users/", json={"email": "Ada@Example.com", "name": "Ada"})
        assert created.status_code == 201
        user = created.json()
        assert created.headers["location"] == f"/users/{user['id']}"

        assert client.get(f"/users/{user['id']}").json() == user
        patched = client.patch(
            f"/users/{user['id']}", json={"name": "Ada Lovelace"}, headers={"If-Match": '"1"'}
        )
        assert patched.status_code == 200
        assert patched.json()["version"] == 2

        batch = client.post(
            "/users/batch",
            json={"users": [{"email": f"b{i}@example.com", "name": f"B{i}"} for i in range(20)]},
        )
        assert batch.status_code == 201
        listed = client.get("/users", params={"limit": 10}).json()
        assert len(listed["items"]) == 10
        rest = client.get("/users", params={"limit": 50, "cursor": listed["next_cursor"]}).json()
        assert len(rest["items"]) == 11
        assert rest["next_cursor"] is None

        assert client.delete(f"/users/{user['id']}").status_code == 204
        gone = client.get(f"/users/{user['id']}")
        assert gone.status_code == 404
        assert gone.headers["content-type"] == "application/problem+json"
        assert client.get("/docs").status_code == 200


def test_sigterm_exits_cleanly(tmp_path: Path) -> None:
    process, _ = _start(_environment(tmp_path, AUTH_JWT_SECRET=SECRET), output=subprocess.DEVNULL)
    _stop(process)


def test_dev_mode_prints_a_working_token(tmp_path: Path) -> None:
    """`make run` serves with --dev: no key configured, so a random secret and a token."""
    with (tmp_path / "out.txt").open("w+b") as out:
        process, base = _start(_environment(tmp_path), "--dev", output=out)
        try:
            printed = (tmp_path / "out.txt").read_text()
            assert "curl -H 'Authorization: Bearer " in printed
            dev_token = printed.split("Bearer ", 1)[1].split("'", 1)[0]
            assert httpx.get(f"{base}/users").status_code == 401
            response = httpx.post(
                f"{base}/users",
                json={"email": "dev@example.com", "name": "Dev"},
                headers=bearer(dev_token),
            )
            assert response.status_code == 201
        finally:
            _stop(process)


def test_token_command_mints_verifiable_tokens() -> None:
    import jwt

    result = subprocess.run(
        [BIN / "users-service", "token", "--scope", "users:read", "--sub", "42", "--ttl", "60"],
        env={**os.environ, "AUTH_JWT_SECRET": SECRET},
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"])
    assert claims["sub"] == "42"
    assert claims["scope"] == "users:read"
    assert 55 <= claims["exp"] - claims["iat"] <= 60


def test_dev_mode_refuses_several_workers(tmp_path: Path) -> None:
    result = subprocess.run(
        [BIN / "users-service", "serve", "--dev", "--workers", "2", "--port", str(_free_port())],
        env=_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "--dev serves with one worker" in result.stderr
