"""The `minimize` front: checks, flattening, one jitted solve, the result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from jax.flatten_util import ravel_pytree

from jachess._derivatives._jit import jit_with_static_function
from jachess._errors import OptionError
from jachess._options import check_choice
from jachess._trees import as_float_tree, require_scalar
from jachess.optimize._bfgs import bfgs_solve
from jachess.optimize._lbfgs import lbfgs_solve
from jachess.optimize._newton import newton_solve
from jachess.optimize._result import OptimizeResult, finish, pack
from jachess.optimize._trust_exact import trust_exact_solve
from jachess.optimize._trust_ncg import trust_ncg_solve

Method = Literal["newton", "trust-ncg", "trust-exact", "bfgs", "lbfgs"]

_SOLVERS = {
    "newton": newton_solve,
    "trust-ncg": trust_ncg_solve,
    "trust-exact": trust_exact_solve,
    "bfgs": bfgs_solve,
    "lbfgs": lbfgs_solve,
}

DEFAULT_MAX_ITERATIONS = {
    "newton": 500,
    "trust-ncg": 2000,
    "trust-exact": 1000,
    "bfgs": 5000,
    "lbfgs": 10000,
}

_HINT = "minimize needs a scalar objective; for residual vectors use least_squares."


def check_tolerance(tol: Any) -> float:
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol > 0:
        raise OptionError(f"tol must be a positive number, but got {tol!r}.")
    return float(tol)


def check_iterations(max_iterations: Any, default: int) -> int:
    if max_iterations is None:
        return default
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, int) or (
        max_iterations < 0
    ):
        raise OptionError(
            f"max_iterations must be a non-negative integer or None, but got {max_iterations!r}."
        )
    return max_iterations


def _minimize_impl(f, x0, tol, max_iterations, *, method):
    x_flat, unravel = ravel_pytree(x0)

    def fun(z):
        return require_scalar(f(unravel(z)), "jachess.optimize.minimize", _HINT)

    raw = _SOLVERS[method](fun, x_flat, tol, max_iterations)
    return pack(raw, unravel(raw["x"]))


_minimize_jit = jit_with_static_function(_minimize_impl, ("method",))


def minimize(
    f: Callable,
    x0: Any,
    *,
    method: Method = "newton",
    tol: float = 1e-9,
    max_iterations: int | None = None,
    throw: bool = False,
) -> OptimizeResult:
    """Minimise a scalar function f from x0; the whole solve is one jitted while_loop.

    Methods (cost per iteration):
        "newton": exact dense Hessian (n HVPs + O(n³)), eigenvalue-modified, strong-Wolfe
            line search; quadratic convergence, escapes saddles. Small n.
        "trust-ncg": Steihaug-Toint CG on HVPs; memory O(n), millions of variables
            (for n <= 100 the region is scaled by √|diag ∇²f|, n more HVPs per step).
        "trust-exact": Moré-Sorensen exact trust region on the dense Hessian. Small n.
        "bfgs": dense inverse-Hessian update, O(n²); strong-Wolfe line search.
        "lbfgs": 10 (s, y) pairs, O(n); strong-Wolfe line search; large n.

    Stopping test: ‖∇f(x)‖∞ <= tol·max(1, |f(x)|). Failure to converge is reported in
    .status / .message (not raised) unless throw=True.

    Args:
        f: scalar function of x (array or pytree).
        x0: starting point; .x has its structure.
        method: one of the methods above.
        tol: gradient tolerance (positive).
        max_iterations: iteration limit; None takes the method's default
            (newton 500, trust-exact 1000, trust-ncg 2000, bfgs 5000, lbfgs 10000).
        throw: raise ConvergenceError instead of returning an unsuccessful result.

    Returns:
        OptimizeResult with .x, .fun (= f(x)), .success, .status, .message,
        .num_iterations, .num_fun, .num_grad, .num_hess, .num_hvp.

    Example:
        >>> rosen = lambda x: (1 - x[0])**2 + 100 * (x[1] - x[0]**2)**2
        >>> jachess.optimize.minimize(rosen, jnp.array([-1.2, 1.0])).x
        Array([1., 1.], dtype=float64)
    """
    check_choice("method", method, Method)
    tol = check_tolerance(tol)
    max_iterations = check_iterations(max_iterations, DEFAULT_MAX_ITERATIONS[method])
    x0 = as_float_tree(x0, "x0")
    raw = _minimize_jit(f, x0, tol, max_iterations, method=method)
    return finish(raw, method, throw)
