"""Find every stationary point of f in a box: multistart Newton on ∇f = 0.

Starts are drawn uniformly in the box (stratified: one per cell of a jittered grid
when n <= 3, else uniform); from each, Newton's method on the system ∇f(x) = 0 (the
Hessian is its Jacobian; steps capped at a quarter of the box diagonal), all starts
vmapped through one jitted while_loop, stopped when the step falls to rounding level
or after 100 iterations. Undamped Newton on ∇f is attracted to minima, maxima and
saddles alike, which is why it finds them all; starts that diverge or leave the box
are dropped.
Converged points inside the box are deduplicated (distance <= 1e-6·(1 + box
diameter)) and classified with `classify`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jachess._derivatives._jit import jit_with_static_function
from jachess._errors import OptionError, ShapeError
from jachess._options import check_positive_int
from jachess._trees import require_scalar
from jachess.critical._classify import Classification, classify

_KIND_ORDER = {"minimum": 0, "saddle": 1, "maximum": 2, "degenerate": 3}


def _check_bounds(bounds: Any) -> np.ndarray:
    try:
        box = np.asarray(bounds, dtype=float)
    except (TypeError, ValueError):
        box = None
    if box is None or box.ndim != 2 or box.shape[1] != 2 or box.shape[0] == 0:
        raise ShapeError(
            "bounds must be a sequence of (lo, hi) pairs, one per variable, e.g. "
            f"[(-5, 5), (-5, 5)], but got {bounds!r}."
        )
    if not np.all(np.isfinite(box)) or np.any(box[:, 0] >= box[:, 1]):
        raise OptionError(
            f"bounds must be finite with lo < hi in every pair, but got {box.tolist()}."
        )
    return box


def _starts(box: np.ndarray, num_starts: int, key) -> jax.Array:
    n = box.shape[0]
    lo, hi = box[:, 0], box[:, 1]
    if n <= 3:
        per_axis = max(1, int(np.floor(num_starts ** (1.0 / n))))
        cells = np.stack(
            np.meshgrid(*[np.arange(per_axis)] * n, indexing="ij"), axis=-1
        ).reshape(-1, n)
        jitter = np.asarray(jax.random.uniform(key, cells.shape, dtype=jnp.float64))
        unit = (cells + jitter) / per_axis
    else:
        unit = np.asarray(jax.random.uniform(key, (num_starts, n), dtype=jnp.float64))
    return jnp.asarray(lo + unit * (hi - lo))


def _solve_all(f, starts, radius, max_iterations):
    """Newton on ∇f = 0 from every start (steps capped at `radius`), vmapped."""

    def scalar_f(z):
        return require_scalar(f(z), "jachess.critical.find", "")

    grad = jax.grad(scalar_f)
    hessian = jax.jacfwd(grad)
    eps = jnp.finfo(starts.dtype).eps

    def one(x0):
        def cond(state):
            _, k, done = state
            return ~done & (k < max_iterations)

        def body(state):
            x, k, _ = state
            g = grad(x)
            p = -jnp.linalg.solve(hessian(x), g)
            norm = jnp.linalg.norm(p)
            p = p * jnp.minimum(1.0, radius / jnp.where(norm > 0, norm, 1.0))
            finite = jnp.all(jnp.isfinite(p))
            x_new = jnp.where(finite, x + p, x)
            small = norm <= 1e2 * eps * (1.0 + jnp.linalg.norm(x))
            return x_new, k + 1, ~finite | small

        x, _, _ = jax.lax.while_loop(cond, body, (x0, 0, False))
        return x

    return jax.vmap(one)(starts)


_solve_all_jit = jit_with_static_function(_solve_all)


def find(
    f: Callable,
    bounds: Any,
    *,
    num_starts: int | None = None,
    key: jax.Array | None = None,
) -> list[Classification]:
    """All stationary points (∇f = 0) of a scalar f in a box, each classified.

    Cost: num_starts Newton solves on ∇f (each iteration a dense Hessian, n HVPs, and an
    O(n³) solve), run together under vmap; then one `classify` per distinct point.

    Args:
        f: scalar function of a flat array x of shape (n,).
        bounds: [(lo, hi), ...], one pair per variable.
        num_starts: number of Newton starts (default 64·4ⁿ capped at 4096; more
            starts find points with small basins).
        key: PRNG key for the start points (default jax.random.key(0), reproducible).

    Returns:
        list of Classification, one per distinct stationary point inside the box,
        minima first, then saddles, maxima and degenerate points, each by value.

    Example:
        >>> himmelblau = lambda v: (v[0]**2 + v[1] - 11)**2 + (v[0] + v[1]**2 - 7)**2
        >>> points = jachess.critical.find(himmelblau, [(-5, 5), (-5, 5)])
        >>> sorted({p.kind for p in points}), len(points)
        (['maximum', 'minimum', 'saddle'], 9)
    """
    box = _check_bounds(bounds)
    n = box.shape[0]
    if num_starts is None:
        num_starts = int(min(4096, 64 * 4**n))
    check_positive_int("num_starts", num_starts)
    key = jax.random.key(0) if key is None else key
    starts = _starts(box, num_starts, key)
    width = box[:, 1] - box[:, 0]
    step_cap = 0.25 * float(np.linalg.norm(width))
    xs = np.asarray(_solve_all_jit(f, starts, step_cap, 100))
    inside = np.all((xs >= box[:, 0] - 1e-9 * width) & (xs <= box[:, 1] + 1e-9 * width), axis=1)
    finite = np.all(np.isfinite(xs), axis=1)
    candidates = xs[inside & finite]
    radius = 1e-6 * (1.0 + float(np.linalg.norm(width)))
    distinct: list[np.ndarray] = []
    for x in candidates:
        if all(np.linalg.norm(x - y) > radius for y in distinct):
            distinct.append(x)
    points = [classify(f, jnp.asarray(x)) for x in distinct]
    points = [p for p in points if p.kind != "not critical"]
    points.sort(key=lambda p: (_KIND_ORDER[p.kind], p.value, tuple(np.asarray(p.x))))
    return points
