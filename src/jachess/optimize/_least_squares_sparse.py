"""Levenberg-Marquardt for large sparse least squares: sparse Jacobian + LSMR steps.

The Jacobian comes from the sparsity layer (pattern detected or given, coloured once;
each evaluation one compressed vmapped pass); only its values are refreshed. Each
step solves the damped problem min ‖J D⁻¹ z + r‖² + μ‖z‖², p = D⁻¹ z, with LSMR
(matrix-free, scipy) — Moré's column scaling D_j = max over iterations of ‖J[:, j]‖;
μ follows Nielsen's rule (μ ← μ·max(1/3, 1 - (2ρ - 1)³) after a good step, μ ← μ·ν,
ν ← 2ν after a rejected one). Stopping tests as for the dense "lm": ‖Jᵀr‖∞ <=
tol·max(1, ½‖r‖²), or actual and predicted relative reductions both <= tol. Host loop.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from jachess.optimize._result import Status
from jachess.optimize._root_sparse import _CsrRefresher, prepare


def sparse_lm(fun, x0, tol, max_iterations, pattern, key):
    """Host-loop Levenberg-Marquardt with a sparse Jacobian; returns the raw result dict."""
    import jax.numpy as jnp

    F_jit, prepared = prepare(key, fun, x0, pattern)
    eps = np.finfo(np.asarray(x0).dtype).eps
    x = np.asarray(x0)
    r = np.asarray(F_jit(x))
    counts = {"fun": 1, "grad": 0, "hess": 0, "hvp": 0, "jac": 1}
    bcoo = prepared(jnp.asarray(x))
    to_csr = _CsrRefresher(bcoo)
    J = to_csr(bcoo)
    d = np.sqrt(np.asarray(J.multiply(J).sum(axis=0))).ravel()
    d = np.where(d > 0, d, 1.0)
    cost = 0.5 * float(r @ r)
    g = J.T @ r
    mu = 1e-3 * float(np.max(J.multiply(J).sum(axis=0) / d**2))
    mu = mu if mu > 0 else 1e-3
    nu = 2.0
    status = Status.MAX_ITERATIONS
    k = 0
    if not np.all(np.isfinite(r)):
        status = Status.NONFINITE
    elif np.max(np.abs(g), initial=0.0) <= tol * max(1.0, cost) or cost == 0:
        status = Status.CONVERGED
    while status == Status.MAX_ITERATIONS and k < max_iterations:
        k += 1
        scaled = J @ sp.diags(1.0 / d)
        z = spla.lsmr(scaled, -r, damp=np.sqrt(mu), atol=1e-12, btol=1e-12,
                      maxiter=10 * x.size)[0]
        p = z / d
        jp = J @ p
        predicted = -(float(g @ p) + 0.5 * float(jp @ jp))
        r_try = np.asarray(F_jit(x + p))
        counts["fun"] += 1
        cost_try = 0.5 * float(r_try @ r_try) if np.all(np.isfinite(r_try)) else np.inf
        actual = cost - cost_try
        rho = actual / predicted if predicted > 0 else -1.0
        if rho > 1e-4:
            x, r, cost_old, cost = x + p, r_try, cost, cost_try
            bcoo = prepared(jnp.asarray(x))
            counts["jac"] += 1
            J = to_csr(bcoo)
            d = np.maximum(d, np.sqrt(np.asarray(J.multiply(J).sum(axis=0))).ravel())
            g = J.T @ r
            mu *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
            nu = 2.0
            small = abs(actual) <= tol * cost_old and predicted <= tol * cost_old and rho <= 2
            if np.max(np.abs(g), initial=0.0) <= tol * max(1.0, cost) or small or cost == 0:
                status = Status.CONVERGED
        else:
            mu *= nu
            nu *= 2.0
            if np.max(np.abs(p)) <= 100 * eps * max(np.max(np.abs(x)), 1e-300):
                status = Status.STALLED
    return dict(
        x=jnp.asarray(x), fun=jnp.asarray(r), cost=jnp.asarray(cost),
        gradient_norm=jnp.asarray(float(np.max(np.abs(g), initial=0.0))),
        iterations=jnp.asarray(k), counts={k_: jnp.asarray(v) for k_, v in counts.items()},
        status=jnp.asarray(int(status)),
    )
