"""The deployment files agree with the service and with each other: the drain arithmetic,
the probes, the migration step and the absence of secrets. (hadolint and
kubernetes-validate, in `make lint`, check each file on its own.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from users_service.entrypoints.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
SECRET_NAMES = ("PASSWORD", "SECRET", "DATABASE_URL")


def _load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)s", value)
    assert match, value
    return float(match.group(1))


def _defaults() -> tuple[float, float]:
    fields = Settings.model_fields
    drain, shutdown = fields["drain_seconds"].default, fields["shutdown_timeout"].default
    assert isinstance(drain, float)
    assert isinstance(shutdown, float)
    return drain, shutdown


def test_compose_migrates_first_and_holds_no_secret() -> None:
    services = _load(ROOT / "compose.yaml")["services"]
    assert services["migrate"]["command"] == ["users-service", "migrate"]
    api = services["api"]
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert api["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    for service in services.values():
        for name, value in (service.get("environment") or {}).items():
            if any(word in name for word in SECRET_NAMES):
                assert "${" in str(value), f"{name} is written in compose.yaml"
    drain = float(api["environment"]["DRAIN_SECONDS"])
    shutdown = float(api["environment"]["SHUTDOWN_TIMEOUT"])
    assert _seconds(api["stop_grace_period"]) > drain + shutdown


def test_kubernetes_grace_period_covers_pre_stop_drain_and_shutdown() -> None:
    deployment = _load(KUBERNETES / "deployment.yaml")
    config = _load(KUBERNETES / "configmap.yaml")["data"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    total = float(pre_stop[1]) + float(config["DRAIN_SECONDS"]) + float(config["SHUTDOWN_TIMEOUT"])
    assert pod["terminationGracePeriodSeconds"] > total


def test_kubernetes_probes_and_security() -> None:
    pod = _load(KUBERNETES / "deployment.yaml")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/livez"
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert {"requests", "limits"} <= set(container["resources"])
    assert "--workers" not in container.get("command", [])  # one process per pod
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert "/tmp" in mounts  # noqa: S108


def test_kubernetes_configuration_comes_from_a_config_map_and_a_secret() -> None:
    pod = _load(KUBERNETES / "deployment.yaml")["spec"]["template"]["spec"]
    job = _load(KUBERNETES / "migrate-job.yaml")["spec"]["template"]["spec"]
    for spec in (pod, job):
        (container,) = spec["containers"]
        sources = {next(iter(source)) for source in container["envFrom"]}
        assert sources == {"configMapRef", "secretRef"}
    (migrate,) = job["containers"]
    assert migrate["command"] == ["users-service", "migrate"]
    config = _load(KUBERNETES / "configmap.yaml")["data"]
    assert not any(word in name for name in config for word in SECRET_NAMES)


def test_the_service_defaults_match_the_documented_drain() -> None:
    assert _defaults() == (5.0, 20.0)
    config = _load(KUBERNETES / "configmap.yaml")["data"]
    assert (float(config["DRAIN_SECONDS"]), float(config["SHUTDOWN_TIMEOUT"])) == _defaults()


def test_the_image_runs_one_unprivileged_process_and_never_migrates() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM .+$", dockerfile, flags=re.MULTILINE)
    assert len(stages) >= 3  # base, builder, runtime
    runtime = dockerfile[dockerfile.rindex("\nFROM ") :]
    assert re.search(r"^USER \d+", runtime, flags=re.MULTILINE)
    cmd = re.search(r"^CMD (\[.+\])$", runtime, flags=re.MULTILINE)
    assert cmd, "CMD must be in exec form"
    command = yaml.safe_load(cmd.group(1))
    assert command[:2] == ["users-service", "serve"]
    assert "--workers" not in command
    instructions = re.findall(r"^(?:RUN|CMD|ENTRYPOINT) .+$", runtime, flags=re.MULTILINE)
    assert not any("migrate" in line for line in instructions)  # its own step
    assert "--require-hashes" in dockerfile
