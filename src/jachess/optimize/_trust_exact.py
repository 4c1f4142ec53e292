"""Exact trust-region Newton (Moré-Sorensen) on the dense Hessian, for small n.

Each accepted step builds H (n HVPs) and its eigendecomposition H = Q Λ Qᵀ (O(n³));
every trial radius then costs O(n²): the subproblem is solved exactly in the
eigenbasis, including the hard case, so negative curvature is always exploited.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jachess.optimize._trust_region import eigen_subproblem, trust_region


def trust_exact_solve(fun, x0, tol, max_iterations):
    value_and_grad = jax.value_and_grad(fun)
    hessian = jax.jacfwd(jax.grad(fun))

    def build_model(x):
        h = hessian(x)
        lam, q = jnp.linalg.eigh(0.5 * (h + h.T))
        return (lam, q), {"hess": 1}

    def subproblem(x, g, model, delta):
        lam, q = model
        z, predicted = eigen_subproblem(lam, q.T @ g, delta)
        return q @ z, predicted, {}

    return trust_region(value_and_grad, x0, tol, max_iterations, build_model, subproblem, True)
