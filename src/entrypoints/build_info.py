"""What is running: the distribution's version and the git revision it was built from."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from pathlib import Path

DISTRIBUTION = "users-service"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class BuildInfo:
    version: str
    revision: str


def _version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return UNKNOWN


def _checkout_revision(package_dir: Path) -> str:
    """An editable install runs from its checkout, where git knows the revision."""
    checkout = package_dir.parent
    if not (checkout / ".git").exists():
        return UNKNOWN
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607
            cwd=checkout,
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    return result.stdout.strip() or UNKNOWN


def _revision() -> str:
    # The build stamps REVISION into the package (setup.py); a checkout has none.
    package = resources.files("users_service")
    stamped = package / "REVISION"
    if stamped.is_file():
        return stamped.read_text().strip() or UNKNOWN
    return _checkout_revision(Path(str(package)))


@cache
def build_info() -> BuildInfo:
    return BuildInfo(version=_version(), revision=_revision())
