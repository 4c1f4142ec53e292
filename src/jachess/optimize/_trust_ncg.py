"""Trust-region Newton-CG (Steihaug-Toint): Hessian-vector products only.

The subproblem is solved by conjugate gradients on Bp = -g from p = 0, stopped at
the boundary, on negative curvature (then followed to the boundary), or when
‖r‖ <= min(½, √‖g‖)·‖g‖ (superlinear convergence). Cost per CG iteration: one HVP
(forward-over-reverse, ≈ 2-4 gradients) and O(n) vector work, so it scales to
millions of variables; memory O(n).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jachess.optimize._trust_region import trust_region


def _to_boundary(z, d, delta):
    """τ >= 0 with ‖z + τ d‖ = Δ."""
    a = jnp.vdot(d, d)
    b = 2.0 * jnp.vdot(z, d)
    c = jnp.vdot(z, z) - delta**2
    disc = jnp.sqrt(jnp.maximum(b * b - 4 * a * c, 0.0))
    return (-b + disc) / (2.0 * jnp.where(a > 0, a, 1.0))


def steihaug(hvp, g, delta, max_cg):
    """CG-Steihaug; returns (p, predicted reduction, number of HVPs)."""
    g_norm = jnp.linalg.norm(g)
    eps_cg = jnp.minimum(0.5, jnp.sqrt(g_norm)) * g_norm
    zero = jnp.zeros_like(g)
    state = dict(z=zero, r=g, d=-g, j=jnp.asarray(0, jnp.int32), done=g_norm <= eps_cg,
                 p=zero, rp=g)

    def body(s):
        z, r, d = s["z"], s["r"], s["d"]
        bd = hvp(d)
        dbd = jnp.vdot(d, bd)
        rr = jnp.vdot(r, r)
        alpha = rr / jnp.where(dbd > 0, dbd, 1.0)
        z_new = z + alpha * d
        leave = (dbd <= 0) | (jnp.linalg.norm(z_new) >= delta)
        tau = _to_boundary(z, d, delta)
        r_new = r + alpha * bd
        small = jnp.linalg.norm(r_new) <= eps_cg
        p = jnp.where(leave, z + tau * d, z_new)
        rp = jnp.where(leave, r + tau * bd, r_new)
        beta = jnp.vdot(r_new, r_new) / jnp.where(rr > 0, rr, 1.0)
        j = s["j"] + 1
        return dict(z=z_new, r=r_new, d=-r_new + beta * d, j=j,
                    done=leave | small | (j >= max_cg), p=p, rp=rp)

    s = lax.while_loop(lambda s: ~s["done"], body, state)
    # m(p) = gᵀp + ½pᵀBp = ½gᵀp + ½pᵀr with r = g + Bp maintained by CG.
    p, rp = s["p"], s["rp"]
    predicted = -0.5 * (jnp.vdot(g, p) + jnp.vdot(p, rp))
    return p, predicted, s["j"]


def trust_ncg_solve(fun, x0, tol, max_iterations):
    value_and_grad = jax.value_and_grad(fun)
    grad = jax.grad(fun)
    n = x0.shape[0]

    def build_model(x):
        return (), {}

    def subproblem(x, g, model, delta):
        _, hvp = jax.linearize(grad, x)
        p, predicted, j = steihaug(hvp, g, delta, max(n, 1) + 1)
        return p, predicted, {"hvp": j}

    return trust_region(value_and_grad, x0, tol, max_iterations, build_model, subproblem, False)
