"""The service as an image installs it, without a container engine: the wheel built from
this checkout, installed with the locked runtime dependencies into a fresh virtual
environment outside the checkout, run from an empty, read-only working directory by a
user who cannot write to the install.

As root (CI), the service runs as `nobody`; otherwise the install and the working
directory are made read-only for the user running the tests.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tests.support.environment import clean_environment

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_LOCK = ROOT / "requirements" / "runtime.lock"
UNPRIVILEGED = "nobody"


def _pip_environment(home: Path) -> dict[str, str]:
    # The user's pip cache (not their environment) keeps repeated installs fast.
    cache = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "pip"
    return clean_environment(home, PIP_CACHE_DIR=str(cache), PIP_DISABLE_PIP_VERSION_CHECK="1")


def _run(command: Sequence[str | Path], home: Path, cwd: Path) -> None:
    result = subprocess.run(
        [str(part) for part in command],
        env=_pip_environment(home),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{result.stdout}\n{result.stderr}")


def _read_only(path: Path) -> None:
    for directory, _, files in os.walk(path):
        for name in [*files, "."]:
            target = Path(directory) / name
            if not target.is_symlink():
                mode = target.stat().st_mode
                target.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@dataclass(frozen=True)
class Installed:
    """An installed service: its `users-service` and the identity that runs it."""

    root: Path
    executable: Path
    workdir: Path  # empty and read-only: nothing may be written to the working directory
    run_as: tuple[int, int] | None  # uid, gid when the tests run as root

    def writable_dir(self, name: str) -> Path:
        """A folder the service's user may write to (for a SQLite file)."""
        path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))
        if self.run_as is not None:
            os.chown(path, *self.run_as)
        return path

    def _identity(self) -> dict[str, Any]:
        if self.run_as is None:
            return {}
        uid, gid = self.run_as
        return {"user": uid, "group": gid, "extra_groups": []}

    def environment(self, **values: str) -> dict[str, str]:
        return clean_environment(self.workdir, **values)

    def popen(
        self, *args: str, env: dict[str, str], output: IO[bytes] | int
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [str(self.executable), *args],
            env=env,
            cwd=self.workdir,
            stdout=output,
            stderr=subprocess.STDOUT,
            **self._identity(),
        )

    def run(
        self, *args: str, env: dict[str, str], timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.executable), *args],
            env=env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **self._identity(),
        )


def _unprivileged_user() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    user = pwd.getpwnam(UNPRIVILEGED)
    return user.pw_uid, user.pw_gid


def _interpreter(run_as: tuple[int, int] | None) -> str:
    """A Python 3.11+ the service's user can run: this one, unless it lives where that
    user cannot reach (a root-only home), then the system's."""
    if run_as is None:
        return sys.executable
    uid, gid = run_as
    probe = "import sys; sys.exit(sys.version_info < (3, 11))"
    candidates = [str(Path(sys.base_prefix) / "bin" / "python3"), "/usr/bin/python3"]
    for candidate in candidates:
        try:
            result = subprocess.run(
                [candidate, "-c", probe],
                user=uid,
                group=gid,
                extra_groups=[],
                cwd="/",
                env={"PATH": "/usr/bin:/bin"},
                capture_output=True,
                timeout=30,
                check=False,
            )
        except OSError:
            continue
        if result.returncode == 0:
            return candidate
    raise RuntimeError(f"no Python 3.11+ that {UNPRIVILEGED} can run among {candidates}")


@contextmanager
def installed_service() -> Iterator[Installed]:
    # Under /tmp, world-traversable: the unprivileged user must reach the install.
    root = Path(tempfile.mkdtemp(prefix="users-service-install-"))
    root.chmod(0o755)
    try:
        home = root / "home"
        home.mkdir()
        wheels = root / "wheels"
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "--quiet",
                "-w",
                wheels,
                ROOT,
            ],
            home,
            root,
        )
        (wheel,) = wheels.glob("users_service-*.whl")
        run_as = _unprivileged_user()
        venv = root / "venv"
        _run([_interpreter(run_as), "-m", "venv", venv], home, root)
        pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps"]
        _run([*pip, "--require-hashes", "-r", RUNTIME_LOCK], home, root)
        _run([*pip, wheel], home, root)
        workdir = root / "workdir"
        workdir.mkdir()
        _read_only(venv)
        _read_only(workdir)
        yield Installed(root, venv / "bin" / "users-service", workdir, run_as)
    finally:
        for directory, _, _ in os.walk(root):
            Path(directory).chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)
