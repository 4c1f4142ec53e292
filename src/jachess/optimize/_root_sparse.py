"""Newton's method for large sparse systems F(x) = 0: sparse Jacobian + sparse linear solve.

The Jacobian comes from the sparsity layer (pattern detected or given, coloured once,
each evaluation one compressed vmapped pass); its CSR structure is built once and
only the values are refreshed. The Newton equation J p = -F is solved on the host:

* with pyamg installed (the optional extra ``jachess[amg]``) and n >= 5000:
  conjugate gradients (symmetric J) or GMRES preconditioned by a Ruge-Stüben
  algebraic multigrid hierarchy, built on the first Jacobian and rebuilt only when
  the Krylov solve needs more than 40 iterations or fails; the solve is inexact, to
  relative residual min(10⁻², ‖F‖) (superlinear Newton);
* otherwise: SuperLU (scipy) with the MMD_AT_PLUS_A ordering, which suits the
  symmetric patterns of PDE stencils far better than the default COLAMD.

The line search and stopping tests are those of the dense "newton" (backtracking on
½‖F‖², ‖F‖∞ <= tol). This path is a host loop: each iteration is one jitted F, one
jitted compressed Jacobian and one sparse solve.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from jachess.optimize._result import Status

AMG_MIN_SIZE = 5000


def _pyamg():
    try:
        import pyamg
    except ImportError:
        return None
    return pyamg


class _CsrRefresher:
    """Turns the prepared Jacobian's BCOO into a CSR matrix, reusing one structure."""

    def __init__(self, bcoo):
        indices = np.asarray(bcoo.indices)
        nnz = indices.shape[0]
        order = sp.csr_array(
            (np.arange(1, nnz + 1, dtype=float), (indices[:, 0], indices[:, 1])), shape=bcoo.shape
        )
        order.sum_duplicates()
        self.permutation = order.data.astype(np.int64) - 1
        self.structure = order
        self.exact = order.nnz == nnz

    def __call__(self, bcoo):
        data = np.asarray(bcoo.data)
        if not self.exact:  # duplicate entries: let scipy add them up
            indices = np.asarray(bcoo.indices)
            return sp.csr_array((data, (indices[:, 0], indices[:, 1])), shape=bcoo.shape)
        matrix = self.structure.copy()
        matrix.data = data[self.permutation]
        return matrix


class _LinearSolver:
    def __init__(self, n):
        self.pyamg = _pyamg() if n >= AMG_MIN_SIZE else None
        self.hierarchy = None
        self.kind = "amg-gmres" if self.pyamg is not None else "superlu"

    def solve(self, matrix, rhs, forcing):
        if self.pyamg is None:
            return spla.splu(sp.csc_matrix(matrix), permc_spec="MMD_AT_PLUS_A").solve(rhs)
        if self.hierarchy is None:
            self.hierarchy = self.pyamg.ruge_stuben_solver(sp.csr_matrix(matrix))
        preconditioner = self.hierarchy.aspreconditioner()
        iterations = [0]

        def count(_):
            iterations[0] += 1

        scale = float(abs(matrix).max()) or 1.0
        symmetric = float(abs(matrix - matrix.T).max()) <= 1e-12 * scale
        if symmetric:  # CG: half of GMRES's work per iteration, no restarts
            p, info = spla.cg(matrix, rhs, M=preconditioner, rtol=forcing, atol=0.0,
                              maxiter=200, callback=count)
        else:
            p, info = spla.gmres(matrix, rhs, M=preconditioner, rtol=forcing, atol=0.0,
                                 restart=50, maxiter=4, callback=count, callback_type="pr_norm")
        if info != 0 or iterations[0] > 40:
            self.hierarchy = None  # the Jacobian drifted from the hierarchy: rebuild next time
        if info != 0:
            return spla.splu(sp.csc_matrix(matrix), permc_spec="MMD_AT_PLUS_A").solve(rhs)
        return p


_PREPARED: dict = {}
_MAX_CACHED = 16


def prepare(key, fun, x0, pattern):
    """Compiled F and prepared sparse Jacobian, cached per (user function, shapes, pattern)."""
    from jachess.sparsity import prepare_jacobian

    if key in _PREPARED:
        return _PREPARED[key]
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        prepared = prepare_jacobian(fun, x0, pattern=pattern)
    if len(_PREPARED) >= _MAX_CACHED:
        _PREPARED.pop(next(iter(_PREPARED)))
    _PREPARED[key] = (jax.jit(fun), prepared)
    return _PREPARED[key]


def sparse_newton(fun, x0, tol, max_iterations, pattern, key):
    """Host-loop Newton with a sparse Jacobian; returns the raw result dict."""
    F_jit, prepared = prepare(key, fun, x0, pattern)
    eps = np.finfo(np.asarray(x0).dtype).eps
    x = np.asarray(x0)
    F = np.asarray(F_jit(x))
    counts = {"fun": 1, "grad": 0, "hess": 0, "hvp": 0, "jac": 0}
    solver = _LinearSolver(x.size)
    to_csr = None
    status = Status.MAX_ITERATIONS
    k = 0
    while True:
        if not np.all(np.isfinite(F)):
            status = Status.NONFINITE
            break
        if np.max(np.abs(F), initial=0.0) <= tol:
            status = Status.CONVERGED
            break
        if k >= max_iterations:
            break
        bcoo = prepared(jnp.asarray(x))
        counts["jac"] += 1
        to_csr = to_csr or _CsrRefresher(bcoo)
        J = to_csr(bcoo)
        phi = 0.5 * float(F @ F)
        p = solver.solve(J, -F, min(1e-2, float(np.linalg.norm(F))))
        slope = float((J.T @ F) @ p)
        if not np.all(np.isfinite(p)) or not slope < 0:
            status = Status.LINE_SEARCH_FAILED
            break
        alpha, accepted = 1.0, False
        for _ in range(40):
            F_try = np.asarray(F_jit(x + alpha * p))
            counts["fun"] += 1
            phi_try = 0.5 * float(F_try @ F_try)
            if np.isfinite(phi_try) and phi_try <= phi + 1e-4 * alpha * slope:
                accepted = True
                break
            quad = -slope * alpha**2 / (2.0 * (phi_try - phi - slope * alpha))
            alpha = float(np.clip(quad if np.isfinite(quad) else 0.1 * alpha,
                                  0.1 * alpha, 0.5 * alpha))
        k += 1
        if not accepted:
            status = Status.LINE_SEARCH_FAILED
            break
        step = alpha * p
        x = x + step
        F = F_try
        if np.max(np.abs(step)) <= 100 * eps * max(np.max(np.abs(x)), 1e-300):
            status = Status.CONVERGED
            break
    gradient = J.T @ F if to_csr is not None else np.zeros_like(x)
    return dict(
        x=jnp.asarray(x), fun=jnp.asarray(F), cost=jnp.asarray(0.5 * float(F @ F)),
        gradient_norm=jnp.asarray(float(np.max(np.abs(gradient), initial=0.0))),
        iterations=jnp.asarray(k), counts={k_: jnp.asarray(v) for k_, v in counts.items()},
        status=jnp.asarray(int(status)), linear_solver=solver.kind,
    )
