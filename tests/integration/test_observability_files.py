"""The observability files (deploy/observability/) hold together: promtool accepts the rules
and passes their unit tests, every expression names only series the service exports or the
rule file records, each alert carries what on-call needs, and the dashboard has its
variables and sections."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.engines import require_engine

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
RULES = OBSERVABILITY / "alerts.yaml"
RULE_TESTS = OBSERVABILITY / "alerts.test.yaml"
DASHBOARD = OBSERVABILITY / "grafana-dashboard.json"
SEARCH_PATH = "/usr/local/bin:/usr/bin:/bin"
JOB = "users-service"

# What the service exports (besides `job`, `instance` and, in Kubernetes, `pod`).
HISTOGRAMS = frozenset(
    {"http_server_request_duration_seconds", "db_client_operation_duration_seconds"}
)
METRICS = frozenset(
    {
        "http_server_active_requests",
        "db_client_connection_count",
        "db_client_connection_max",
        "db_client_connection_pending_requests",
        "db_client_connection_timeouts_total",
        "users_unavailable_total",
        "users_created_total",
        "users_updated_total",
        "users_deleted_total",
        "users_conflicts_total",
        "users_idempotent_replays_total",
        "users_idempotency_in_flight_total",
        "users_auth_failures_total",
        "users_jwks_refreshes_total",
        "users_ready",
        "users_service_build_info",
    }
)
EXPORTED = METRICS | {
    f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")
}

REQUIRED_ALERTS = frozenset(
    {
        "UsersServiceHigh5xxRatio",
        "UsersServiceHighP99Latency",
        "UsersServiceDBPoolSaturated",
        "UsersServiceReadinessFlapping",
        "UsersServiceInstanceNotReady",
        "UsersServiceErrorBudgetBurnFast",
        "UsersServiceErrorBudgetBurnSlow",
        "UsersServiceUnavailableResponses",
    }
)
SEVERITIES = frozenset({"page", "ticket"})

# Dashboard rows and the panels each must hold.
SECTIONS: dict[str, set[str]] = {
    "Requests: rate, errors, duration": {
        "Request rate by route and status",
        "5xx ratio",
        "Latency p50 / p95 / p99 by route",
        "In-flight requests",
    },
    "Database pools": {
        "Connections per pool (used / idle / max)",
        "Pool saturation (used / max)",
        "Requests waiting for a connection",
        "Pool checkout timeouts",
        "DB operation p99 by operation",
    },
    "Availability": {"503s by cause", "Readiness", "Build info"},
    "Application": {
        "Users created / updated / deleted",
        "Conflicts by reason",
        "Idempotency: replays and in-flight",
        "Auth failures by reason",
        "JWKS refreshes by outcome",
    },
    "SLO (30 days)": {"Error budget remaining (30d)", "Error budget burn rate"},
}

# PromQL functions and aggregations (Prometheus 2.x), plus Grafana's label_values.
FUNCTIONS = frozenset(
    [
        "abs",
        "absent",
        "absent_over_time",
        "acos",
        "acosh",
        "asin",
        "asinh",
        "atan",
        "atanh",
        "avg",
        "avg_over_time",
        "bottomk",
        "ceil",
        "changes",
        "clamp",
        "clamp_max",
        "clamp_min",
        "cos",
        "cosh",
        "count",
        "count_over_time",
        "count_values",
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "days_in_month",
        "deg",
        "delta",
        "deriv",
        "exp",
        "floor",
        "group",
        "histogram_quantile",
        "holt_winters",
        "hour",
        "idelta",
        "increase",
        "irate",
        "label_join",
        "label_replace",
        "last_over_time",
        "ln",
        "log10",
        "log2",
        "max",
        "max_over_time",
        "min",
        "min_over_time",
        "minute",
        "month",
        "pi",
        "predict_linear",
        "present_over_time",
        "quantile",
        "quantile_over_time",
        "rad",
        "rate",
        "resets",
        "round",
        "scalar",
        "sgn",
        "sin",
        "sinh",
        "sort",
        "sort_desc",
        "sqrt",
        "stddev",
        "stddev_over_time",
        "stdvar",
        "stdvar_over_time",
        "sum",
        "sum_over_time",
        "tan",
        "tanh",
        "time",
        "timestamp",
        "topk",
        "vector",
        "year",
        "label_values",
    ]
)
KEYWORDS = frozenset(
    [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "atan2",
        "inf",
        "nan",
    ]
)

STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
BRACES = re.compile(r"\{[^{}]*\}")
BRACKETS = re.compile(r"\[[^\[\]]*\]")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
VARIABLE = re.compile(r"\$\{?\w+\}?")
NUMBER = re.compile(r"(?<![\w:])\d[\w.]*")
IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
RECORDING_NAME = re.compile(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+")


@dataclass(frozen=True)
class Reference:
    """A series an expression selects, with the text between its braces."""

    name: str
    selector: str


def _blank_inside(pattern: re.Pattern[str], text: str) -> str:
    """Each match kept as its first and last character with spaces between."""

    def blank(match: re.Match[str]) -> str:
        found = match.group(0)
        return found[0] + " " * (len(found) - 2) + found[-1]

    return pattern.sub(blank, text)


def _blank(pattern: re.Pattern[str], text: str) -> str:
    return pattern.sub(lambda match: " " * len(match.group(0)), text)


def parse(expr: str) -> tuple[list[Reference], set[str]]:
    """The series an expression selects, and the functions it calls.

    Strings, label matchers, ranges, grouping label lists, template variables and numbers
    are blanked out first, keeping positions, so what is left is functions, keywords and
    metric names."""
    masked = _blank_inside(STRING, expr)
    masked = _blank_inside(BRACES, masked)
    masked = _blank_inside(BRACKETS, masked)
    masked = _blank(GROUPING, masked)
    masked = _blank(VARIABLE, masked)
    masked = _blank(NUMBER, masked)
    references: list[Reference] = []
    functions: set[str] = set()
    for match in IDENTIFIER.finditer(masked):
        name, rest = match.group(0), masked[match.end() :]
        if name.lower() in KEYWORDS:
            continue
        if re.match(r"\s*\(", rest):
            functions.add(name)
        else:
            selector = ""
            brace = re.match(r"\s*\{", rest)
            if brace:
                start = match.end() + brace.end()
                selector = expr[start : masked.index("}", start)]
            references.append(Reference(name, selector.strip()))
    return references, functions


def _load_rules() -> list[dict[str, Any]]:
    document: dict[str, Any] = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _alerts() -> list[dict[str, Any]]:
    return [rule for rule in _load_rules() if "alert" in rule]


def _recorded() -> set[str]:
    return {rule["record"] for rule in _load_rules() if "record" in rule}


def _dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def _walk_exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from _walk_exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_exprs(item)


def _variable_query(variable: dict[str, Any]) -> str:
    query = variable.get("query", "")
    text: str = query.get("query", "") if isinstance(query, dict) else query
    return text


def _variable_selector(query: str) -> str:
    """The series part of a `label_values(series, label)` variable query."""
    match = re.fullmatch(r"\s*label_values\((.*),\s*[a-zA-Z_]\w*\s*\)\s*", query)
    return match.group(1) if match else ""


def _dashboard_exprs() -> list[str]:
    dashboard = _dashboard()
    exprs = list(_walk_exprs(dashboard["panels"]))
    exprs += list(_walk_exprs(dashboard.get("annotations", {})))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            exprs.append(_variable_selector(_variable_query(variable)))
    return [expr for expr in exprs if expr.strip()]


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _sections(dashboard: dict[str, Any]) -> dict[str, set[str]]:
    sections: dict[str, set[str]] = {}
    row = ""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            row = panel["title"]
            sections[row] = {nested["title"] for nested in panel.get("panels", [])}
        else:
            sections.setdefault(row, set()).add(panel["title"])
    return sections


@pytest.fixture(scope="module")
def promtool() -> str:
    executable = shutil.which("promtool", path=SEARCH_PATH)
    reason = None if executable else f"promtool is not on {SEARCH_PATH} (Debian: prometheus)"
    require_engine(reason, "promtool")
    assert executable is not None
    return executable


def _run(promtool: str, *args: str, cwd: Path) -> None:
    result = subprocess.run(
        [promtool, *args],
        cwd=cwd,
        env={"PATH": SEARCH_PATH},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = f"promtool {' '.join(args)}\n{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, output


@pytest.mark.parametrize(
    ("expr", "names", "functions"),
    [
        (
            'sum by (job, le) (rate(a_bucket{job="x", le="0.25"}[5m])) / on (job) group_left b',
            {"a_bucket", "b"},
            {"sum", "rate"},
        ),
        (
            'histogram_quantile(0.99, sum(rate(h_bucket{route="/u/{id}"}[$__rate_interval])) '
            "without (pid))",
            {"h_bucket"},
            {"histogram_quantile", "sum", "rate"},
        ),
        (
            "x:y:rate5m > bool (14.4 * 0.001) and (max_over_time(z[1h:1m]) offset 5m)",
            {"x:y:rate5m", "z"},
            {"max_over_time"},
        ),
        (
            'label_replace(up, "dst", "$1", "src", "(.*)") or vector(1e3) unless -Inf',
            {"up"},
            {"label_replace", "vector"},
        ),
    ],
)
def test_parse_finds_metric_names_and_functions(
    expr: str, names: set[str], functions: set[str]
) -> None:
    references, called = parse(expr)
    assert {reference.name for reference in references} == names
    assert called == functions


def test_parse_keeps_the_selector() -> None:
    (reference,) = parse('rate(a_total{job="x", route="/u/{id}"}[5m])')[0]
    assert reference == Reference("a_total", 'job="x", route="/u/{id}"')
    (bare,) = parse("changes(users_ready[15m]) > 4")[0]
    assert bare == Reference("users_ready", "")


def test_promtool_checks_the_rules(promtool: str, tmp_path: Path) -> None:
    _run(promtool, "check", "rules", str(RULES), cwd=tmp_path)


def test_promtool_unit_tests_pass(promtool: str, tmp_path: Path) -> None:
    _run(promtool, "test", "rules", str(RULE_TESTS), cwd=tmp_path)


def test_dashboard_expressions_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    """Each dashboard query, its Grafana variables filled in, parses as a rule expression."""
    values = {"job": JOB, "instance": ".+"}

    def fill(expr: str) -> str:
        expr = re.sub(r"\$__\w+", "5m", expr)
        return re.sub(r"\$\{?(\w+)\}?", lambda match: values[match.group(1)], expr)

    rules = [
        {"record": f"dashboard_expression_{index}", "expr": fill(expr)}
        for index, expr in enumerate(_dashboard_exprs())
    ]
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    _run(promtool, "check", "rules", str(path), cwd=tmp_path)


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_expressions_name_only_exported_or_recorded_series(source: str) -> None:
    recorded = _recorded()
    exprs = [rule["expr"] for rule in _load_rules()] if source == "rules" else _dashboard_exprs()
    assert exprs
    unknown: list[str] = []
    for expr in exprs:
        references, functions = parse(expr)
        unknown += [f"function {name} in {expr!r}" for name in functions - FUNCTIONS]
        unknown += [
            f"series {reference.name} in {expr!r}"
            for reference in references
            if reference.name not in EXPORTED | recorded
        ]
    assert not unknown, "\n".join(unknown)


def test_rules_select_the_job_and_recordings_follow_the_naming_convention() -> None:
    recorded = _recorded()
    for name in recorded:
        assert RECORDING_NAME.fullmatch(name), f"{name} is not level:metric:operations"
    used: set[str] = set()
    for rule in _load_rules():
        for reference in parse(rule["expr"])[0]:
            used.add(reference.name)
            if reference.name in EXPORTED:
                assert f'job="{JOB}"' in reference.selector, (reference, rule["expr"])
    dashboard_used = {ref.name for expr in _dashboard_exprs() for ref in parse(expr)[0]}
    assert recorded <= used | dashboard_used, recorded - used - dashboard_used


def test_alerts_have_severity_summary_and_runbook() -> None:
    alerts = _alerts()
    names = [alert["alert"] for alert in alerts]
    assert len(names) == len(set(names)), names
    assert set(names) >= REQUIRED_ALERTS, REQUIRED_ALERTS - set(names)
    for alert in alerts:
        name = alert["alert"]
        assert alert["labels"]["severity"] in SEVERITIES, name
        annotations = alert["annotations"]
        assert annotations["summary"].strip(), name
        assert annotations["description"].strip(), name
        assert annotations["runbook_url"] == f"docs/operations.md#{name.lower()}", name
    severities = {alert["alert"]: alert["labels"]["severity"] for alert in alerts}
    assert severities["UsersServiceErrorBudgetBurnFast"] == "page"
    assert severities["UsersServiceErrorBudgetBurnSlow"] == "ticket"


def test_every_alert_is_unit_tested_firing_and_quiet() -> None:
    document: dict[str, Any] = yaml.safe_load(RULE_TESTS.read_text())
    assert document["rule_files"] == [RULES.name]
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in document["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
        for series in case["input_series"]:
            assert f'job="{JOB}"' in series["series"], series
    names = {alert["alert"] for alert in _alerts()}
    assert names <= fired, f"never shown firing: {sorted(names - fired)}"
    assert names <= quiet, f"never shown quiet: {sorted(names - quiet)}"


def test_dashboard_variables_and_datasource() -> None:
    dashboard = _dashboard()
    assert "__inputs" not in dashboard
    assert dashboard["schemaVersion"] >= 36
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert set(variables) >= {"datasource", "job", "instance"}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("job", "instance"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"]["uid"] == "${datasource}"
        assert _variable_selector(_variable_query(variables[name])), name
    assert variables["instance"]["includeAll"] is True
    panels = [panel for panel in _panels(dashboard) if panel["type"] != "row"]
    ids = [panel["id"] for panel in _panels(dashboard)]
    assert len(ids) == len(set(ids)), ids
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_dashboard_queries_follow_the_variables() -> None:
    """Raw series are filtered by job and instance; recorded ones at least by job."""
    recorded = _recorded()
    for expr in _walk_exprs(_dashboard()["panels"]):
        for reference in parse(expr)[0]:
            assert 'job="$job"' in reference.selector, (reference, expr)
            if reference.name in EXPORTED:
                assert 'instance=~"$instance"' in reference.selector, (reference, expr)
            else:
                assert reference.name in recorded, reference


def test_dashboard_has_every_section() -> None:
    sections = _sections(_dashboard())
    for row, titles in SECTIONS.items():
        assert row in sections, f"no row {row!r}: {sorted(sections)}"
        assert titles <= sections[row], f"{row}: missing {sorted(titles - sections[row])}"


def test_every_runbook_url_leads_to_its_runbook_section() -> None:
    """Each alert's `runbook_url` names a heading of docs/operations.md, under the
    runbooks, and that section is the alert's own."""
    from tools.check_links import anchors

    page = ROOT / "docs" / "operations.md"
    found = anchors(page)
    text = page.read_text()
    for alert in _alerts():
        path, _, anchor = alert["annotations"]["runbook_url"].partition("#")
        assert (ROOT / path) == page, alert["alert"]
        assert anchor in found, f"docs/operations.md has no section for {alert['alert']}"
        assert f"### {alert['alert']}\n" in text, alert["alert"]
