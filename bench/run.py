"""`make bench`: the users service against its ceiling, endpoint by endpoint.

Recreates and seeds the benchmark database, starts both servers, checks they answer
alike, then for every endpoint runs service and ceiling in turn (A B A B ...) under wrk
and writes BENCHMARKS.md. Exits non-zero on any non-2xx response or a crash; a missed
bar is reported, not fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import auth
import bulk
import database
import events
import groups
import instructions
import observability
import pooler
import probe
import report
import servers
from config import REPO_ROOT, RESULTS_DIR, Config
from machine import describe, load_average
from report import Endpoint, Sample
from servers import RssSampler, Server
from wrk import Load, WrkResult, run_wrk

LIST_LIMIT = 50


def endpoints(config: Config) -> list[Endpoint]:
    return [
        Endpoint("get", "GET /users/{id}", bar=0.50, stretch=0.70),
        Endpoint("list", f"GET /users?limit={LIST_LIMIT}", bar=0.50),
        Endpoint("create", "POST /users", bar=0.60),
        Endpoint("batch", "POST /users/batch", bar=0.60, rows_per_request=config.batch_size),
        Endpoint("expand", f"GET /users?expand=groups&limit={LIST_LIMIT}", bar=0.50),
        Endpoint("members", f"GET /groups/{{id}}/members?limit={LIST_LIMIT} (100,000)", bar=0.50),
        Endpoint("add", "PUT /groups/{id}/members/{user_id} (100,000)", bar=0.50),
        Endpoint("add_empty", "PUT /groups/{id}/members/{user_id} (empty)", bar=0.50),
    ]


# Endpoints that add members: each run starts from the same groups (bench/groups.py).
ADDING = ("add", "add_empty")


@dataclass(frozen=True, slots=True)
class Fixture:
    lowest_id: int
    highest_id: int
    cursor_files: dict[str, Path]
    headers: dict[str, str]
    groups: groups.Groups


def load_for(config: Config, fixture: Fixture, endpoint: str, server: str, tag: str) -> Load:
    """The wrk script and arguments; `tag` makes every run's emails unique."""
    prefix = f"b{config.run_token}{endpoint[0]}{tag}"
    if endpoint == "get":
        ids = (str(fixture.lowest_id), str(fixture.highest_id))
        return Load("get_user.lua", ids, config.connections)
    if endpoint == "list":
        args = (str(fixture.cursor_files[server]), str(LIST_LIMIT))
        return Load("list_users.lua", args, config.connections)
    if endpoint == "create":
        return Load("create_user.lua", (prefix,), config.connections)
    if endpoint == "batch":
        return Load("create_batch.lua", (prefix, str(config.batch_size)), config.batch_connections)
    if endpoint == "expand":
        args = (str(fixture.cursor_files[server]), f"{LIST_LIMIT}&expand=groups")
        return Load("list_users.lua", args, config.connections)
    if endpoint == "members":
        path = f"/groups/{fixture.groups.big}/members?limit={LIST_LIMIT}"
        return Load("get_path.lua", (path,), config.connections)
    if endpoint in ADDING:
        group = fixture.groups.big if endpoint == "add" else fixture.groups.empty
        outsiders = (str(fixture.groups.outsider_lo), str(fixture.groups.outsider_hi))
        return Load("add_member.lua", (str(group), *outsiders), config.connections)
    raise ValueError(endpoint)


def source_stamp() -> float:
    """Latest modification time under src/: the service must not change mid-run."""
    return max(p.stat().st_mtime for p in (REPO_ROOT / "src").rglob("*.py"))


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


async def measure(
    config: Config,
    fixture: Fixture,
    endpoint: str,
    round_: int,
    server: Server,
    run: int = 0,
) -> Sample:
    """`run` tells apart two runs of one server in a round (their emails must differ)."""
    if endpoint in ADDING:
        await groups.reset(config, fixture.groups)
    await database.checkpoint(config)
    tag = f"{server.name[0]}{round_}r{run}"
    sampler = RssSampler(server.pid)
    sampler.start()
    connections = database.ConnectionSampler(config)

    async def load(seconds: int, phase: str, log_suffix: str) -> WrkResult:
        return await run_wrk(
            server.base_url,
            load_for(config, fixture, endpoint, server.name, f"{tag}{phase}"),
            seconds=seconds,
            threads=config.threads,
            timeout=config.timeout,
            headers=fixture.headers,
            log_name=f"{endpoint}-r{round_}-{server.name}{log_suffix}",
        )

    try:
        warmup = await load(config.warmup, "w", "-warmup")
        sessions_before = await database.sessions(config)
        cpu_before = servers.cpu_seconds(server.pid)
        connections.start()
        result = await load(config.duration, "m", "")
        cpu = servers.cpu_seconds(server.pid) - cpu_before
        sessions = await database.sessions(config) - sessions_before
    finally:
        peak = await sampler.stop()
        peak_connections = await connections.stop()
    server.check_alive()
    group = {report.SERVICE: database.DIRECT, pooler.NAME: database.POOLED}.get(server.name)
    sample = Sample(
        endpoint,
        round_,
        server.name,
        result,
        warmup.failures,
        peak,
        cpu,
        sessions,
        peak_connections.get(group, 0) if group else 0,
    )
    log(
        f"{endpoint:6} round {round_} {server.name:7} {result.rps:9,.1f} req/s "
        f"p50 {result.p50_ms:7.2f} ms p99 {result.p99_ms:7.2f} ms "
        f"cpu {sample.cpu_ms_per_request:.2f} ms/req db sessions {sessions} "
        f"server connections {sample.db_connections} "
        f"failures {sample.failures} rss {peak / 1024:.0f} MB"
    )
    if sample.failures:
        log(f"  first failure: {result.first_failure or '(in warm-up or socket errors)'}")
    return sample


async def measure_cost(
    config: Config, fixture: Fixture, round_: int, sink_port: int
) -> list[Sample]:
    """GET by id on each observability variant (bench/observability.py), one at a time,
    in A B C D D C B A order: each variant twice a round, a drift of the machine's speed
    over the round weighing on all of them alike."""
    measured = []
    variants = observability.variants(sink_port)
    for variant in [*variants, *reversed(variants)]:
        server = servers.start_service(config, variant.name, **variant.env)
        try:
            await servers.wait_ready(server, f"/users/{fixture.lowest_id}", fixture.headers)
            measured.append(await measure(config, fixture, "get", round_, server))
        finally:
            servers.stop(server)
    return measured


async def measure_events(
    config: Config, fixture: Fixture, round_: int
) -> tuple[list[Sample], list[events.Latency]]:
    """POST /users with and without events (bench/events.py), A B B A."""
    measured, latencies = [], []
    variants = events.variants()
    for run, (name, env) in enumerate([*variants, *reversed(variants)]):
        since = await events.settle_outbox(config)
        server = servers.start_service(config, name, **env)
        try:
            await servers.wait_ready(server, f"/users/{fixture.lowest_id}", fixture.headers)
            measured.append(await measure(config, fixture, "create", round_, server, run))
            if name == events.EVENTS:
                latency = await events.latency(config, since)
                latencies.append(latency)
                log(
                    f"create round {round_} events: {latency.events:,} events published, "
                    f"change to publication p50 {latency.p50_ms:.1f} ms p99 {latency.p99_ms:.1f} ms"
                )
        finally:
            servers.stop(server)
    return measured, latencies


async def prepare(config: Config) -> tuple[int, int, groups.Groups]:
    log(f"recreating database {config.database}")
    await database.recreate(config)
    database.migrate(config)
    started = time.monotonic()
    lowest, highest = await database.seed(config)
    seeded = await groups.seed(config, lowest, highest)
    log(
        f"seeded {config.seed_rows:,} users (ids {lowest}..{highest}), a group of "
        f"{groups.BIG_MEMBERS:,} members ({seeded.big}), an empty one ({seeded.empty}) and "
        f"{groups.OUTSIDERS:,} users outside them in {time.monotonic() - started:.1f} s"
    )
    return lowest, highest, seeded


async def benchmark(config: Config) -> int:
    load_before = load_average()
    stamp = source_stamp()
    log(f"load average {load_before}")
    lowest, highest, seeded = await prepare(config)
    postgres_version = await database.server_version(config)
    headers = {}
    if config.auth == "jwt":
        headers["Authorization"] = f"Bearer {auth.bearer_token(config.jwt_secret)}"
    samples: list[Sample] = []
    sink = observability.OtlpSink()
    await sink.start()
    with contextlib.ExitStack() as stack:
        service = servers.start_service(config)
        stack.callback(servers.stop, service)
        ceiling = servers.start_ceiling(config)
        stack.callback(servers.stop, ceiling)
        under_test = [service, ceiling]
        if config.pgbouncer == "on":
            bouncer = stack.enter_context(pooler.start(config))
            pooled_url = pooler.service_url(config, bouncer)
            database.apply_role_settings(config, pooled_url)
            pooled = servers.start_service(config, pooler.NAME, pooled_url, DB_PGBOUNCER="true")
            stack.callback(servers.stop, pooled)
            under_test.append(pooled)
            log(f"PgBouncer {bouncer.port}: default_pool_size {bouncer.pool_size}")
        for server in under_test:
            await servers.wait_ready(server, f"/users/{lowest}", headers)
            await probe.check_contract(
                server.base_url, server.name, lowest, f"b{config.run_token}{server.name}", headers
            )
            await probe.check_groups(server.base_url, server.name, seeded, headers)
        log(f"{', '.join(s.name for s in under_test)} answer every endpoint alike")
        cursor_files = {
            s.name: await probe.collect_cursors(s.base_url, s.name, LIST_LIMIT, headers)
            for s in under_test
        }
        fixture = Fixture(lowest, highest, cursor_files, headers, seeded)
        event_latencies: list[events.Latency] = []
        for endpoint in endpoints(config):
            for round_ in range(1, config.rounds + 1):
                for server in under_test:
                    samples.append(await measure(config, fixture, endpoint.key, round_, server))
                if endpoint.key == "get":
                    samples += await measure_cost(config, fixture, round_, sink.port)
                if endpoint.key == "create" and config.events == "on":
                    measured, latencies = await measure_events(config, fixture, round_)
                    samples += measured
                    event_latencies += latencies
        counts: list[instructions.Count] = []
        if config.instructions == "on":
            if not instructions.available():
                raise RuntimeError("valgrind is not installed (make bench installs it)")
            counts = await instructions.count(config, lowest, highest, headers, sink.port)
        service_hwm_mb = servers.memory_kib(service.pid)["VmHWM"] / 1024
        ceiling_hwm_mb = servers.memory_kib(ceiling.pid)["VmHWM"] / 1024
    await sink.stop()
    log(f"OTLP sink received {sink.exports} exports")
    bulk_figures = None
    if config.bulk == "on":  # last: it empties the users table
        bulk_figures = await bulk.measure(config, log)

    log(
        f"users table now holds {await database.row_count(config):,} rows; "
        f"peak RSS service {service_hwm_mb:.0f} MB, ceiling {ceiling_hwm_mb:.0f} MB"
    )
    all_endpoints = endpoints(config)
    summaries = [report.summarize(e, samples) for e in all_endpoints]
    pooled_summaries = [
        report.summarize_pooled(e, samples) for e in all_endpoints if config.pgbouncer == "on"
    ]
    cost = report.summarize_cost(samples)
    counted = report.summarize_instructions(counts)
    events_row = report.summarize_events(samples, event_latencies)
    peak_rss_mb = max(service_hwm_mb, *(s.service_rss_mb for s in summaries))
    failures = sum(s.failures for s in samples)
    notes = []
    if source_stamp() != stamp:
        notes.append(
            "Files under src/ changed while this run was in progress. The service loaded "
            "its code when it started, so the figures describe that snapshot; re-run on a "
            "settled tree to confirm them."
        )
        log(f"WARNING: {notes[-1]}")
    machine = describe(postgres_version, load_before)
    text = report.markdown(
        config,
        machine,
        all_endpoints,
        summaries,
        pooled_summaries,
        cost,
        counted,
        events_row,
        bulk_figures,
        samples,
        peak_rss_mb,
        failures,
        notes,
    )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "report.md").write_text(text)
    report.record_run(config.output, report.history_entry(text, machine.date, machine.commit))
    raw = [{**asdict(s), "rps": s.result.rps} for s in samples]
    (RESULTS_DIR / "results.json").write_text(json.dumps(raw, indent=2))
    print()
    print(report.figures_table(summaries))
    print()
    print(report.bars_table(summaries, peak_rss_mb))
    print()
    if pooled_summaries:
        print(report.pooled_table(pooled_summaries))
        print()
    print(report.cost_table(cost))
    print()
    if counted:
        print(report.instruction_table(counted))
        print()
    if events_row is not None:
        print(report.events_table(events_row))
        print()
    if bulk_figures is not None:
        print(report.bulk_table(bulk_figures))
        print()
    log(f"wrote {RESULTS_DIR / 'report.md'} and a run in {config.output}")
    if failures:
        log(f"FAILED: {failures} non-2xx responses or socket errors (see bench/results/)")
        return 1
    return 0


def main() -> int:
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk (make bench does it)", file=sys.stderr)
        return 2
    config = Config()
    return asyncio.run(benchmark(config))


if __name__ == "__main__":
    sys.exit(main())
