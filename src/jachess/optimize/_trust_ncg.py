"""Trust-region Newton-CG (Steihaug-Toint): Hessian-vector products only.

The region is ‖Dp‖ <= Δ with D = √|diag ∇²f| for n <= 100 (CG then runs on the
Jacobi-scaled system D⁻¹BD⁻¹; badly scaled problems such as Meyer's, whose Hessian
has condition number 1e16, otherwise stall with CG stopping after one step), and
D = I above.

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

# Up to this size the region is scaled by the Hessian's diagonal (n HVPs per accepted
# step, about what CG spends there anyway); above it the region stays Euclidean, so
# the cost per iteration stays a few HVPs for millions of variables.
SCALED_MAX_SIZE = 100


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
    scaled = n <= SCALED_MAX_SIZE

    def build_model(x):
        """The scaling D = √|diag ∇²f(x)| (floored), from n HVPs; D = 1 above SCALED_MAX_SIZE."""
        if not scaled:
            return jnp.ones_like(x), {}
        _, hvp = jax.linearize(grad, x)
        diag = jnp.abs(jnp.diagonal(jax.vmap(hvp)(jnp.eye(n, dtype=x.dtype))))
        floor = jnp.maximum(1e-10 * jnp.max(diag, initial=0.0), jnp.finfo(x.dtype).tiny)
        d = jnp.sqrt(jnp.maximum(diag, floor))
        d = jnp.where(jnp.all(jnp.isfinite(d)) & jnp.any(diag > 0), d, 1.0)
        return d, {"hvp": n}

    def subproblem(x, g, d, delta):
        _, hvp = jax.linearize(grad, x)
        p_hat, predicted, j = steihaug(lambda v: hvp(v / d) / d, g / d, delta, max(n, 1) + 1)
        return p_hat / d, predicted, {"hvp": j}

    return trust_region(
        value_and_grad, x0, tol, max_iterations, build_model, subproblem, False,
        norm=lambda d, v: jnp.linalg.norm(d * v),
    )
