"""Packaging that pyproject.toml cannot express: the design card's folders mapped under one
import name, and the git revision stamped into the built package."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

NAME = "users_service"
ROOT = Path(__file__).resolve().parent


def _revision() -> str:
    """USERS_SERVICE_REVISION (image builds without .git), else the checkout's HEAD."""
    if revision := os.environ.get("USERS_SERVICE_REVISION", "").strip():
        return revision
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


class BuildWithRevision(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / NAME / "REVISION"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_revision() + "\n")


# The two data-only folders are listed as (namespace) packages, so that setuptools ships
# them knowingly: Swagger UI's assets and Alembic's revision files.
packages = [NAME, *(f"{NAME}.{package}" for package in find_packages("src"))]
packages += [f"{NAME}.entrypoints.http.static", f"{NAME}.migrations", f"{NAME}.migrations.versions"]

setup(
    packages=packages,
    package_dir={NAME: "src", f"{NAME}.migrations": "migrations"},
    package_data={
        NAME: ["py.typed"],
        f"{NAME}.entrypoints.http.static": ["swagger-ui/*"],
        f"{NAME}.migrations": ["script.py.mako"],
    },
    cmdclass={"build_py": BuildWithRevision},
)
