"""L-BFGS: the inverse Hessian from the last m pairs (s, y) by the two-loop recursion.

H₀ = γ I with γ = sᵀy / yᵀy of the newest pair (Nocedal & Wright Algorithm 7.4).
Cost per iteration: O(m n) plus the line search's value-and-gradient evaluations, so
it scales to millions of variables; memory m = 10 pairs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jachess.optimize._descent import descent, first_alpha

MEMORY = 10


def lbfgs_solve(fun, x0, tol, max_iterations, memory_size=MEMORY):
    value_and_grad = jax.value_and_grad(fun)
    n = x0.shape[0]
    m = memory_size
    zeros = jnp.zeros((m, n), x0.dtype)
    memory0 = (zeros, zeros, jnp.zeros((m,), x0.dtype), jnp.asarray(0, jnp.int32))

    def direction(x, f, g, memory, reset):
        s_hist, y_hist, rho, count = memory
        count = jnp.where(reset, 0, count)
        valid = jnp.arange(m) >= m - count

        def backward(q, i):
            a = jnp.where(valid[i], rho[i] * jnp.vdot(s_hist[i], q), 0.0)
            return q - a * y_hist[i], a

        q, alphas = lax.scan(backward, g, jnp.arange(m - 1, -1, -1))
        alphas = alphas[::-1]
        s_new, y_new = s_hist[-1], y_hist[-1]
        gamma = jnp.where(count > 0, jnp.vdot(s_new, y_new) / jnp.vdot(y_new, y_new), 1.0)

        def forward(r, i):
            b = rho[i] * jnp.vdot(y_hist[i], r)
            return jnp.where(valid[i], r + s_hist[i] * (alphas[i] - b), r), None

        r, _ = lax.scan(forward, gamma * q, jnp.arange(m))
        alpha0 = jnp.where(count > 0, 1.0, first_alpha(g)).astype(x.dtype)
        return -r, alpha0, (s_hist, y_hist, rho, count), {}

    def update(memory, s, y, ok):
        s_hist, y_hist, rho, count = memory
        sy = jnp.vdot(s, y)
        good = ok & (sy > jnp.finfo(s.dtype).eps * jnp.linalg.norm(s) * jnp.linalg.norm(y))
        pushed = (
            jnp.concatenate([s_hist[1:], s[None]]),
            jnp.concatenate([y_hist[1:], y[None]]),
            jnp.concatenate([rho[1:], (1.0 / jnp.where(good, sy, 1.0))[None]]),
            jnp.minimum(count + 1, m),
        )
        return tuple(jnp.where(good, a, b) for a, b in zip(pushed, memory))

    return descent(value_and_grad, x0, tol, max_iterations, direction, update, memory0)
