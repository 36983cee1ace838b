"""The deployment files agree with the service and with each other: the drain arithmetic,
the probes, the migration step and the absence of secrets. (hadolint and
kubernetes-validate, in `make lint`, check each file on its own.)"""

from __future__ import annotations

import configparser
import re
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import make_url

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
    assert services["migrate"]["command"] == ["users-service", "migrate", "--role-settings"]
    api = services["api"]
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["pgbouncer"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pgbouncer" in api["depends_on"]
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
    assert migrate["command"] == ["users-service", "migrate", "--role-settings"]
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


def _pgbouncer_ini() -> configparser.SectionProxy:
    config = configparser.ConfigParser(interpolation=None, comment_prefixes=(";",))
    config.read(KUBERNETES / "pgbouncer.ini")
    return config["pgbouncer"]


def _host_port(url: str) -> tuple[str | None, int | None]:
    parsed = make_url(url.replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}", "x"))
    return parsed.host, parsed.port


def test_pgbouncer_pools_transactions_and_refuses_what_it_cannot_carry() -> None:
    """The shipped pgbouncer.ini also runs under Debian's PgBouncer in
    tests/reliability/test_pgbouncer.py; here, what the service relies on."""
    ini = _pgbouncer_ini()
    assert ini["pool_mode"] == "transaction"
    assert ini["ignore_startup_parameters"] == ""  # refused, never silently dropped
    assert ini["auth_type"] == "scram-sha-256"
    # The service gives up on a pool checkout after DB_POOL_TIMEOUT and on a statement
    # after DB_STATEMENT_TIMEOUT; PgBouncer's own queue must not answer first.
    fields = Settings.model_fields
    assert float(ini["query_wait_timeout"]) > (
        float(fields["db_pool_timeout"].default) + float(fields["db_statement_timeout"].default)
    )


def test_the_api_goes_through_pgbouncer_and_migrations_go_direct() -> None:
    config = _load(KUBERNETES / "configmap.yaml")["data"]
    assert config["DB_PGBOUNCER"] == "true"
    secret = _load(KUBERNETES / "secret.example.yaml")["stringData"]
    service = _load(KUBERNETES / "pgbouncer-service.yaml")
    (port,) = service["spec"]["ports"]
    assert _host_port(secret["DATABASE_URL"]) == (service["metadata"]["name"], port["port"])
    assert _host_port(secret["DATABASE_MIGRATION_URL"])[1] == 5432

    services = _load(ROOT / "compose.yaml")["services"]
    api, migrate = services["api"]["environment"], services["migrate"]["environment"]
    assert api["DB_PGBOUNCER"] == migrate["DB_PGBOUNCER"] == "true"
    assert _host_port(api["DATABASE_URL"]) == ("pgbouncer", int(_pgbouncer_ini()["listen_port"]))
    assert _host_port(migrate["DATABASE_MIGRATION_URL"]) == ("postgres", 5432)


def test_compose_and_kubernetes_run_pgbouncer_on_the_same_file() -> None:
    ini = _pgbouncer_ini()
    auth_folder = str(Path(ini["auth_file"]).parent)
    kustomization = _load(KUBERNETES / "kustomization.yaml")
    (generated,) = kustomization["configMapGenerator"]
    assert generated["files"] == ["pgbouncer.ini"]
    for name in ("pgbouncer-deployment.yaml", "pgbouncer-service.yaml", "pgbouncer-pdb.yaml"):
        assert name in kustomization["resources"]
    pod = _load(KUBERNETES / "pgbouncer-deployment.yaml")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"][-1] == "/etc/pgbouncer/pgbouncer.ini"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/etc/pgbouncer/pgbouncer.ini"]["subPath"] == "pgbouncer.ini"
    assert auth_folder in mounts
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert (
        volumes[mounts["/etc/pgbouncer/pgbouncer.ini"]["name"]]["configMap"]["name"]
        == (generated["name"])
    )
    secret = _load(KUBERNETES / "pgbouncer-secret.example.yaml")
    assert (
        volumes[mounts[auth_folder]["name"]]["secret"]["secretName"] == (secret["metadata"]["name"])
    )
    assert Path(ini["auth_file"]).name in secret["stringData"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True

    bouncer = _load(ROOT / "compose.yaml")["services"]["pgbouncer"]
    assert (
        "./deploy/kubernetes/pgbouncer.ini:/etc/pgbouncer/pgbouncer.ini:ro" in (bouncer["volumes"])
    )
    assert any(mount.startswith(f"{auth_folder}:") for mount in bouncer["tmpfs"])
    assert ini["auth_file"] in " ".join(bouncer["command"])
    assert bouncer["image"] == container["image"]


def test_connection_arithmetic_fits_postgres_default_limit() -> None:
    """Pods x pool size are PgBouncer's clients; PgBouncer pods x (pool + reserve) are
    PostgreSQL's connections, under its default max_connections (100) with room left for
    migrations and administration."""
    ini = _pgbouncer_ini()
    pool_size = int(_load(KUBERNETES / "configmap.yaml")["data"]["DB_POOL_SIZE"])
    max_pods = _load(KUBERNETES / "hpa.yaml")["spec"]["maxReplicas"]
    bouncers = _load(KUBERNETES / "pgbouncer-deployment.yaml")["spec"]["replicas"]
    assert max_pods * pool_size <= int(ini["max_client_conn"])
    server = bouncers * (int(ini["default_pool_size"]) + int(ini["reserve_pool_size"]))
    assert server + 10 <= 100, server


def test_metrics_are_scraped_from_the_pods_never_through_the_service() -> None:
    config = _load(KUBERNETES / "configmap.yaml")["data"]
    deployment = _load(KUBERNETES / "deployment.yaml")["spec"]["template"]
    (container,) = deployment["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == int(config["METRICS_PORT"])
    assert deployment["metadata"]["annotations"]["prometheus.io/port"] == config["METRICS_PORT"]
    service_ports = _load(KUBERNETES / "service.yaml")["spec"]["ports"]
    assert all(p["targetPort"] != "metrics" for p in service_ports)
    assert all(p.get("port") != ports["metrics"] for p in service_ports)


def test_the_relay_runs_beside_the_api_in_compose_and_kubernetes() -> None:
    compose = _load(ROOT / "compose.yaml")["services"]
    assert compose["relay"]["command"] == ["users-service", "relay"]
    assert compose["relay"]["environment"]["NATS_URL"] == "nats://nats:4222"
    assert "-js" in compose["nats"]["command"]
    assert compose["relay"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    kustomization = _load(KUBERNETES / "kustomization.yaml")
    assert "relay-deployment.yaml" in kustomization["resources"]
    relay = _load(KUBERNETES / "relay-deployment.yaml")
    api = _load(KUBERNETES / "deployment.yaml")
    [container] = relay["spec"]["template"]["spec"]["containers"]
    [api_container] = api["spec"]["template"]["spec"]["containers"]
    assert container["command"][:2] == ["users-service", "relay"]
    assert container["image"] == api_container["image"]
    assert container["envFrom"] == api_container["envFrom"]  # one configuration for both
    assert relay["spec"]["replicas"] >= 2  # a standby takes the lead when one dies
    config = _load(KUBERNETES / "configmap.yaml")["data"]
    assert config["EVENTS_RELAY"] == "external"
    assert config["NATS_URL"].startswith("nats://")
