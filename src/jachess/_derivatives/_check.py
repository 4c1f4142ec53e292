"""Compare automatic derivatives with finite differences, and JVP with VJP.

Finite differences are central differences refined by one Richardson step,
    D(h) = (f(x + h e) - f(x - h e)) / 2h,   R = (4 D(h/2) - D(h)) / 3,
whose error is O(h⁴); with h = eps^(1/5) max(1, |x_j|) it is about eps^(4/5) relative
(3e-13 in float64, 3e-6 in float32). Written here rather than taken from numdifftools
so the check runs vmapped and jitted with no extra dependency; numdifftools is what
the test suite checks this module against.

The transpose identity ⟨u, J v⟩ = ⟨Jᵀu, v⟩ is checked with the exact JVP and VJP, which
catches a custom_jvp / custom_vjp pair that disagree with each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jachess._derivatives._dense import jacobian_matrix
from jachess._errors import DerivativeMismatchError, OptionError
from jachess._trees import as_float_tree, flatten_function, tree_size


@dataclass(frozen=True)
class DerivativeCheck:
    """A passed check: the worst disagreement found and where.

    Attributes:
        max_abs_error: largest |AD - FD| over the checked entries or directions.
        max_scaled_error: largest |AD - FD| / tolerance (< 1 means passed).
        worst: a text naming the worst entry.
        num_checked: how many entries (full check) or directions were compared.
        transpose_error: relative mismatch of ⟨u, J v⟩ and ⟨Jᵀu, v⟩.
    """

    max_abs_error: float
    max_scaled_error: float
    worst: str
    num_checked: int
    transpose_error: float


def _default_tolerance(dtype) -> float:
    # Richardson FD error is ~eps^(4/5); the margin covers curvature-heavy functions.
    return 1e-6 if jnp.finfo(dtype).bits >= 64 else 3e-2


def _finite_difference_columns(f_flat, x_flat, directions, steps):
    """Richardson-refined central differences of f along each row of `directions`."""
    def central(d, h):
        return (f_flat(x_flat + h * d) - f_flat(x_flat - h * d)) / (2 * h)

    def refined(d, h):
        return (4 * central(d, h / 2) - central(d, h)) / 3

    return jax.vmap(refined)(directions, steps)


def _index_text(flat_index: int, tree: Any) -> str:
    leaves = jax.tree_util.tree_leaves(tree)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]
    for path, leaf in zip(paths, leaves):
        size = int(np.prod(leaf.shape))
        if flat_index < size:
            idx = np.unravel_index(flat_index, leaf.shape) if leaf.shape else ()
            return f"{path}[{', '.join(str(int(i)) for i in idx)}]"
        flat_index -= size
    raise AssertionError("index out of range")


def check_derivatives(
    f: Callable,
    x: Any,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    max_full: int = 64,
    num_directions: int = 8,
    key: jax.Array | None = None,
) -> DerivativeCheck:
    """Check f's automatic derivatives at x against finite differences.

    When x has at most `max_full` entries every Jacobian entry is compared (4n
    evaluations of f); otherwise `num_directions` random directional derivatives J v.
    Entry (i, j) passes when |AD - FD| <= atol + rtol·max(|AD|, |FD|); atol defaults to
    rtol·max(1, max|J|), rtol to 1e-6 (float64) or 3e-2 (float32). The transpose
    identity ⟨u, J v⟩ = ⟨Jᵀu, v⟩ must hold to 1e3·eps relative.

    Args:
        f: function to check (custom_jvp / custom_vjp rules included).
        x: point; float64 gives a much sharper check than float32.
        rtol: relative tolerance (see above).
        atol: absolute tolerance (see above).
        max_full: largest input size for the full entrywise comparison.
        num_directions: random directions when the input is larger.
        key: PRNG key for the random directions and the transpose check.

    Returns:
        DerivativeCheck with the worst error found.

    Raises:
        DerivativeMismatchError: naming the worst entry, both values and the tolerance.
    """
    x = as_float_tree(x, "x")
    x_flat, f_flat, _, out_struct = flatten_function(f, x)
    n, m = x_flat.shape[0], tree_size(out_struct)
    dtype = x_flat.dtype
    if n == 0 or m == 0:
        return DerivativeCheck(0.0, 0.0, "(no entries)", 0, 0.0)
    if (rtol is not None and rtol < 0) or (atol is not None and atol < 0):
        raise OptionError(f"rtol and atol must be non-negative, but got {rtol!r}, {atol!r}.")
    rtol = _default_tolerance(dtype) if rtol is None else rtol
    key = jax.random.key(0) if key is None else key
    key_dirs, key_u, key_v = jax.random.split(key, 3)
    eps = float(jnp.finfo(dtype).eps)
    scale = jnp.maximum(1.0, jnp.abs(x_flat))
    full = n <= max_full
    if full:
        directions = jnp.eye(n, dtype=dtype)
        steps = eps ** 0.2 * scale
    else:
        directions = jax.random.normal(key_dirs, (num_directions, n), dtype)
        directions = directions / jnp.linalg.norm(directions, axis=1, keepdims=True)
        steps = jnp.full((num_directions,), eps ** 0.2 * float(jnp.max(scale)), dtype)
    fd = np.asarray(
        jax.jit(_finite_difference_columns, static_argnums=0)(f_flat, x_flat, directions, steps)
    )  # (directions, m)
    modes = _ad_directional(f_flat, x_flat, m, directions, full)
    if not modes:
        raise DerivativeMismatchError("f supports neither forward nor reverse differentiation.")
    worst_scaled, report = -1.0, None
    for mode_name, ad in modes.items():
        atol_mode = rtol * max(1.0, float(np.max(np.abs(ad)))) if atol is None else atol
        if not np.all(np.isfinite(ad)):
            bad = np.unravel_index(np.argmax(~np.isfinite(ad)), ad.shape)
            raise DerivativeMismatchError(
                f"{mode_name.capitalize()}-mode derivatives are not finite at x: "
                f"{_describe(bad, full, out_struct, x)} is {ad[bad]}."
            )
        error = np.abs(ad - fd)
        tolerance = atol_mode + rtol * np.maximum(np.abs(ad), np.abs(fd))
        scaled = np.where(np.isfinite(error), error / tolerance, np.inf)
        worst = np.unravel_index(np.argmax(scaled), scaled.shape)
        where = _describe(worst, full, out_struct, x)
        if not scaled[worst] <= 1.0:
            raise DerivativeMismatchError(
                f"Automatic ({mode_name} mode) and finite-difference derivatives disagree at "
                f"{where}: AD gives {ad[worst]:.10g}, finite differences give {fd[worst]:.10g} "
                f"(difference {error[worst]:.3g}, tolerance {tolerance[worst]:.3g}). Check the "
                "function's custom_jvp/custom_vjp rules, or any non-differentiable point near x."
            )
        if scaled[worst] > worst_scaled:
            worst_scaled = float(scaled[worst])
            report = (float(np.max(error)), where)
    transpose_error = 0.0
    if len(modes) == 2:
        transpose_error = _transpose_error(f_flat, x_flat, m, key_u, key_v)
        if not transpose_error <= 1e3 * eps:
            raise DerivativeMismatchError(
                f"JVP and VJP disagree: ⟨u, J v⟩ and ⟨Jᵀu, v⟩ differ by {transpose_error:.3g} "
                "relative, so forward and reverse mode give different Jacobians. A custom rule "
                "whose pullback is not the transpose of its forward derivative does this."
            )
    return DerivativeCheck(report[0], worst_scaled, report[1], int(fd.shape[0]), transpose_error)


def _ad_directional(f_flat, x_flat, m, directions, full) -> dict[str, np.ndarray]:
    """J along each direction, by forward and by reverse mode (where f supports each).

    Full check: both modes give all of J. Directional check: forward mode gives J d_k;
    reverse mode is then held to forward mode by the transpose identity.
    """
    results = {}
    try:
        results["forward"] = np.asarray(
            jax.jit(jax.vmap(lambda d: jax.jvp(f_flat, (x_flat,), (d,))[1]))(directions)
        )
    except TypeError as error:  # custom_vjp functions have no forward mode
        if "custom_vjp" not in str(error) and "jvp" not in str(error):
            raise
    try:
        if full:
            rows = jax.jit(lambda z: jacobian_matrix(f_flat, z, m, "rev", None))(x_flat)
            results["reverse"] = np.asarray(rows).T
        elif "forward" not in results:
            raise DerivativeMismatchError(
                "f has no forward mode (custom_vjp) and more inputs than max_full; raise "
                "max_full to check it entrywise in reverse mode."
            )
    except TypeError as error:
        if "transpose" not in str(error) and "vjp" not in str(error):
            raise
    return results


def _describe(position, full: bool, out_struct, x) -> str:
    direction, output = int(position[0]), int(position[1])
    out_text = "f(x)" + _index_text(output, out_struct)
    if full:
        return f"∂{out_text}/∂x{_index_text(direction, x)}"
    return f"{out_text} along random direction {direction}"


def _transpose_error(f_flat, x_flat, m, key_u, key_v) -> float:
    u = jax.random.normal(key_u, (m,), x_flat.dtype)
    v = jax.random.normal(key_v, x_flat.shape, x_flat.dtype)
    jv = jax.jvp(f_flat, (x_flat,), (v,))[1]
    jtu = jax.vjp(f_flat, x_flat)[1](u)[0]
    left, right = jnp.vdot(u, jv), jnp.vdot(jtu, v)
    size = jnp.linalg.norm(u) * jnp.linalg.norm(jv) + jnp.linalg.norm(jtu) * jnp.linalg.norm(v)
    return float(jnp.abs(left - right) / jnp.maximum(size, jnp.finfo(x_flat.dtype).tiny))
