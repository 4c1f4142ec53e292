"""MINPACK-1's test set for square nonlinear systems F(x) = 0 (the hybrd/hybrj driver).

Source: Moré, Garbow and Hillstrom, "User Guide for MINPACK-1", Argonne report
ANL-80-74 (1980), and the MINPACK test programs that go with it (the hybrd/hybrj
driver reads lines "nprob n ntries" and runs problem nprob at size n from the
standard start x0, then 10·x0 and 100·x0, stopping after ntries starts). Its data
has 22 lines and 55 runs:

    nprob  1  2  3  4  5  6  6  7  7  7  7  7  8  8  8  9 10 10 11 12 13 14
    n      2  4  2  4  3  6  9  5  6  7  8  9 10 30 40 10  1 10 10 10 10 10
    ntries 3  3  2  3  3  2  2  3  3  3  1  1  3  1  1  3  3  3  3  3  3  3

The 14 systems are written here from their formulas, reusing the residuals of
tests/problems/mgh.py where MINPACK's function is the same one. Three are not the
MGH residuals but square systems built from MGH objectives f = Σ rᵢ²:

* Wood (4): MINPACK's F is ∇f with rows 1 and 3 halved, F = diag(½, 1, ½, 1)·∇f.
* Watson (6) and variably dimensioned (12): F = ½∇f.

Starts follow MINPACK's initpt: the MGH x0, times the factor, except Watson, whose x0
is 0, so that 10·x0 and 100·x0 mean x = 10·1 and x = 100·1.

Two of the 55 have no root within reach of any method known to us: Chebyquad n = 8
has no root at all (min ‖F‖₂ = 0.0593, MGH's f* = 3.51687e-3), and MINPACK's own
hybrj1 stops far from a root on Chebyquad n = 7 from 100·x0 (‖F‖₂ = 0.24) and on the
trigonometric system from x0 (‖F‖₂ = 5.3e-3, a local minimum of ‖F‖).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from problems import mgh

_BY_NUMBER = {p.number: p for p in mgh.PROBLEMS}


@dataclass(frozen=True)
class System:
    """One MINPACK-1 system at one size: F maps R^n to R^n."""

    number: int  # MINPACK's nprob (1-14), not the MGH number
    name: str
    n: int
    fun: Callable
    x0: np.ndarray
    factors: tuple[float, ...]  # the starts the driver runs: x0, 10·x0, 100·x0 (first ntries)

    def start(self, factor: float) -> np.ndarray:
        """MINPACK's initpt: factor·x0, except Watson (x0 = 0) whose multiples are factor·1."""
        if factor != 1 and self.number == 6:
            return np.full(self.n, float(factor))
        return factor * self.x0


def _half_gradient(residual, weights=None):
    """F = ½∇f for f = Σ r(x)² (optionally rows rescaled): the gradient system of MINPACK."""
    objective = lambda x: jnp.sum(residual(x) ** 2)  # noqa: E731
    grad = jax.grad(objective)

    def fun(x):
        g = 0.5 * grad(x)
        return g if weights is None else g * weights

    return fun


def _helical_valley(x):
    """MGH 7 with MINPACK's convention on the axis x₁ = 0 (θ = ±¼ by the sign of x₂)."""
    safe = jnp.where(x[0] == 0, 1.0, x[0])
    t = jnp.arctan(x[1] / safe) / (2 * jnp.pi)
    theta = jnp.where(x[0] > 0, t, jnp.where(x[0] < 0, t + 0.5, jnp.where(x[1] < 0, -0.25, 0.25)))
    return jnp.stack([
        10 * (x[2] - 10 * theta),
        10 * (jnp.sqrt(x[0] ** 2 + x[1] ** 2) - 1),
        x[2],
    ])


def _mgh(number):
    return _BY_NUMBER[number].residual


# The variable-size standard starts (MINPACK's initpt, the same as MGH's for these).
def _grid(n):
    return np.arange(1, n + 1) / (n + 1)


_STARTS = {
    6: lambda n: np.zeros(n),
    7: _grid,
    8: lambda n: np.full(n, 0.5),
    9: lambda n: _grid(n) * (_grid(n) - 1),
    10: lambda n: _grid(n) * (_grid(n) - 1),
    11: lambda n: np.full(n, 1 / n),
    12: lambda n: 1 - np.arange(1, n + 1) / n,
    13: lambda n: np.full(n, -1.0),
    14: lambda n: np.full(n, -1.0),
}

_FUNCTIONS = {
    1: ("Rosenbrock", _mgh(1)),
    2: ("Powell singular", _mgh(13)),
    3: ("Powell badly scaled", _mgh(3)),
    4: ("Wood (gradient system)", _half_gradient(_mgh(14), np.array([1.0, 2.0, 1.0, 2.0]))),
    5: ("Helical valley", _helical_valley),
    6: ("Watson (gradient system)", _half_gradient(_mgh(20))),
    7: ("Chebyquad", _mgh(35)),
    8: ("Brown almost-linear", _mgh(27)),
    9: ("Discrete boundary value", _mgh(28)),
    10: ("Discrete integral equation", _mgh(29)),
    11: ("Trigonometric", _mgh(26)),
    12: ("Variably dimensioned (gradient system)", _half_gradient(_mgh(25))),
    13: ("Broyden tridiagonal", _mgh(30)),
    14: ("Broyden banded", _mgh(31)),
}

_FIXED_STARTS = {
    1: np.array([-1.2, 1.0]),
    2: np.array([3.0, -1.0, 0.0, 1.0]),
    3: np.array([0.0, 1.0]),
    4: np.array([-3.0, -1.0, -3.0, -1.0]),
    5: np.array([-1.0, 0.0, 0.0]),
}

# The driver's data: (nprob, n, ntries), 22 lines, 55 runs.
DRIVER_DATA: tuple[tuple[int, int, int], ...] = (
    (1, 2, 3), (2, 4, 3), (3, 2, 2), (4, 4, 3), (5, 3, 3), (6, 6, 2), (6, 9, 2),
    (7, 5, 3), (7, 6, 3), (7, 7, 3), (7, 8, 1), (7, 9, 1), (8, 10, 3), (8, 30, 1),
    (8, 40, 1), (9, 10, 3), (10, 1, 3), (10, 10, 3), (11, 10, 3), (12, 10, 3),
    (13, 10, 3), (14, 10, 3),
)


def _system(number, n, ntries):
    name, fun = _FUNCTIONS[number]
    x0 = _FIXED_STARTS[number] if number in _FIXED_STARTS else _STARTS[number](n)
    assert x0.shape == (n,), (number, n)
    return System(number, name, n, fun, x0.astype(float), (1.0, 10.0, 100.0)[:ntries])


SYSTEMS: list[System] = [_system(*line) for line in DRIVER_DATA]

RUNS: list[tuple[System, float]] = [(s, factor) for s in SYSTEMS for factor in s.factors]


def residual_norm(system: System, x) -> float:
    """‖F(x)‖∞ in float64 (inf when not finite)."""
    value = np.asarray(system.fun(jnp.asarray(x, jnp.float64)))
    return float(np.max(np.abs(value))) if np.all(np.isfinite(value)) else float("inf")


def solved(system: System, x, tol: float = 1e-8) -> bool:
    """The success test: ‖F(x)‖∞ <= tol (every system is O(1)-scaled near its roots)."""
    return residual_norm(system, x) <= tol
