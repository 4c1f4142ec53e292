"""The loop shared by the line-search methods (newton, bfgs, lbfgs): one lax.while_loop.

Each iteration asks the method for a direction p (and a first trial step), runs the
strong-Wolfe line search along it, and lets the method update its curvature memory
from s = x⁺ - x, y = ∇f(x⁺) - ∇f(x). A direction that is not a descent direction is
replaced by -∇f. When the line search fails, the method is reset once (steepest
descent, memory cleared) before the failure is reported.

Stopping test (documented on `minimize`): ‖∇f(x)‖∞ <= tol·max(1, |f(x)|).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from jachess.optimize._line_search import strong_wolfe
from jachess.optimize._result import Status, counts, minimize_output

RUNNING = -1


def converged(f, g, tol):
    return jnp.max(jnp.abs(g), initial=0.0) <= tol * jnp.maximum(1.0, jnp.abs(f))


def add_counts(a: dict, b: dict) -> dict:
    return {k: a[k] + b.get(k, 0) for k in a}


def first_alpha(g):
    """First trial step along -g: at most a unit step in the largest gradient entry."""
    return jnp.minimum(1.0, 1.0 / jnp.maximum(jnp.max(jnp.abs(g), initial=0.0), 1e-300))


def initial_status(f, g, tol, max_iterations):
    finite = jnp.isfinite(f) & jnp.all(jnp.isfinite(g))
    status = jnp.where(converged(f, g, tol), Status.CONVERGED, RUNNING)
    status = jnp.where(finite, status, Status.NONFINITE)
    return jnp.where((status == RUNNING) & (max_iterations <= 0), Status.MAX_ITERATIONS, status)


def descent(value_and_grad, x0, tol, max_iterations, direction, update, memory0):
    """Run a line-search method; returns the raw result dict for `_result.finish`.

    direction(x, f, g, memory, reset) -> (p, alpha0, memory, counts)
    update(memory, s, y, ok) -> memory
    """
    f0, g0 = value_and_grad(x0)
    state = dict(
        x=x0,
        f=f0,
        g=g0,
        k=jnp.asarray(0, jnp.int32),
        counts=counts(fun=1, grad=1),
        status=initial_status(f0, g0, tol, max_iterations).astype(jnp.int32),
        memory=memory0,
        reset=jnp.asarray(False),
    )

    def body(s):
        x, f, g = s["x"], s["f"], s["g"]
        p, alpha0, memory, extra = direction(x, f, g, s["memory"], s["reset"])
        slope = jnp.vdot(g, p)
        bad = ~(slope < 0) | ~jnp.all(jnp.isfinite(p))
        p = jnp.where(bad, -g, p)
        alpha0 = jnp.where(bad, first_alpha(g), alpha0)
        alpha, f1, g1, evals, ok = strong_wolfe(value_and_grad, x, p, f, g, alpha0)
        x1 = x + alpha * p
        memory = update(memory, x1 - x, g1 - g, ok)
        retry = ~ok & ~s["reset"] & ~bad
        # The decrease the step promises (|∇fᵀp|) is below f's rounding level: x is a
        # minimiser to machine precision even though no trial point decreased f.
        eps = jnp.finfo(f.dtype).eps
        flat = ~ok & (-slope <= 100 * eps * jnp.maximum(jnp.abs(f), 1e-300))
        retry = retry & ~flat
        k = s["k"] + 1
        status = jnp.where(k >= max_iterations, Status.MAX_ITERATIONS, RUNNING)
        status = jnp.where(converged(f1, g1, tol), Status.CONVERGED, status)
        status = jnp.where(~ok & ~retry, Status.LINE_SEARCH_FAILED, status)
        status = jnp.where(flat, Status.CONVERGED, status)
        finite = jnp.isfinite(f1) & jnp.all(jnp.isfinite(g1)) & jnp.all(jnp.isfinite(x1))
        status = jnp.where(finite, status, Status.NONFINITE)
        return dict(
            x=x1,
            f=f1,
            g=g1,
            k=k,
            counts=add_counts(add_counts(s["counts"], extra), {"fun": evals, "grad": evals}),
            status=status.astype(jnp.int32),
            memory=memory,
            reset=retry,
        )

    s = lax.while_loop(lambda s: s["status"] == RUNNING, body, state)
    return minimize_output(s)
