"""The installed wheel as a real server process: migrated by its own command, on SQLite
and on PostgreSQL, from an empty read-only working directory, over real HTTP."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.support.engines import fresh_postgres_database
from tests.support.install import ROOT, Installed
from tests.support.server_process import ServerProcess, free_port, migrate, start
from tests.support.tokens import SECRET, bearer, token


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, installed: Installed) -> AsyncIterator[str]:
    """A database nothing has migrated yet."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{installed.writable_dir('e2e') / 'users.db'}"
        return
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def server(
    installed: Installed, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    env = installed.environment(DATABASE_URL=database_url, AUTH_JWT_SECRET=SECRET, LOG_LEVEL="INFO")
    migrate(installed, env)
    migrate(installed, env)  # a second run finds nothing to do
    process = start(installed, env, log=tmp_path_factory.mktemp("e2e") / "server.log")
    yield process
    assert process.terminate() == 0, process.output()


def test_crud_and_batch_over_http(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=10, headers=bearer(token())) as client:
        created = client.post("/users/", json={"email": "Ada@Example.com", "name": "Ada"})
        assert created.status_code == 201, created.text
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
        docs = client.get("/docs")
        assert docs.status_code == 200
        assert "https://" not in docs.text


def test_the_working_directory_stays_empty(installed: Installed, server: ServerProcess) -> None:
    assert list(installed.workdir.iterdir()) == []
    assert httpx.get(f"{server.url}/livez").status_code == 200


def test_the_server_logs_what_runs(server: ServerProcess) -> None:
    revision = _checkout_revision()
    assert '"msg":"serving"' in server.output()
    assert revision in server.output()


def test_purge_command_runs(installed: Installed, database_url: str, server: ServerProcess) -> None:
    env = installed.environment(DATABASE_URL=database_url)
    result = installed.run("purge-idempotency-keys", env=env)
    assert result.returncode == 0, result.stderr
    assert "purged expired idempotency keys" in result.stderr


def _checkout_revision() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_version_names_the_build(installed: Installed) -> None:
    result = installed.run("--version", env=installed.environment())
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["users-service", "0.1.0", f"({_checkout_revision()})"]


def test_token_command_mints_verifiable_tokens(installed: Installed) -> None:
    result = installed.run(
        "token",
        "--scope",
        "users:read",
        "--sub",
        "42",
        "--ttl",
        "60",
        env=installed.environment(AUTH_JWT_SECRET=SECRET),
    )
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"])
    assert claims["sub"] == "42"
    assert claims["scope"] == "users:read"
    assert 55 <= claims["exp"] - claims["iat"] <= 60


def test_dev_mode_prints_a_working_token_and_readable_logs(
    installed: Installed, tmp_path: Path
) -> None:
    """`make run` serves with --dev: no key configured, so a random secret and a token."""
    url = f"sqlite+aiosqlite:///{installed.writable_dir('dev') / 'users.db'}"
    env = installed.environment(DATABASE_URL=url)
    migrate(installed, env)
    server = start(installed, env, "--dev", log=tmp_path / "out.txt")
    try:
        printed = server.output()
        assert "curl -H 'Authorization: Bearer " in printed
        dev_token = printed.split("Bearer ", 1)[1].split("'", 1)[0]
        assert httpx.get(f"{server.url}/users").status_code == 401
        response = httpx.post(
            f"{server.url}/users",
            json={"email": "dev@example.com", "name": "Dev"},
            headers=bearer(dev_token),
        )
        assert response.status_code == 201
    finally:
        assert server.terminate() == 0
    lines = [line for line in server.output().splitlines() if " users_service " in line]
    assert lines, server.output()
    assert not any(line.startswith("{") for line in lines)  # console lines, not JSON


def test_log_format_overrides_the_default(installed: Installed, tmp_path: Path) -> None:
    env = installed.environment(DATABASE_URL="memory://", AUTH_DISABLED="true", LOG_FORMAT="json")
    server = start(installed, env, "--dev", log=tmp_path / "out.txt")
    assert server.terminate() == 0
    assert '"msg":"serving"' in server.output()


def test_dev_mode_refuses_several_workers(installed: Installed) -> None:
    result = installed.run(
        "serve",
        "--dev",
        "--workers",
        "2",
        "--port",
        str(free_port()),
        env=installed.environment(DATABASE_URL="memory://"),
    )
    assert result.returncode != 0
    assert "--dev serves with one worker" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"), [("DB_PGBOUNCER", "sometimes"), ("DB_POOL_SIZE", "many")]
)
def test_a_setting_it_cannot_parse_is_refused_by_name(
    installed: Installed, variable: str, value: str
) -> None:
    result = installed.run("migrate", env=installed.environment(**{variable: value}))
    assert result.returncode == 2
    assert f"  {variable}: " in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_a_database_that_was_never_migrated(installed: Installed) -> None:
    """A fresh clone's first mistake: `serve` before `migrate`. It says what to run."""
    url = f"sqlite+aiosqlite:///{installed.writable_dir('unmigrated') / 'users.db'}"
    result = installed.run(
        "serve",
        "--port",
        str(free_port()),
        env=installed.environment(DATABASE_URL=url, AUTH_JWT_SECRET=SECRET),
    )
    assert result.returncode != 0
    assert "run `users-service migrate`" in result.stderr
    assert "Traceback" not in result.stderr


def test_token_without_a_secret_is_a_clear_error(installed: Installed) -> None:
    result = installed.run("token", env=installed.environment())
    assert result.returncode == 2
    assert "AUTH_JWT_SECRET" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["serve", "import", "export", "relay", "migrate", "token"])
def test_help_describes_every_option_and_names_the_configuration(
    installed: Installed, command: str
) -> None:
    result = installed.run(command, "--help", env=installed.environment())
    assert result.returncode == 0, result.stderr
    assert "environment variables" in result.stdout
    options = [line for line in result.stdout.splitlines() if line.strip().startswith("--")]
    for line in options:
        assert len(line.split(None, 1)) == 2 or line.strip() == "--help", line
