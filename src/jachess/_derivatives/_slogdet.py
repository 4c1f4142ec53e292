"""log|det J_f(x)| of a square map: the local volume change of y = f(x).

Change of variables: log p_Y(f(x)) = log p_X(x) - log|det J_f(x)|.
"dense" forms J (n passes) and takes an LU factorisation (O(n³)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import jax
import jax.numpy as jnp

from jachess._derivatives._dense import jacobian_matrix
from jachess._derivatives._jit import jit_with_static_function
from jachess._errors import NotSquareError, OptionError
from jachess._memory import check_dense_fits
from jachess._options import check_choice
from jachess._trees import as_float_tree, describe, flatten_function, tree_size

SlogdetMethod = Literal["auto", "dense", "structured", "stochastic"]


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Slogdet:
    """Result of slogdet_jacobian; unpacks as ``sign, logabsdet`` like numpy.linalg.slogdet.

    Attributes:
        sign: +1 or -1, or 0 for a singular Jacobian (then logabsdet is -inf).
        logabsdet: log|det J|.
        std_error: standard error of logabsdet (0.0 for exact methods).
        method: the method used ("dense", "structured" or "stochastic").
    """

    sign: jax.Array
    logabsdet: jax.Array
    std_error: jax.Array
    method: str = field(default="dense", metadata=dict(static=True))

    def __iter__(self):
        return iter((self.sign, self.logabsdet))

    def __getitem__(self, index):
        return (self.sign, self.logabsdet)[index]

    def __len__(self):
        return 2


def square_flat_function(f: Callable, x: Any):
    """Flatten f around x and require a square Jacobian; returns (x_flat, f_flat)."""
    x_flat, f_flat, _, out_struct = flatten_function(f, x)
    m, n = tree_size(out_struct), x_flat.shape[0]
    if m != n:
        raise NotSquareError(
            f"slogdet_jacobian needs a square Jacobian (f(x).size == x.size), but x is "
            f"{describe(x)} ({n} entries) and f(x) is {describe(out_struct)} ({m} entries). "
            "A determinant exists only for maps R^n -> R^n; for a non-square map consider "
            "0.5 * log det(JᵀJ) of the Gram matrix instead."
        )
    return x_flat, f_flat


def _dense_slogdet(f, x):
    x_flat, f_flat = square_flat_function(f, x)
    n = x_flat.shape[0]
    check_dense_fits("Jacobian", (n, n), x_flat.dtype)
    matrix = jacobian_matrix(f_flat, x_flat, n, "fwd", None)
    sign, logabsdet = jnp.linalg.slogdet(matrix)
    return sign, logabsdet


_dense_slogdet_jit = jit_with_static_function(_dense_slogdet)


def slogdet_jacobian(
    f: Callable,
    x: Any,
    *,
    method: SlogdetMethod = "auto",
    key: jax.Array | None = None,
    num_probes: int | None = None,
    num_steps: int | None = None,
) -> Slogdet:
    """Sign and log|det J_f(x)| of a square map f: R^n -> R^n.

    Methods and costs:
        "dense": n JVPs to form J, then an O(n³) LU factorisation. Exact.
        "structured": detect J's sparsity pattern (once per function and shape), put it
            in block-triangular form (matching + strongly connected components) and
            take det J = ± Π det(diagonal blocks), reading the blocks from k JVPs, k
            the colours of the needed entries (k = 1 for a diagonal map, bandwidth + 1
            for a banded triangular one). Exact; for autoregressive, block-diagonal and
            permuted-triangular maps.
        "stochastic": ½ log det(JᵀJ) by stochastic Lanczos quadrature on the
            matrix-free JᵀJ (num_probes · num_steps JVP + VJP pairs), with a standard
            error. The sign is not observable from JᵀJ and is NaN. Needs `key`.
        "auto": dense for n <= 256; structured when the pattern makes it at least 4x
            cheaper than n passes; dense up to n = 4096; stochastic beyond (a key is
            then required).

    Args:
        f: map with f(x).size == x.size (pytrees are flattened row-major).
        x: point.
        method: "auto" | "dense" | "structured" | "stochastic".
        key: PRNG key for the stochastic method.
        num_probes: stochastic method only: random probes (default 32).
        num_steps: stochastic method only: Lanczos steps per probe (default 40).

    Returns:
        Slogdet, which unpacks as (sign, logabsdet). A singular Jacobian gives sign 0
        and logabsdet -inf, not an exception.

    Example:
        >>> sign, logdet = jachess.slogdet_jacobian(jnp.exp, jnp.array([1.0, 2.0]))  # 3.0
    """
    check_choice("method", method, SlogdetMethod)
    if method in ("dense", "structured") and (num_probes is not None or num_steps is not None):
        raise OptionError(
            f"num_probes and num_steps apply to method='stochastic' (or 'auto'), but "
            f"method={method!r} is exact; drop them."
        )
    x = as_float_tree(x, "x")
    if method != "dense":
        from jachess._derivatives._slogdet_methods import choose_method, slogdet_by_method

        if method == "auto":
            square_flat_function(f, x)  # a non-square map fails here, before detection
            method = choose_method(f, x, key)
    if method in ("structured", "stochastic"):
        return slogdet_by_method(f, x, method=method, key=key, num_probes=num_probes,
                                 num_steps=num_steps)
    sign, logabsdet = _dense_slogdet_jit(f, x)
    return Slogdet(sign, logabsdet, jnp.zeros((), logabsdet.dtype), "dense")
