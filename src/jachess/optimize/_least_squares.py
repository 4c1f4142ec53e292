"""Nonlinear least squares min ½‖r(x)‖²: Levenberg-Marquardt and Gauss-Newton.

"lm" (Moré 1978, the MINPACK algorithm): a trust region ‖D p‖ <= Δ on the
Gauss-Newton model ½‖r + J p‖², with D_j = max over iterations of ‖J[:, j]‖
(Moré's scaling, invariant to rescaling the variables). The subproblem is solved
exactly through the SVD J D⁻¹ = U S Vᵀ (no normal equations, so no squared
condition number): p = -D⁻¹ V diag(s/(s² + σ)) Uᵀ r with σ from the secular
equation. The first radius is Δ0 = ‖D x0‖ (MINPACK's factor = 1). Per accepted step:
one Jacobian (min(m, n) JVPs/VJPs) and an O(m n²) SVD; every trial: one residual
evaluation.

"gauss-newton": p = -J⁺ r (SVD least squares, rank-revealing) with a backtracking
Armijo search on ½‖r‖².

Stopping tests (tol): ‖Jᵀr‖∞ <= tol·max(1, ½‖r‖²); or (lm) the actual and predicted
relative reductions of ‖r‖² in a step both at most max(tol, 100ε) (MINPACK's ftol
test). The reduction left is quadratic in the error of x, so x is good to about
sqrt(tol) relative to its conditioning: tol=1e-12 gives every NIST StRD problem 5 or
more certified digits (tests/test_nist_strd.py), the default 1e-10 at least 4.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree

from jachess._derivatives._jit import jit_with_static_function
from jachess._errors import InputDtypeError
from jachess._options import check_choice
from jachess._trees import as_float_tree, describe
from jachess.optimize._descent import RUNNING, add_counts
from jachess.optimize._result import OptimizeResult, Status, counts, finish, pack
from jachess.optimize._trust_region import eigen_subproblem


def _jacobian_fn(residual, m, n):
    return jax.jacfwd(residual) if n <= m else jax.jacrev(residual)


def _cost(r):
    return 0.5 * jnp.vdot(r, r)


def _start(residual, jac, x0, tol, max_iterations):
    r0 = residual(x0)
    j0 = jac(x0)
    g0 = j0.T @ r0
    cost0 = _cost(r0)
    finite = jnp.all(jnp.isfinite(r0)) & jnp.all(jnp.isfinite(j0))
    status = jnp.where(_gradient_small(g0, cost0, tol), Status.CONVERGED, RUNNING)
    status = jnp.where(finite, status, Status.NONFINITE)
    status = jnp.where((status == RUNNING) & (max_iterations <= 0), Status.MAX_ITERATIONS, status)
    return r0, j0, g0, cost0, status.astype(jnp.int32)


def _gradient_small(g, cost, tol):
    return jnp.max(jnp.abs(g), initial=0.0) <= tol * jnp.maximum(1.0, cost)


def _raw(s):
    return dict(
        x=s["x"],
        fun=s["r"],
        cost=_cost(s["r"]),
        gradient_norm=jnp.max(jnp.abs(s["j"].T @ s["r"]), initial=0.0),
        iterations=s["k"],
        counts=s["counts"],
        status=s["status"],
    )


def _scaled_model(j, r, d):
    """Eigen-data of the scaled Gauss-Newton model: (λ = s², c = s·Uᵀr, V)."""
    m, n = j.shape
    jd = j / d
    if m >= n:
        u, sv, vt = jnp.linalg.svd(jd, full_matrices=False)
    else:
        u, sv, vt = jnp.linalg.svd(jd, full_matrices=True)
        u = u[:, :m]
    c = sv * (u.T @ r)
    if m < n:
        sv = jnp.concatenate([sv, jnp.zeros(n - m, sv.dtype)])
        c = jnp.concatenate([c, jnp.zeros(n - m, c.dtype)])
    lam = sv * sv
    order = jnp.argsort(lam)
    return lam[order], c[order], vt[order].T


def lm_solve(residual, x0, tol, max_iterations):
    m = jax.eval_shape(residual, x0).shape[0]
    n = x0.shape[0]
    jac = _jacobian_fn(residual, m, n)
    eps = jnp.finfo(x0.dtype).eps
    r0, j0, _, _, status0 = _start(residual, jac, x0, tol, max_iterations)
    col = jnp.linalg.norm(j0, axis=0)
    d0 = jnp.where(col > 0, col, 1.0)
    # Δ0 = ‖D x0‖ (MINPACK's factor = 1, scipy trf's choice). MINPACK's default factor
    # 100 lets the first step leap onto a plateau where the model saturates and the
    # gradient underflows (NIST BoxBOD from Start 1: b2 = 1 -> 111, exp(-b2 x) ≈ 0).
    dx = jnp.linalg.norm(d0 * x0)
    delta0 = jnp.where(dx > 0, dx, 1.0)
    state = dict(
        x=x0, r=r0, j=j0, d=d0, delta=delta0, k=jnp.asarray(0, jnp.int32),
        counts=counts(fun=1, jac=1), status=status0,
    )

    def body(s):
        x, r, j, d, delta = s["x"], s["r"], s["j"], s["d"], s["delta"]
        cost = _cost(r)
        lam, c, v = _scaled_model(j, r, d)
        z, predicted = eigen_subproblem(lam, c, delta)
        dp = v @ z
        p = dp / d
        dp_norm = jnp.linalg.norm(dp)
        x1 = x + p
        r1 = residual(x1)
        cost1 = _cost(r1)
        finite = jnp.all(jnp.isfinite(r1)) & jnp.all(jnp.isfinite(p))
        cost1 = jnp.where(finite, cost1, jnp.inf)
        actual = cost - cost1
        rho = jnp.where(predicted > 0, actual / jnp.where(predicted > 0, predicted, 1.0), 0.0)
        interior = dp_norm < 0.99 * delta
        # MINPACK's radius update.
        delta1 = jnp.where(rho < 0.25, 0.5 * jnp.minimum(delta, 10.0 * dp_norm), delta)
        delta1 = jnp.where((rho >= 0.75) | ((rho >= 0.25) & interior), 2.0 * dp_norm, delta1)
        delta1 = jnp.where(finite, delta1, 0.25 * delta)
        accept = finite & (rho > 1e-4)
        x = jnp.where(accept, x1, x)
        r = jnp.where(accept, r1, r)
        j = lax.cond(accept, jac, lambda _: j, x1)
        d = jnp.maximum(d, jnp.linalg.norm(j, axis=0))
        k = s["k"] + 1
        g = j.T @ r
        cost_now = _cost(r)
        # MINPACK's ftol test: actual and predicted relative reductions both <= tol.
        ftol = jnp.maximum(tol, 100 * eps)
        small_reduction = (
            (jnp.abs(actual) <= ftol * cost) & (predicted <= ftol * cost) & (rho <= 2)
        )
        status = jnp.where(k >= max_iterations, Status.MAX_ITERATIONS, RUNNING)
        status = jnp.where(
            delta1 <= 100 * eps * jnp.maximum(jnp.linalg.norm(d * x), 1e-300), Status.STALLED,
            status,
        )
        status = jnp.where(
            _gradient_small(g, cost_now, tol) | small_reduction | (cost_now == 0),
            Status.CONVERGED, status,
        )
        c_new = add_counts(s["counts"], {"fun": 1, "jac": accept.astype(jnp.int32)})
        return dict(x=x, r=r, j=j, d=d, delta=delta1, k=k, counts=c_new,
                    status=status.astype(jnp.int32))

    s = lax.while_loop(lambda s: s["status"] == RUNNING, body, state)
    return _raw(s)


def gauss_newton_solve(residual, x0, tol, max_iterations, max_backtracks=30):
    m = jax.eval_shape(residual, x0).shape[0]
    n = x0.shape[0]
    jac = _jacobian_fn(residual, m, n)
    eps = jnp.finfo(x0.dtype).eps
    r0, j0, _, _, status0 = _start(residual, jac, x0, tol, max_iterations)
    state = dict(x=x0, r=r0, j=j0, k=jnp.asarray(0, jnp.int32),
                 counts=counts(fun=1, jac=1), status=status0)

    def body(s):
        x, r, j = s["x"], s["r"], s["j"]
        cost = _cost(r)
        p = -jnp.linalg.lstsq(j, r)[0]
        g = j.T @ r
        slope = jnp.vdot(g, p)

        def cond(b):
            return (b[2] > cost + 1e-4 * b[0] * slope) & (b[1] < max_backtracks)

        def shrink(b):
            alpha = 0.5 * b[0]
            r_try = residual(x + alpha * p)
            c_try = _cost(r_try)
            return alpha, b[1] + 1, jnp.where(jnp.isfinite(c_try), c_try, jnp.inf), r_try

        r_full = residual(x + p)
        c_full = _cost(r_full)
        alpha, tries, c_new, r_new = lax.while_loop(
            cond, shrink, (jnp.ones((), x.dtype), jnp.asarray(1, jnp.int32),
                           jnp.where(jnp.isfinite(c_full), c_full, jnp.inf), r_full),
        )
        ok = (c_new <= cost + 1e-4 * alpha * slope) & (slope < 0)
        x = jnp.where(ok, x + alpha * p, x)
        r = jnp.where(ok, r_new, r)
        j = lax.cond(ok, jac, lambda _: j, x)
        k = s["k"] + 1
        cost_now = _cost(r)
        # The step promises a decrease below cost's rounding level: nothing left to gain.
        flat = -slope <= 100 * eps * jnp.maximum(cost, 1e-300)
        status = jnp.where(k >= max_iterations, Status.MAX_ITERATIONS, RUNNING)
        status = jnp.where(ok, status, Status.LINE_SEARCH_FAILED)
        status = jnp.where(
            _gradient_small(j.T @ r, cost_now, tol) | flat | (cost_now == 0),
            Status.CONVERGED, status,
        )
        c_new = add_counts(s["counts"], {"fun": tries, "jac": ok.astype(jnp.int32)})
        return dict(x=x, r=r, j=j, k=k, counts=c_new, status=status.astype(jnp.int32))

    s = lax.while_loop(lambda s: s["status"] == RUNNING, body, state)
    return _raw(s)



LeastSquaresMethod = Literal["lm", "gauss-newton"]
_SOLVERS = {"lm": lm_solve, "gauss-newton": gauss_newton_solve}


def flat_residual(residual, unravel, what):
    """The residual as a flat vector function of a flat x (checks a floating output)."""

    def fun(z):
        out = residual(unravel(z))
        leaves = jax.tree_util.tree_leaves(out)
        if not leaves or not all(jnp.issubdtype(jnp.result_type(a), jnp.floating) for a in leaves):
            raise InputDtypeError(
                f"{what} requires the function to return floating arrays, but it returned "
                f"{describe(out)}."
            )
        return ravel_pytree(out)[0]

    return fun


def _least_squares_impl(residual, x0, tol, max_iterations, *, method):
    x_flat, unravel = ravel_pytree(x0)
    fun = flat_residual(residual, unravel, "jachess.optimize.least_squares")
    raw = _SOLVERS[method](fun, x_flat, tol, max_iterations)
    return pack(raw, unravel(raw["x"]))


_least_squares_jit = jit_with_static_function(_least_squares_impl, ("method",))


def least_squares(
    residual: Callable,
    x0: Any,
    *,
    method: LeastSquaresMethod = "lm",
    sparsity: Any = None,
    tol: float = 1e-10,
    max_iterations: int | None = None,
    throw: bool = False,
) -> OptimizeResult:
    """Minimise ½‖r(x)‖² over x; the whole solve is one jitted while_loop.

    Methods: "lm" (Levenberg-Marquardt with Moré's scaling, exact trust-region
    subproblem through an SVD; robust, the default) and "gauss-newton" (SVD least-squares
    step with a backtracking line search; fast on small-residual problems). Cost per
    iteration: one Jacobian (min(m, n) JVP/VJP passes) and an O(m n²) SVD.

    Args:
        residual: function of x (array or pytree) returning the residuals (array or pytree).
        x0: starting point; .x has its structure.
        method: "lm" | "gauss-newton".
        sparsity: None (dense Jacobian, one jitted while_loop), "auto" (detect the
            Jacobian's pattern) or a boolean (m, n) pattern: sparse Jacobian from the
            sparsity layer and LSMR steps (Levenberg-Marquardt with Nielsen's damping
            rule) in a host loop, for large sparse problems. Only with method="lm".
        tol: stopping tolerance: ‖Jᵀr‖∞ <= tol·max(1, ½‖r‖²), or ("lm") a step whose
            actual and predicted relative reductions of ‖r‖² are both at most
            max(tol, 100ε); x then carries about sqrt(tol) relative accuracy.
        max_iterations: iteration limit (None: 1000).
        throw: raise ConvergenceError instead of returning an unsuccessful result.

    Returns:
        OptimizeResult: .x, .fun (the flat residual vector r(x)), .cost (½‖r‖²),
        .success, .status, .message, .num_iterations, .num_fun, .num_jac.

    Example:
        >>> r = lambda x: jnp.array([10 * (x[1] - x[0]**2), 1 - x[0]])
        >>> jachess.optimize.least_squares(r, jnp.array([-1.2, 1.0])).x
        Array([1., 1.], dtype=float64)
    """
    from jachess.optimize._minimize import check_iterations, check_tolerance

    check_choice("method", method, LeastSquaresMethod)
    tol = check_tolerance(tol)
    max_iterations = check_iterations(max_iterations, 1000)
    x0 = as_float_tree(x0, "x0")
    if sparsity is not None:
        return _sparse_least_squares(residual, x0, method, sparsity, tol, max_iterations, throw)
    raw = _least_squares_jit(
        residual, x0, tol, max_iterations, method=method
    )
    return finish(raw, method, throw)


def _sparse_least_squares(residual, x0, method, sparsity, tol, max_iterations, throw):
    from jachess._errors import OptionError
    from jachess.optimize._least_squares_sparse import sparse_lm

    if method != "lm":
        raise OptionError(
            f"sparsity={sparsity!r} needs method='lm' (sparse Jacobian, LSMR steps), but got "
            f"method={method!r}."
        )
    x_flat, unravel = ravel_pytree(x0)
    fun = flat_residual(residual, unravel, "jachess.optimize.least_squares")
    pattern = None if isinstance(sparsity, str) and sparsity == "auto" else sparsity
    signature = (jax.tree_util.tree_structure(x0), x_flat.shape, str(x_flat.dtype))
    try:
        key = (residual, signature, "auto" if pattern is None else id(pattern))
        hash(key)
    except TypeError:
        key = (object(), signature)
    raw = sparse_lm(fun, x_flat, tol, max_iterations, pattern, key)
    return finish(pack(raw, unravel(raw["x"])), method, throw)
