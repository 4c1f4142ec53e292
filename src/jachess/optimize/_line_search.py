"""Strong-Wolfe line search (Nocedal & Wright, Algorithms 3.5 and 3.6) as one lax.while_loop.

Finds α > 0 with f(x + αp) <= f(x) + c1·α·∇f(x)ᵀp (sufficient decrease) and
|∇f(x + αp)ᵀp| <= c2·|∇f(x)ᵀp| (curvature). Bracketing doubles α until the
interval [lo, hi] holds such a step; zooming shrinks it with safeguarded cubic
interpolation (bisection when the cubic leaves the middle 80 %). Each trial costs
one value-and-gradient evaluation. When the evaluation budget runs out the best
point with sufficient decrease is returned (flagged ``ok`` only if it decreased f).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

_BRACKET, _ZOOM, _DONE = 0, 1, 2


def _cubic_trial(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi):
    """Minimiser of the cubic through two points with slopes, safeguarded to the middle 80 %."""
    width = a_hi - a_lo
    d1 = d_lo + d_hi - 3.0 * (f_lo - f_hi) / (a_lo - a_hi)
    disc = d1 * d1 - d_lo * d_hi
    d2 = jnp.sign(width) * jnp.sqrt(jnp.maximum(disc, 0.0))
    a = a_hi - width * (d_hi + d2 - d1) / (d_hi - d_lo + 2.0 * d2)
    low = jnp.minimum(a_lo, a_hi) + 0.1 * jnp.abs(width)
    high = jnp.maximum(a_lo, a_hi) - 0.1 * jnp.abs(width)
    good = jnp.isfinite(a) & (disc >= 0) & (a >= low) & (a <= high)
    return jnp.where(good, a, 0.5 * (a_lo + a_hi))


def strong_wolfe(value_and_grad, x, p, f0, g0, alpha0, *, c1=1e-4, c2=0.9, max_evals=30):
    """Search along p from x (f0 = f(x), g0 = ∇f(x), p a descent direction).

    Returns:
        (alpha, f_new, g_new, num_evals, ok): ok is False when no step decreased f;
        then alpha = 0 and (f_new, g_new) = (f0, g0).
    """
    d0 = jnp.vdot(g0, p)
    dtype = f0.dtype
    zero = jnp.zeros((), dtype)
    point0 = (zero, f0, d0, g0)

    state = dict(
        stage=jnp.asarray(_BRACKET),
        trial=jnp.asarray(alpha0, dtype),
        prev=point0,
        lo=point0,
        hi=point0,
        result=point0,
        evals=jnp.asarray(0, jnp.int32),
        ok=jnp.asarray(False),
        zoomed=jnp.asarray(False),
    )

    def cond(s):
        return (s["stage"] != _DONE) & (s["evals"] < max_evals)

    def body(s):
        a_lo, f_lo, d_lo, _ = s["lo"]
        a_hi, f_hi, d_hi, _ = s["hi"]
        in_zoom = s["stage"] == _ZOOM
        alpha = jnp.where(in_zoom, _cubic_trial(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi), s["trial"])
        f, g = value_and_grad(x + alpha * p)
        f = jnp.where(jnp.isfinite(f), f, jnp.inf)
        d = jnp.vdot(g, p)
        d = jnp.where(jnp.isfinite(d), d, jnp.inf)
        point = (alpha, f, d, g)
        armijo_fail = f > f0 + c1 * alpha * d0
        curvature_ok = jnp.abs(d) <= -c2 * d0

        # Bracketing phase.
        f_prev = s["prev"][1]
        b_fail = armijo_fail | ((s["evals"] > 0) & (f >= f_prev))
        b_done = ~b_fail & curvature_ok
        b_flip = ~b_fail & ~b_done & (d >= 0)
        b_next = ~b_fail & ~b_done & ~b_flip

        # Zoom phase.
        z_fail = armijo_fail | (f >= f_lo)
        z_done = ~z_fail & curvature_ok
        z_swap = ~z_fail & ~z_done & (d * (a_hi - a_lo) >= 0)

        def pick(cond_, a, b):
            return tuple(jnp.where(cond_, u, v) for u, v in zip(a, b))

        new_lo_b = pick(b_fail, s["prev"], point)
        new_hi_b = pick(b_fail, point, s["prev"])
        new_hi_z = pick(z_fail, point, pick(z_swap, s["lo"], s["hi"]))
        new_lo_z = pick(z_fail, s["lo"], point)

        done = jnp.where(in_zoom, z_done, b_done)
        lo = pick(in_zoom, new_lo_z, new_lo_b)
        hi = pick(in_zoom, new_hi_z, new_hi_b)
        lo = pick(~in_zoom & b_next, s["lo"], lo)
        hi = pick(~in_zoom & b_next, s["hi"], hi)
        go_zoom = in_zoom | b_fail | b_flip
        # An interval shrunk to rounding level cannot hold a better step.
        tiny = jnp.abs(hi[0] - lo[0]) <= 1e-14 * jnp.maximum(jnp.abs(lo[0]), 1e-300)
        stop = done | (go_zoom & ~done & tiny)
        stage = jnp.where(stop, _DONE, jnp.where(go_zoom, _ZOOM, _BRACKET))
        prev = pick(b_next, point, s["prev"])
        result = pick(done, point, s["result"])
        return dict(
            stage=stage,
            trial=jnp.where(b_next, 2.0 * alpha, s["trial"]),
            prev=prev,
            lo=lo,
            hi=hi,
            result=result,
            evals=s["evals"] + 1,
            ok=done,
            zoomed=go_zoom,
        )

    s = lax.while_loop(cond, body, state)
    # Budget exhausted or interval collapsed: fall back to the best sufficient-decrease point.
    best = tuple(
        jnp.where(s["zoomed"], u, v) for u, v in zip(s["lo"], s["prev"])
    )
    best = tuple(jnp.where(s["ok"], u, v) for u, v in zip(s["result"], best))
    ok = s["ok"] | ((best[0] > 0) & (best[1] < f0))
    alpha, f, _, g = best
    return alpha, f, g, s["evals"], ok
