"""Root finding F(x) = 0 for square systems: Newton-Raphson and Newton-Krylov.

"newton": the Newton step J p = -F (dense LU) with a nonmonotone backtracking line
search on φ = ½‖F‖² (Grippo, Lampariello & Lucidi, SIAM J. Numer. Anal. 23, 1986):
sufficient decrease φ(x + αp) <= max(φ over the last 5 iterates) + 10⁻⁴ α ∇φᵀp,
quadratic interpolation between trials. Measuring decrease against the recent
maximum rather than the current φ lets full Newton steps cross the curved valleys
and shallow local minima of ‖F‖ where a monotone search creeps or stalls (MINPACK-1's
Wood and trigonometric systems from 10·x0, Chebyquad from 10·x0 and 100·x0:
benchmarks/root_systems.py). When J is singular or the Newton step fails its line
search, the next step is the Levenberg-Marquardt direction
p = -(JᵀJ + μI)⁻¹JᵀF, μ = ‖F‖ (Fan & Yuan), which is always a descent direction
for φ; convergence is quadratic near a regular root. Cost per iteration: one
Jacobian (n JVPs) and an O(n³) factorisation.

"newton-krylov": matrix-free; the Newton equation is solved inexactly by GMRES on
JVPs (relative residual η = min(½, ‖F‖), Eisenstat-Walker's choice 1 simplified),
then the same line search. Cost per iteration: one JVP per GMRES iteration;
memory O(n·restart).

Stopping test: ‖F(x)‖∞ <= tol, or a Newton step smaller than 100·eps·‖x‖∞ (x cannot
change at working precision).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree

from jachess._derivatives._jit import jit_with_static_function
from jachess._errors import NotSquareError
from jachess._options import check_choice
from jachess._trees import as_float_tree
from jachess.optimize._descent import RUNNING, add_counts
from jachess.optimize._least_squares import flat_residual
from jachess.optimize._result import OptimizeResult, Status, counts, finish, pack

RootMethod = Literal["newton", "newton-krylov"]

# How many recent values of ½‖F‖² the dense Newton's line search compares against
# (1 = monotone). 5 solved the most of MINPACK-1's 55 runs among 1, 3, 5 and 10.
NONMONOTONE_MEMORY = 5


def _phi(F):
    return 0.5 * jnp.vdot(F, F)


def backtrack(fun, x, p, phi0, slope, max_tries=40):
    """Armijo backtracking on φ = ½‖F‖² with safeguarded quadratic interpolation.

    phi0 is the reference value the sufficient-decrease test compares against (φ(x)
    for a monotone search, the recent maximum for a nonmonotone one).
    Returns (alpha, F_new, tries, ok).
    """

    def evaluate(alpha):
        F = fun(x + alpha * p)
        phi = _phi(F)
        return F, jnp.where(jnp.isfinite(phi), phi, jnp.inf)

    F1, phi1 = evaluate(jnp.ones((), x.dtype))

    def cond(b):
        alpha, tries, phi, _ = b
        return (phi > phi0 + 1e-4 * alpha * slope) & (tries < max_tries)

    def body(b):
        alpha, tries, phi, _ = b
        # Minimiser of the quadratic through φ(0), φ'(0) and φ(α), kept in [0.1α, 0.5α].
        quad = -slope * alpha**2 / (2.0 * (phi - phi0 - slope * alpha))
        quad = jnp.where(jnp.isfinite(quad), quad, 0.1 * alpha)
        alpha = jnp.clip(quad, 0.1 * alpha, 0.5 * alpha)
        F, phi = evaluate(alpha)
        return alpha, tries + 1, phi, F

    alpha, tries, phi, F = lax.while_loop(
        cond, body, (jnp.ones((), x.dtype), jnp.asarray(1, jnp.int32), phi1, F1)
    )
    ok = (phi <= phi0 + 1e-4 * alpha * slope) & (slope < 0)
    return alpha, F, tries, ok


def _newton_loop(fun, x0, tol, max_iterations, step, uses_jacobian, memory=1):
    """Shared loop. step(x, F, use_lm) -> (p, slope, counts); memory: see backtrack."""
    eps = jnp.finfo(x0.dtype).eps
    F0 = fun(x0)
    status0 = jnp.where(jnp.max(jnp.abs(F0), initial=0.0) <= tol, Status.CONVERGED, RUNNING)
    status0 = jnp.where(jnp.all(jnp.isfinite(F0)), status0, Status.NONFINITE)
    status0 = jnp.where((status0 == RUNNING) & (max_iterations <= 0), Status.MAX_ITERATIONS,
                        status0)
    state = dict(x=x0, F=F0, k=jnp.asarray(0, jnp.int32), counts=counts(fun=1),
                 status=status0.astype(jnp.int32), use_lm=jnp.asarray(False),
                 recent=jnp.full((memory,), _phi(F0)))

    def body(s):
        x, F = s["x"], s["F"]
        p, slope, c_step = step(x, F, s["use_lm"])
        finite_p = jnp.all(jnp.isfinite(p)) & jnp.isfinite(slope)
        p = jnp.where(finite_p, p, 0.0)
        slope = jnp.where(finite_p, slope, 0.0)
        alpha, F1, tries, ok = backtrack(fun, x, p, jnp.max(s["recent"]), slope)
        x1 = jnp.where(ok, x + alpha * p, x)
        F1 = jnp.where(ok, F1, F)
        recent = jnp.where(ok, jnp.roll(s["recent"], 1).at[0].set(_phi(F1)), s["recent"])
        k = s["k"] + 1
        tiny_step = ok & ~s["use_lm"] & (
            jnp.max(jnp.abs(p), initial=0.0)
            <= 100 * eps * jnp.maximum(jnp.max(jnp.abs(x), initial=0.0), 1e-300)
        )
        failed_lm = ~ok & s["use_lm"]
        status = jnp.where(k >= max_iterations, Status.MAX_ITERATIONS, RUNNING)
        if not uses_jacobian:
            status = jnp.where(~ok, Status.LINE_SEARCH_FAILED, status)
        status = jnp.where(failed_lm, Status.LINE_SEARCH_FAILED, status)
        status = jnp.where(
            (jnp.max(jnp.abs(F1), initial=0.0) <= tol) | tiny_step, Status.CONVERGED, status
        )
        status = jnp.where(jnp.all(jnp.isfinite(F1)), status, Status.NONFINITE)
        c = add_counts(add_counts(s["counts"], c_step), {"fun": tries})
        return dict(x=x1, F=F1, k=k, counts=c, status=status.astype(jnp.int32),
                    use_lm=~ok & ~s["use_lm"], recent=recent)

    s = lax.while_loop(lambda s: s["status"] == RUNNING, body, state)
    return s


def newton_root_solve(fun, x0, tol, max_iterations):
    n = x0.shape[0]
    jac = jax.jacfwd(fun)

    def step(x, F, use_lm):
        j = jac(x)
        g = j.T @ F
        p_newton = jnp.linalg.solve(j, -F)
        mu = jnp.linalg.norm(F)
        p_lm = jnp.linalg.solve(j.T @ j + mu * jnp.eye(n, dtype=x.dtype), -g)
        bad = ~jnp.all(jnp.isfinite(p_newton)) | ~(jnp.vdot(g, p_newton) < 0)
        p = jnp.where(use_lm | bad, p_lm, p_newton)
        return p, jnp.vdot(g, p), {"jac": 1}

    s = _newton_loop(fun, x0, tol, max_iterations, step, True, NONMONOTONE_MEMORY)
    j = jac(s["x"])
    return _raw_root(s, j.T @ s["F"], add_counts(s["counts"], {"jac": 1}))


def newton_krylov_solve(fun, x0, tol, max_iterations, restart=30, max_krylov=300):
    def step(x, F, use_lm):
        _, jvp = jax.linearize(fun, x)
        eta = jnp.minimum(0.5, jnp.linalg.norm(F))
        p, _ = jax.scipy.sparse.linalg.gmres(
            jvp, -F, tol=eta, atol=0.0, restart=restart, maxiter=max_krylov // restart,
            solve_method="batched",
        )
        # ∇φᵀp = Fᵀ J p, one more JVP.
        jp = jvp(p)
        return p, jnp.vdot(F, jp), {}

    s = _newton_loop(fun, x0, tol, max_iterations, step, False)
    _, vjp = jax.vjp(fun, s["x"])
    return _raw_root(s, vjp(s["F"])[0], s["counts"])


def _raw_root(s, g, c):
    return dict(
        x=s["x"], fun=s["F"], cost=_phi(s["F"]),
        gradient_norm=jnp.max(jnp.abs(g), initial=0.0),
        iterations=s["k"], counts=c, status=s["status"],
    )


_SOLVERS = {"newton": newton_root_solve, "newton-krylov": newton_krylov_solve}


def flat_square_system(F, x0):
    """(x_flat, unravel, flat F) for F(x) = 0, requiring as many equations as unknowns."""
    x_flat, unravel = ravel_pytree(x0)
    fun = flat_residual(F, unravel, "jachess.optimize.root")
    m = jax.eval_shape(fun, x_flat).shape[0]
    if m != x_flat.shape[0]:
        raise NotSquareError(
            f"root requires as many equations as unknowns, but F(x) has {m} entries and x "
            f"has {x_flat.shape[0]}. For over- or under-determined systems use "
            "jachess.optimize.least_squares."
        )
    return x_flat, unravel, fun


def _root_impl(F, x0, tol, max_iterations, *, method):
    x_flat, unravel, fun = flat_square_system(F, x0)
    raw = _SOLVERS[method](fun, x_flat, tol, max_iterations)
    return pack(raw, unravel(raw["x"]))


_root_jit = jit_with_static_function(_root_impl, ("method",))


def root(
    F: Callable,
    x0: Any,
    *,
    method: RootMethod = "newton",
    sparsity: Any = None,
    tol: float = 1e-10,
    max_iterations: int | None = None,
    throw: bool = False,
) -> OptimizeResult:
    """Solve F(x) = 0 (as many equations as unknowns); one jitted while_loop.

    Methods: "newton" (dense Jacobian, LU, nonmonotone line search on ½‖F‖²,
    Levenberg-Marquardt fallback when J is singular; small and medium n) and
    "newton-krylov" (JVPs and GMRES, matrix-free; large n).

    Args:
        F: function of x (array or pytree) returning as many residuals as x has entries.
        x0: starting point; .x has its structure.
        method: "newton" | "newton-krylov".
        sparsity: None (dense Jacobian, one jitted while_loop), "auto" (detect the
            Jacobian's pattern) or a boolean (n, n) pattern (dense or scipy.sparse): a
            sparse Jacobian and a sparse solve (with pyamg and n >= 5000: CG for a
            symmetric J, GMRES otherwise, preconditioned by one algebraic-multigrid
            hierarchy; else SuperLU) in a host loop; for large sparse systems (PDEs).
            Only with method="newton".
        tol: stop when ‖F(x)‖∞ <= tol.
        max_iterations: iteration limit (None: 100·(n+1) for the dense "newton", as
            MINPACK's hybrj budgets its evaluations, kept within [200, 1000]; 200 for
            the others).
        throw: raise ConvergenceError instead of returning an unsuccessful result.

    Returns:
        OptimizeResult: .x, .fun (F(x), flat), .cost (½‖F‖²), .success, .status,
        .message, .num_iterations, .num_fun, .num_jac.

    Example:
        >>> jachess.optimize.root(lambda x: x**3 - 8.0, jnp.array([1.0])).x
        Array([2.], dtype=float64)
    """
    from jachess.optimize._minimize import check_iterations, check_tolerance

    check_choice("method", method, RootMethod)
    tol = check_tolerance(tol)
    x0 = as_float_tree(x0, "x0")
    max_iterations = check_iterations(max_iterations, _default_iterations(x0, method, sparsity))
    if sparsity is not None:
        return _sparse_root(F, x0, method, sparsity, tol, max_iterations, throw)
    raw = _root_jit(F, x0, tol, max_iterations, method=method)
    return finish(raw, method, throw)


def _default_iterations(x0, method, sparsity):
    if method != "newton" or sparsity is not None:
        return 200
    n = sum(int(jnp.size(leaf)) for leaf in jax.tree_util.tree_leaves(x0))
    return min(max(100 * (n + 1), 200), 1000)


def _sparse_root(F, x0, method, sparsity, tol, max_iterations, throw):
    from jachess._errors import OptionError
    from jachess.optimize._root_sparse import sparse_newton

    if method != "newton":
        raise OptionError(
            f"sparsity={sparsity!r} needs method='newton' (a sparse Jacobian and a sparse "
            f"solve), but got method={method!r}; newton-krylov is matrix-free already."
        )
    x_flat, unravel, fun = flat_square_system(F, x0)
    pattern = None if isinstance(sparsity, str) and sparsity == "auto" else sparsity
    signature = (jax.tree_util.tree_structure(x0), x_flat.shape, str(x_flat.dtype))
    try:
        key = (F, signature, "auto" if pattern is None else id(pattern))
        hash(key)
    except TypeError:
        key = (object(), signature)
    raw = sparse_newton(fun, x_flat, tol, max_iterations, pattern, key)
    raw.pop("linear_solver")
    return finish(pack(raw, unravel(raw["x"])), method, throw)
