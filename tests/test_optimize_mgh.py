"""Moré-Garbow-Hillstrom (ACM TOMS 7, 1981): every method on the published problems.

The success test is the issue's: |f - f*| <= 1e-6·max(1, |f*|) for a published f*, or
‖∇f‖ <= 1e-6, with f = Σ r². Compiling 35 problems × 7 methods takes minutes on a
shared CPU, so by default two problems run (Rosenbrock's valley, Powell's singular
minimum); set JACHESS_FULL_MGH=1 to run all 35 and assert the full success counts
(benchmarks/optimize.py records the same counts for every library).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from jachess.optimize import least_squares, minimize
from problems.mgh import PROBLEMS, solved

FULL = os.environ.get("JACHESS_FULL_MGH") == "1"
SUBSET = [1, 10, 13]
SELECTED = PROBLEMS if FULL else [p for p in PROBLEMS if p.number in SUBSET]

# Success counts out of 35 measured with JACHESS_FULL_MGH=1 (the target is 35):
# gauss-newton misses 2, 6, 11, 18, 24, 35 (no globalisation beyond a line search).
EXPECTED_FULL = {
    "newton": 35,
    "trust-ncg": 35,
    "trust-exact": 35,
    "bfgs": 35,
    "lbfgs": 35,
    "lm": 35,
    "gauss-newton": 29,
}


def _run(method, problem):
    if method in ("lm", "gauss-newton"):
        return least_squares(problem.residual, problem.x0, method=method)
    return minimize(problem.objective, problem.x0, method=method)


@pytest.mark.parametrize("method", list(EXPECTED_FULL))
def test_mgh_success_count(method):
    failures = []
    for problem in SELECTED:
        result = _run(method, problem)
        if not solved(problem, np.asarray(result.x)):
            failures.append(f"{problem.number} {problem.name}: {result.status.name}")
    expected = EXPECTED_FULL[method] if FULL else len(SELECTED)
    assert len(SELECTED) - len(failures) >= expected, failures
