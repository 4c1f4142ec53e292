"""The loop shared by the line-search methods (newton, bfgs, lbfgs): one flat lax.while_loop.

Each loop iteration evaluates f and ∇f once, at the line search's current trial
x + αp, and advances the strong-Wolfe state machine (`_line_search`). When the search
ends, the step is taken, the method updates its curvature memory from s = x⁺ - x,
y = ∇f(x⁺) - ∇f(x) and computes the next direction p (and first trial step). A
direction that is not a descent direction is replaced by -∇f. When the search fails
the method is reset once (steepest descent, memory cleared) before the failure is
reported.

Why one flat loop: on small problems a solve costs what its compiled loop executes
per evaluation, kernel by kernel; a line search nested as an inner while_loop copies
the whole state in and out each iteration (optimistix folds its search into one
loop for the same reason). The end-of-search work (memory update, new direction,
for newton a Hessian) sits behind a lax.cond, so it runs once per iteration, not
once per trial.

Stopping test (documented on `minimize`): ‖∇f(x)‖∞ <= tol·max(1, |f(x)|).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from jachess.optimize import _line_search as search
from jachess.optimize._result import Status, minimize_output

RUNNING = -1
_COUNT_NAMES = ("fun", "grad", "hess", "hvp", "jac")


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


def _count_vector(extra: dict):
    return jnp.asarray([extra.get(k, 0) for k in _COUNT_NAMES], jnp.int32)


def descent(value_and_grad, x0, tol, max_iterations, direction, update, memory0):
    """Run a line-search method; returns the raw result dict for `_result.finish`.

    direction(x, f, g, memory, reset) -> (p, alpha0, memory, counts)
    update(memory, s, y, ok) -> memory
    """
    f0, g0 = value_and_grad(x0)
    dtype = f0.dtype

    def new_search(s):
        """Next direction from s's point and memory, and a fresh line search along it."""
        x, f, g = s["x"], s["f"], s["g"]
        p, alpha0, memory, extra = direction(x, f, g, s["memory"], s["reset"])
        slope = jnp.vdot(g, p)
        steepest = ~(slope < 0) | ~jnp.all(jnp.isfinite(p))
        p = jnp.where(steepest, -g, p)
        slope = jnp.where(steepest, -jnp.vdot(g, g), slope)
        return dict(
            s,
            p=p,
            slope=slope,
            alpha=jnp.where(steepest, first_alpha(g), alpha0).astype(dtype),
            search=search.start(f, slope),
            g_lo=g,
            trials=jnp.asarray(0, jnp.int32),
            memory=memory,
            steepest=steepest | s["reset"],
            counts=s["counts"] + _count_vector(extra),
        )

    state = dict(
        x=x0,
        f=f0,
        g=g0,
        p=jnp.zeros_like(x0),
        slope=jnp.zeros((), dtype),
        alpha=jnp.zeros((), dtype),
        search=search.start(f0, jnp.zeros((), dtype)),
        g_lo=g0,
        trials=jnp.asarray(0, jnp.int32),
        memory=memory0,
        reset=jnp.asarray(False),
        steepest=jnp.asarray(False),
        k=jnp.asarray(0, jnp.int32),
        counts=_count_vector({"fun": 1, "grad": 1}),
        status=initial_status(f0, g0, tol, max_iterations).astype(jnp.int32),
    )
    state = lax.cond(state["status"] == RUNNING, new_search, lambda s: s, state)

    def end_search(s, trial):
        """The search ended: take its step (or its best point), update, test, go on."""
        done, x_t, f_t, g_t = trial
        x, f, g, slope = s["x"], s["f"], s["g"], s["slope"]
        a_lo, f_lo = search.best(s["search"])
        fallback = (a_lo > 0) & (f_lo < f)
        ok = done | fallback
        x1 = jnp.where(done, x_t, jnp.where(fallback, x + a_lo * s["p"], x))
        f1 = jnp.where(done, f_t, jnp.where(fallback, f_lo, f))
        g1 = jnp.where(done, g_t, jnp.where(fallback, s["g_lo"], g))
        memory = update(s["memory"], x1 - x, g1 - g, ok)
        retry = ~ok & ~s["steepest"]
        # The decrease the step promises (|∇fᵀp|) is below f's rounding level: x is a
        # minimiser to machine precision even though no trial point decreased f.
        eps = jnp.finfo(dtype).eps
        flat = ~ok & (-slope <= 100 * eps * jnp.maximum(jnp.abs(f), 1e-300))
        retry = retry & ~flat
        k = s["k"] + 1
        status = jnp.where(k >= max_iterations, Status.MAX_ITERATIONS, RUNNING)
        status = jnp.where(converged(f1, g1, tol), Status.CONVERGED, status)
        status = jnp.where(~ok & ~retry, Status.LINE_SEARCH_FAILED, status)
        status = jnp.where(flat, Status.CONVERGED, status)
        finite = jnp.isfinite(f1) & jnp.all(jnp.isfinite(g1)) & jnp.all(jnp.isfinite(x1))
        status = jnp.where(finite, status, Status.NONFINITE).astype(jnp.int32)
        s = dict(s, x=x1, f=f1, g=g1, memory=memory, reset=retry, k=k, status=status)
        return lax.cond(status == RUNNING, new_search, lambda s: s, s)

    def body(s):
        x_t = s["x"] + s["alpha"] * s["p"]
        f_t, g_t = value_and_grad(x_t)
        f_t = jnp.where(jnp.isfinite(f_t), f_t, jnp.inf)
        d_t = jnp.vdot(g_t, s["p"])
        d_t = jnp.where(jnp.isfinite(d_t), d_t, jnp.inf)
        new, next_alpha, done, lo_is_trial, collapsed = search.advance(
            s["search"], s["f"], s["slope"], s["alpha"], f_t, d_t, s["trials"] == 0
        )
        trials = s["trials"] + 1
        s = dict(
            s,
            search=new,
            alpha=next_alpha,
            g_lo=jnp.where(lo_is_trial, g_t, s["g_lo"]),
            trials=trials,
            counts=s["counts"] + _count_vector({"fun": 1, "grad": 1}),
        )
        ended = done | collapsed | (trials >= search.MAX_TRIALS)
        return lax.cond(ended, end_search, lambda s, _: s, s, (done, x_t, f_t, g_t))

    s = lax.while_loop(lambda s: s["status"] == RUNNING, body, state)
    s = dict(s, counts={k: s["counts"][i] for i, k in enumerate(_COUNT_NAMES)})
    return minimize_output(s)
