"""Medians, bars and the BENCHMARKS.md text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from statistics import median

from bulk import TARGET, BulkFigures
from config import Config
from events import EVENTS, EVENTS_BAR, NO_EVENTS, Latency
from instructions import Count
from machine import Machine
from wrk import WrkResult

SERVICE, CEILING, POOLED = "service", "ceiling", "pgbouncer"
P99_BAR = 3.0
# The service through PgBouncer against the service direct.
POOLED_BAR, POOLED_GOAL = 0.6, 0.8
RSS_BAR_MB = 150.0
# Adding a member to a group of 100,000: p99 within this factor of adding one to an empty group.
GROUP_SIZE_P99_BAR = 1.5


@dataclass(frozen=True, slots=True)
class Endpoint:
    key: str
    label: str
    bar: float
    stretch: float | None = None
    rows_per_request: int = 1

    @property
    def unit(self) -> str:
        return "rows/s" if self.rows_per_request > 1 else "req/s"


@dataclass(frozen=True, slots=True)
class Sample:
    endpoint: str
    round: int
    server: str
    result: WrkResult
    warmup_failures: int
    peak_rss_kib: int
    cpu_seconds: float
    db_sessions: int
    # Peak PostgreSQL server connections this server used (direct, or PgBouncer's).
    db_connections: int = 0

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds * 1000 / self.result.requests if self.result.requests else 0.0

    @property
    def failures(self) -> int:
        return self.result.failures + self.warmup_failures


@dataclass(frozen=True, slots=True)
class Summary:
    endpoint: Endpoint
    service_rate: float
    ceiling_rate: float
    ratio: float
    service_p50: float
    service_p99: float
    ceiling_p50: float
    ceiling_p99: float
    p99_ratio: float
    service_rss_mb: float
    service_cpu_ms: float
    ceiling_cpu_ms: float


def _paired(
    endpoint: Endpoint, samples: list[Sample], first: str, second: str
) -> list[tuple[Sample, Sample]]:
    """Round by round, the samples of two servers on one endpoint."""
    mine = [s for s in samples if s.endpoint == endpoint.key]
    return [
        (
            next(s for s in mine if s.round == r and s.server == first),
            next(s for s in mine if s.round == r and s.server == second),
        )
        for r in sorted({s.round for s in mine})
    ]


def summarize(endpoint: Endpoint, samples: list[Sample]) -> Summary:
    mine = [s for s in samples if s.endpoint == endpoint.key]
    pairs = [(a.result, b.result) for a, b in _paired(endpoint, samples, SERVICE, CEILING)]
    rows = endpoint.rows_per_request
    cpu = {
        name: median(s.cpu_ms_per_request for s in mine if s.server == name)
        for name in (SERVICE, CEILING)
    }
    return Summary(
        endpoint=endpoint,
        service_rate=median(svc.rps for svc, _ in pairs) * rows,
        ceiling_rate=median(ceil.rps for _, ceil in pairs) * rows,
        ratio=median(svc.rps / ceil.rps for svc, ceil in pairs),
        service_p50=median(svc.p50_ms for svc, _ in pairs),
        service_p99=median(svc.p99_ms for svc, _ in pairs),
        ceiling_p50=median(ceil.p50_ms for _, ceil in pairs),
        ceiling_p99=median(ceil.p99_ms for _, ceil in pairs),
        p99_ratio=median(svc.p99_ms / ceil.p99_ms for svc, ceil in pairs),
        service_rss_mb=max(s.peak_rss_kib for s in mine if s.server == SERVICE) / 1024,
        service_cpu_ms=cpu[SERVICE],
        ceiling_cpu_ms=cpu[CEILING],
    )


@dataclass(frozen=True, slots=True)
class PooledSummary:
    endpoint: Endpoint
    direct_rate: float
    pooled_rate: float
    ratio: float
    direct_p99: float
    pooled_p99: float
    direct_cpu_ms: float
    pooled_cpu_ms: float
    direct_connections: int
    pooled_connections: int


def summarize_pooled(endpoint: Endpoint, samples: list[Sample]) -> PooledSummary:
    """The service through PgBouncer against the service direct, round by round."""
    pairs = _paired(endpoint, samples, SERVICE, POOLED)
    rows = endpoint.rows_per_request
    return PooledSummary(
        endpoint=endpoint,
        direct_rate=median(d.result.rps for d, _ in pairs) * rows,
        pooled_rate=median(p.result.rps for _, p in pairs) * rows,
        ratio=median(p.result.rps / d.result.rps for d, p in pairs),
        direct_p99=median(d.result.p99_ms for d, _ in pairs),
        pooled_p99=median(p.result.p99_ms for _, p in pairs),
        direct_cpu_ms=median(d.cpu_ms_per_request for d, _ in pairs),
        pooled_cpu_ms=median(p.cpu_ms_per_request for _, p in pairs),
        direct_connections=max(d.db_connections for d, _ in pairs),
        pooled_connections=max(p.db_connections for _, p in pairs),
    )


def pooled_table(summaries: list[PooledSummary]) -> str:
    lines = [
        "| Endpoint | Direct | Through PgBouncer | Ratio (bar ≥ "
        f"{POOLED_BAR:.1f}, goal {POOLED_GOAL:.1f}) | p99 direct / PgBouncer (ms) "
        "| Server CPU ms/req, direct / PgBouncer "
        "| Peak PostgreSQL connections, direct / PgBouncer |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for s in summaries:
        unit = s.endpoint.unit
        verdict = _verdict(s.ratio >= POOLED_BAR)
        if s.ratio >= POOLED_GOAL:
            verdict += ", goal met"
        lines.append(
            f"| `{s.endpoint.label}` | {s.direct_rate:,.0f} {unit} | {s.pooled_rate:,.0f} {unit} "
            f"| **{s.ratio:.2f}** ({verdict}) | {s.direct_p99:.2f} / {s.pooled_p99:.2f} "
            f"| {s.direct_cpu_ms:.2f} / {s.pooled_cpu_ms:.2f} "
            f"| {s.direct_connections} / {s.pooled_connections} |"
        )
    return "\n".join(lines)


def _pooled_section(config: Config, summaries: list[PooledSummary]) -> str:
    if not summaries:
        return ""
    return f"""
## Through PgBouncer

The same service (same settings, `DB_POOL_SIZE` 20) with `DATABASE_URL` naming Debian's
PgBouncer in transaction mode on the shipped `deploy/kubernetes/pgbouncer.ini`
(`default_pool_size` 20, SCRAM), `DB_PGBOUNCER=true` and the role settings applied by
`users-service migrate --role-settings`, measured in the same rounds as the service direct
(ratio: through PgBouncer / direct, median of per-round ratios).

{pooled_table(summaries)}

Peak PostgreSQL connections are sampled from `pg_stat_activity` every 100 ms during the
measured runs: the service's own pool direct, PgBouncer's server connections through it.
One instance here: N instances direct hold up to N x `DB_POOL_SIZE` server connections,
while through PgBouncer PostgreSQL never sees more than PgBouncer's pool
(`default_pool_size` + `reserve_pool_size`) per PgBouncer, whatever N.
"""


@dataclass(frozen=True, slots=True)
class CostRow:
    server: str
    what: str
    cpu_ms: float  # median over rounds, GET by id
    rate: float
    p99: float
    over_bare: float  # extra CPU per request, as a fraction of bare's
    bar: float | None


_COST_ROWS = (
    ("bare", "metrics off, access log off", None),
    ("metrics", "metrics on, access log off", 0.06),
    ("defaults", "production defaults: metrics on, access log on", 0.10),
    ("tracing", "defaults + tracing, always_on, OTLP/HTTP", None),
)


def summarize_cost(samples: list[Sample]) -> list[CostRow]:
    """GET by id, per observability variant (bench/observability.py)."""
    mine = [s for s in samples if s.endpoint == "get"]
    medians = {}
    for server, _what, _bar in _COST_ROWS:
        runs = [s for s in mine if s.server == server]
        if runs:
            medians[server] = (
                median(s.cpu_ms_per_request for s in runs),
                median(s.result.rps for s in runs),
                median(s.result.p99_ms for s in runs),
            )
    if "bare" not in medians:
        return []
    bare_cpu = medians["bare"][0]
    return [
        CostRow(server, what, *medians[server], medians[server][0] / bare_cpu - 1, bar)
        for server, what, bar in _COST_ROWS
        if server in medians
    ]


def cost_table(rows: list[CostRow]) -> str:
    lines = [
        "| Variant | What is on | Server CPU ms/req (median) | Over bare | req/s | p99 (ms) |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.server} | {r.what} | {r.cpu_ms:.3f} | {r.over_bare:+.1%} "
            f"| {r.rate:,.0f} | {r.p99:.2f} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class InstructionRow:
    server: str
    what: str
    per_request: float
    over_bare: float
    bar: float | None


def summarize_instructions(counts: list[Count]) -> list[InstructionRow]:
    """bench/instructions.py's counts, against bare's."""
    per_variant = {c.variant: c.instructions_per_request for c in counts}
    if "bare" not in per_variant:
        return []
    bare = per_variant["bare"]
    return [
        InstructionRow(server, what, per_variant[server], per_variant[server] / bare - 1, bar)
        for server, what, bar in _COST_ROWS
        if server in per_variant
    ]


def instruction_table(rows: list[InstructionRow]) -> str:
    lines = [
        "| Variant | What is on | Instructions per GET | Over bare | Bar |",
        "|---|---|--:|--:|---|",
    ]
    for r in rows:
        bar = "" if r.bar is None else f"≤ {r.bar:.0%}: {_verdict(r.over_bare <= r.bar)}"
        lines.append(
            f"| {r.server} | {r.what} | {r.per_request:,.0f} | {r.over_bare:+.1%} | {bar} |"
        )
    return "\n".join(lines)


def _cost_section(rows: list[CostRow], counted: list[InstructionRow]) -> str:
    if not rows and not counted:
        return ""
    counted_part = (
        f"""
Counted (`bench/instructions.py`): each variant's server under callgrind, the
instructions it executes per `GET /users/{{id}}`, every thread included, requests sent
one at a time; the mean of two runs in A B C D D C B A order. Two runs of one variant
agree to within 0.2%, so **the bars are judged here**.

{instruction_table(counted)}
"""
        if counted
        else "\n(Not counted in this run: `BENCH_INSTRUCTIONS=off`.)\n"
    )
    return f"""
## What observability costs

`GET /users/{{id}}` on four servers that differ only in what they report
(`bench/observability.py`). The bars: metrics on cost at most 6% over bare, metrics and
the access log together at most 10%; tracing is a figure.
{counted_part}
Under load (wrk, in the same rounds as the service, each started afresh just before its
run, twice a round in A B C D D C B A order; medians over all its runs), server CPU time
per request. Two runs of one server differ here by up to 10%, as much as the bars, so
these figures show the order of things, not a verdict.

{cost_table(rows)}
"""


@dataclass(frozen=True, slots=True)
class EventsRow:
    without_rate: float  # medians over runs, POST /users
    with_rate: float
    ratio: float
    without_cpu_ms: float
    with_cpu_ms: float
    events: int
    p50_ms: float  # median of the runs' p50 and p99
    p99_ms: float


def summarize_events(samples: list[Sample], latencies: list[Latency]) -> EventsRow | None:
    runs = {
        name: [s for s in samples if s.endpoint == "create" and s.server == name]
        for name in (NO_EVENTS, EVENTS)
    }
    if not runs[NO_EVENTS] or not runs[EVENTS] or not latencies:
        return None
    without = median(s.result.rps for s in runs[NO_EVENTS])
    with_events = median(s.result.rps for s in runs[EVENTS])
    return EventsRow(
        without,
        with_events,
        with_events / without,
        median(s.cpu_ms_per_request for s in runs[NO_EVENTS]),
        median(s.cpu_ms_per_request for s in runs[EVENTS]),
        sum(latency.events for latency in latencies),
        median(latency.p50_ms for latency in latencies),
        median(latency.p99_ms for latency in latencies),
    )


def events_table(row: EventsRow) -> str:
    verdict = _verdict(row.ratio >= EVENTS_BAR)
    return "\n".join(
        [
            "| `POST /users` | req/s (median) | server CPU ms/req | events published "
            "| change to publication p50 / p99 |",
            "|---|--:|--:|--:|--:|",
            f"| `EVENTS_ENABLED=false` | {row.without_rate:,.0f} | {row.without_cpu_ms:.2f} | | |",
            f"| outbox + relay in process (NATS JetStream) | {row.with_rate:,.0f} "
            f"| {row.with_cpu_ms:.2f} | {row.events:,} | {row.p50_ms:.1f} / {row.p99_ms:.1f} ms |",
            "",
            f"Throughput with events: {row.ratio:.2f} of without (bar ≥ {EVENTS_BAR}: {verdict}).",
        ]
    )


def _events_section(row: EventsRow | None) -> str:
    if row is None:
        return ""
    return f"""
## What change events cost

`POST /users` in the same rounds as the create load, on two servers started afresh just
before each run, A B B A (`bench/events.py`): without events, and with the outbox written
by every create and the relay in process publishing to the machine's NATS JetStream.
Latency is from each change to the relay's mark after JetStream's acknowledgement, over
every event of the `events` runs (medians of the runs' p50 and p99).

{events_table(row)}
"""


def bulk_table(f: BulkFigures) -> str:
    verdict = _verdict(f.events_off_rate >= TARGET)
    return "\n".join(
        [
            f"| {f.rows:,} rows into an empty `users` table | rows/s | peak RSS (MB) |",
            "|---|--:|--:|",
            f"| `users-service import`, `EVENTS_ENABLED=false` | {f.events_off_rate:,.0f} "
            f"| {f.events_off_rss_mb:.0f} |",
            f"| `users-service import`, events on | {f.events_on_rate:,.0f} "
            f"| {f.events_on_rss_mb:.0f} |",
            f"| raw `COPY` of the same rows (the physical limit) | {f.copy_rate:,.0f} | |",
            "",
            f"Import with events off: {f.events_off_rate:,.0f} rows/s "
            f"(target ≥ {TARGET:,}: {verdict}); memory bar 200 MB: "
            f"{_verdict(max(f.events_off_rss_mb, f.events_on_rss_mb) < 200)}.",
        ]
    )


def _bulk_section(f: BulkFigures | None) -> str:
    if f is None:
        return ""
    return f"""
## Bulk import

`bench/bulk.py`: a generated CSV of {f.rows:,} valid users with distinct emails,
imported by `users-service import FILE --quiet` (a process of its own, full validation,
chunks of 1,000) into an emptied `users` table, with events off and on; then the same rows
by raw `COPY` (asyncpg's `copy_records_to_table`, no validation) into the emptied table.

{bulk_table(f)}
"""


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def figures_table(summaries: list[Summary]) -> str:
    lines = [
        "| Endpoint | Service | Ceiling | Ratio (median) | Service p50 / p99 (ms) "
        "| Ceiling p50 / p99 (ms) | p99 ratio | Server CPU ms/req, service / ceiling "
        "| Service peak RSS (MB) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in summaries:
        unit = s.endpoint.unit
        lines.append(
            f"| `{s.endpoint.label}` | {s.service_rate:,.0f} {unit} | {s.ceiling_rate:,.0f} {unit} "
            f"| **{s.ratio:.2f}** | {s.service_p50:.2f} / {s.service_p99:.2f} "
            f"| {s.ceiling_p50:.2f} / {s.ceiling_p99:.2f} | {s.p99_ratio:.2f} "
            f"| {s.service_cpu_ms:.2f} / {s.ceiling_cpu_ms:.2f} | {s.service_rss_mb:.0f} |"
        )
    return "\n".join(lines)


def bars_table(summaries: list[Summary], peak_rss_mb: float) -> str:
    lines = ["| Bar | Target | Measured | Result |", "|---|--:|--:|---|"]
    for s in summaries:
        target = f"≥ {s.endpoint.bar:.2f}"
        result = _verdict(s.ratio >= s.endpoint.bar)
        if s.endpoint.stretch is not None:
            target += f" (stretch {s.endpoint.stretch:.2f})"
            result += f" (stretch {_verdict(s.ratio >= s.endpoint.stretch)})"
        lines.append(
            f"| `{s.endpoint.label}` {s.endpoint.unit}, service / ceiling "
            f"| {target} | {s.ratio:.2f} | {result} |"
        )
    for s in summaries:
        lines.append(
            f"| `{s.endpoint.label}` p99, service / ceiling | ≤ {P99_BAR:.2f} "
            f"| {s.p99_ratio:.2f} | {_verdict(s.p99_ratio <= P99_BAR)} |"
        )
    by_key = {s.endpoint.key: s for s in summaries}
    if "add" in by_key and "add_empty" in by_key:
        growth = by_key["add"].service_p99 / by_key["add_empty"].service_p99
        verdict = _verdict(growth <= GROUP_SIZE_P99_BAR)
        lines.append(
            f"| Adding a member, p99: 100,000-member group / empty group (service) "
            f"| ≤ {GROUP_SIZE_P99_BAR:.2f} | {growth:.2f} | {verdict} |"
        )
    lines.append(
        f"| Service worker peak RSS under load | ≤ {RSS_BAR_MB:.0f} MB "
        f"| {peak_rss_mb:.0f} MB | {_verdict(peak_rss_mb <= RSS_BAR_MB)} |"
    )
    return "\n".join(lines)


def rounds_table(endpoints: list[Endpoint], samples: list[Sample]) -> str:
    lines = [
        "| Endpoint | Round | Server | req/s | p50 (ms) | p99 (ms) | Requests "
        "| Failures (non-2xx + socket) | Server CPU ms/request | DB sessions opened "
        "| Peak DB connections | Peak RSS (MB) |",
        "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    labels = {e.key: e.label for e in endpoints}
    for s in samples:
        r = s.result
        lines.append(
            f"| `{labels[s.endpoint]}` | {s.round} | {s.server} | {r.rps:,.1f} | {r.p50_ms:.2f} "
            f"| {r.p99_ms:.2f} | {r.requests:,} | {s.failures} | {s.cpu_ms_per_request:.2f} "
            f"| {s.db_sessions:,} | {s.db_connections} | {s.peak_rss_kib / 1024:.0f} |"
        )
    return "\n".join(lines)


def _settings(config: Config) -> str:
    auth = (
        "`jwt` (every request carries an HS256 bearer token; the service verifies it, "
        "the ceiling ignores it)"
        if config.auth == "jwt"
        else "`off` (`AUTH_DISABLED=true`)"
    )
    return "\n".join(
        [
            f"- {config.rounds} rounds per endpoint, service then ceiling (A B A B ...), "
            f"then the service through PgBouncer (`BENCH_PGBOUNCER={config.pgbouncer}`) "
            "and, for GET by id, the observability variants; "
            f"each run {config.warmup} s warm-up (discarded) then {config.duration} s measured",
            f"- wrk `-t{config.threads} -c{config.connections}` (batch: "
            f"`-c{config.batch_connections}`, {config.batch_size} users a request), "
            f"keep-alive, `--timeout {config.timeout:g}s`",
            f"- {config.seed_rows:,} seeded users; ceiling batch insert: `{config.ceiling_batch}`",
            f"- service authentication: {auth}",
        ]
    )


def markdown(
    config: Config,
    machine: Machine,
    endpoints: list[Endpoint],
    summaries: list[Summary],
    pooled_summaries: list[PooledSummary],
    cost: list[CostRow],
    counted: list[InstructionRow],
    events_row: EventsRow | None,
    bulk_figures: BulkFigures | None,
    samples: list[Sample],
    peak_rss_mb: float,
    failures: int,
    notes: list[str],
) -> str:
    status = (
        "All responses were 2xx."
        if failures == 0
        else f"**RUN FAILED: {failures} non-2xx responses or socket errors.**"
    )
    status += "".join(f"\n\n**Note:** {note}" for note in notes)
    extra_sections = (
        _cost_section(cost, counted) + _events_section(events_row) + _bulk_section(bulk_figures)
    )
    return f"""# Benchmarks

The users service against a ceiling: the same endpoints, SQL and JSON on a bare
Starlette app over a raw asyncpg pool (`bench/ceiling.py`). Ratios are service / ceiling,
the median of per-round ratios; latencies are medians over rounds. See `bench/README.md`.

Command: `make bench`

{_settings(config)}

| Machine | |
|---|---|
| Date | {machine.date} |
| Commit | {machine.commit} |
| CPUs (nproc) | {machine.nproc} |
| CPU model | {machine.cpu} |
| Kernel | {machine.kernel} |
| Python | {machine.python} |
| PostgreSQL | {machine.postgres} (same host) |
| Load generator | {machine.wrk} (same host) |
| Packages | {machine.packages} |
| Load average before the run | {machine.load_before} |

Server, ceiling, PostgreSQL and wrk share these CPUs; only one server is loaded at a time.

## Results

{status}

{figures_table(summaries)}

The batch row counts users inserted per second (requests/s times {config.batch_size}).
Server CPU is the worker's user + system time per request (medians over rounds; see
below). Service peak RSS is the uvicorn worker's VmRSS sampled every 100 ms during that
endpoint's runs; the RSS bar uses the worker's VmHWM over the whole run.

## Bars

Measured against the bars set in the performance issue; a missed bar is reported, not
fatal (only non-2xx responses or crashes fail `make bench`).

{bars_table(summaries, peak_rss_mb)}
{_pooled_section(config, pooled_summaries)}{extra_sections}
## Every round

Server CPU is the worker process's user + system time during the measured run, per
request: it does not depend on what else the machine runs. DB sessions opened counts
PostgreSQL sessions that ended on the benchmark database during the measured run (a
connection pool that keeps its connections opens none).

{rounds_table(endpoints, samples)}
"""


HISTORY_HEADER = """# Benchmarks

Every recorded run of `make bench`, newest first: the users service against a ceiling, a
bare Starlette app on a raw asyncpg pool serving the same endpoints with the same SQL and
JSON (`bench/ceiling.py`). Ratios are service / ceiling, the median of per-round ratios;
they compare across hosts, absolute rates do not. How the bench works and what each bar
means: [docs/performance.md](docs/performance.md). Each run also writes its full report,
every round included, to `bench/results/report.md`.

<!-- runs: newest first -->
"""
_RUNS_MARKER = "<!-- runs: newest first -->"


def history_entry(report_text: str, date: str, commit: str) -> str:
    """One run of BENCHMARKS.md: the full report's machine, results and bars, under a
    dated heading (the rounds stay in the full report)."""
    start = report_text.index("| Machine |")
    end = report_text.find("## Every round")
    body = report_text[start : end if end != -1 else len(report_text)].strip()
    lines = [("#" + line) if line.startswith("## ") else line for line in body.splitlines()]
    return f"## {date}, commit {commit}\n\n" + "\n".join(lines) + "\n"


def record_run(history: Path, entry: str) -> None:
    """Put `entry` first among the runs of `history` (made when missing)."""
    text = history.read_text() if history.exists() else HISTORY_HEADER
    if _RUNS_MARKER not in text:
        text = HISTORY_HEADER
    head, _, runs = text.partition(_RUNS_MARKER)
    history.write_text(f"{head}{_RUNS_MARKER}\n\n{entry}\n{runs.lstrip()}".rstrip() + "\n")
