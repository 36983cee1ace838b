"""Wall-clock bounds in tests, behind one tolerance.

Every bound a test asserts on elapsed time (an answer within so many seconds, a wait that
fails the test when it runs out) goes through `bound()`, which multiplies it by
`TEST_TIME_FACTOR` (a positive number, 1 when unset or empty). A slow or loaded machine
sets, say, `TEST_TIME_FACTOR=3`; what is asserted stays the same, only given more time.

Tests whose bound is a figure the service promises (not just a guard against a hang)
carry `@pytest.mark.contract_bound`, so a run with a factor other than 1 can be told apart
from one that holds the service to its documented figures.
"""

from __future__ import annotations

import math
import os

ENV_VARIABLE = "TEST_TIME_FACTOR"


def parse_time_factor(raw: str | None) -> float:
    """The factor `raw` (the variable's value) names: 1 when unset or empty."""
    if raw is None or not raw.strip():
        return 1.0
    try:
        factor = float(raw)
    except ValueError:
        factor = math.nan
    if not math.isfinite(factor) or factor <= 0:
        raise ValueError(
            f"{ENV_VARIABLE} must be a positive number (a multiplier for the tests' "
            f"wall-clock bounds, e.g. 1 or 2.5), not {raw!r}"
        )
    return factor


TIME_FACTOR: float = parse_time_factor(os.environ.get(ENV_VARIABLE))


def bound(seconds: float) -> float:
    """`seconds`, scaled by TEST_TIME_FACTOR."""
    return seconds * TIME_FACTOR
