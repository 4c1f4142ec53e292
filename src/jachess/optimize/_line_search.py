"""Strong-Wolfe line search (Nocedal & Wright, Algorithms 3.5 and 3.6), one trial at a time.

Finds α > 0 with f(x + αp) <= f(x) + c1·α·∇f(x)ᵀp (sufficient decrease) and
|∇f(x + αp)ᵀp| <= c2·|∇f(x)ᵀp| (curvature). Bracketing doubles α until the
interval [lo, hi] holds such a step; zooming shrinks it with safeguarded cubic
interpolation (bisection when the cubic leaves the middle 80 %).

The search is a state machine advanced by `advance` after each trial, so the
optimiser runs it inside its own while_loop (one value-and-gradient evaluation per
loop iteration, no nested loop). Its state is one vector
[α_lo, f_lo, d_lo, α_hi, f_hi, d_hi, zooming] (d = slope along p): while bracketing,
"lo" is the last trial with sufficient decrease and a lower value (the "previous"
point of Algorithm 3.5), so in both phases lo is the best point seen, the fallback
when the evaluation budget runs out. Packing the scalars into one array keeps the
compiled loop to a handful of kernels per trial, which is what a solve on a small
problem costs.
"""

from __future__ import annotations

import jax.numpy as jnp

C1, C2 = 1e-4, 0.9
MAX_TRIALS = 30


def start(f0, d0):
    """The search state before the first trial: lo = hi = the point α = 0."""
    zero = jnp.zeros_like(f0)
    return jnp.stack([zero, f0, d0, zero, f0, d0, zero])


def best(search):
    """(α_lo, f_lo): the best trial so far (α_lo = 0 when none decreased f)."""
    return search[0], search[1]


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


def advance(search, f0, d0, alpha, f, d, first):
    """Take the trial (α, f(x+αp), slope d) into the search.

    Args:
        search: the state vector (see module docstring).
        f0, d0: f(x) and ∇f(x)ᵀp (< 0).
        alpha, f, d: the trial step, its value and its slope (non-finite values as +inf).
        first: whether this is the search's first trial.

    Returns:
        (search, next_alpha, done, lo_is_trial, collapsed): done when the trial meets
        both Wolfe conditions; lo_is_trial when the trial became the new lo (its
        gradient is the fallback's); collapsed when the zoom interval shrank to
        rounding level (no better step can be found).
    """
    a_lo, f_lo, d_lo, a_hi, f_hi, d_hi, zooming = (search[i] for i in range(7))
    zoom = zooming > 0
    armijo_fail = f > f0 + C1 * alpha * d0
    curvature_ok = jnp.abs(d) <= -C2 * d0

    # Bracketing (lo holds the previous point): fail -> zoom on [lo, trial];
    # slope turned non-negative -> zoom on [trial, lo]; otherwise step further.
    b_fail = armijo_fail | (~first & (f >= f_lo))
    b_flip = ~b_fail & ~curvature_ok & (d >= 0)
    # Zoom: fail -> trial is the new hi; success -> trial is the new lo, and the old
    # lo becomes hi when the slope points away from hi.
    z_fail = armijo_fail | (f >= f_lo)
    z_swap = ~z_fail & (d * (a_hi - a_lo) >= 0)

    done = ~jnp.where(zoom, z_fail, b_fail) & curvature_ok
    lo_is_trial = ~done & jnp.where(zoom, ~z_fail, ~b_fail)
    hi_is_trial = ~done & jnp.where(zoom, z_fail, b_fail)
    hi_is_lo = ~done & jnp.where(zoom, z_swap, b_flip)
    zoom_next = zoom | b_fail | b_flip

    new_lo = jnp.where(lo_is_trial, jnp.stack([alpha, f, d]), jnp.stack([a_lo, f_lo, d_lo]))
    new_hi = jnp.where(
        hi_is_trial,
        jnp.stack([alpha, f, d]),
        jnp.where(hi_is_lo, jnp.stack([a_lo, f_lo, d_lo]), jnp.stack([a_hi, f_hi, d_hi])),
    )
    next_alpha = jnp.where(
        zoom_next, _cubic_trial(new_lo[0], new_lo[1], new_lo[2], new_hi[0], new_hi[1], new_hi[2]),
        2.0 * alpha,
    )
    collapsed = (
        ~done
        & zoom_next
        & (jnp.abs(new_hi[0] - new_lo[0]) <= 1e-14 * jnp.maximum(jnp.abs(new_lo[0]), 1e-300))
    )
    search = jnp.concatenate([new_lo, new_hi, zoom_next.astype(search.dtype)[None]])
    return search, next_alpha, done, lo_is_trial, collapsed
