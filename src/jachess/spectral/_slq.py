"""Stochastic Lanczos quadrature: Gauss quadrature nodes and weights per probe.

For a unit start vector q = z / ||z||, m Lanczos steps give a tridiagonal T_m = S Θ Sᵀ;
qᵀ f(A) q ≈ Σ_j S[0, j]² f(θ_j), exact for polynomials of degree < 2m. Averaging over
Rademacher probes z (||z||² = n) estimates tr f(A) / n (Ubaru, Chen, Saad 2017). All
probes run in lockstep, so each step is one `matmat` over the block of probes; vectors
are reorthogonalised against their own basis (twice), which keeps float32 runs from
producing ghost copies of the extreme eigenvalues.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jachess.spectral._estimate import rademacher


@functools.partial(jax.jit, static_argnames=("num_probes", "num_steps", "reorthogonalize"))
def quadrature(op, key, *, num_probes, num_steps, reorthogonalize=True):
    """(nodes, weights), each (num_probes, num_steps); weights sum to 1 per probe."""
    matmat = op.prepare()
    n = op.shape[0]
    dtype = op.dtype
    steps = min(num_steps, n)
    Z = rademacher(key, n, num_probes, dtype)
    q = Z / jnp.sqrt(jnp.asarray(n, dtype))
    basis = jnp.zeros((num_probes, steps, n), dtype)
    tiny = jnp.finfo(dtype).tiny

    def body(j, state):
        basis, q, q_prev, beta_prev, alphas, betas = state
        basis = basis.at[:, j, :].set(q.T)
        w = matmat(q)
        alpha = jnp.sum(q * w, axis=0)
        w = w - alpha * q - beta_prev * q_prev
        if reorthogonalize:
            for _ in range(2):
                coefficients = jnp.einsum("psn,np->ps", basis, w)
                w = w - jnp.einsum("psn,ps->np", basis, coefficients)
        beta = jnp.linalg.norm(w, axis=0)
        # A breakdown (invariant subspace) ends that probe's recurrence: zero couplings
        # decouple the rest of T from e_1, so its extra nodes get zero weight.
        scale = jnp.maximum(jnp.abs(alpha), jnp.max(jnp.abs(alphas), axis=1))
        alive = beta > 100 * jnp.finfo(dtype).eps * jnp.maximum(scale, tiny)
        beta = jnp.where(alive, beta, 0.0)
        q_next = jnp.where(alive, w / jnp.where(alive, beta, 1.0), 0.0)
        return (
            basis,
            q_next,
            q,
            beta,
            alphas.at[:, j].set(alpha),
            betas.at[:, j].set(beta),
        )

    zeros = jnp.zeros((num_probes,), dtype)
    state = (
        basis,
        q,
        jnp.zeros_like(q),
        zeros,
        jnp.zeros((num_probes, steps), dtype),
        jnp.zeros((num_probes, steps), dtype),
    )
    state = jax.lax.fori_loop(0, steps, body, state)
    alphas, betas = state[4], state[5]

    def tridiagonal(a, b):
        off = b[:-1]
        return jnp.diag(a) + jnp.diag(off, 1) + jnp.diag(off, -1)

    T = jax.vmap(tridiagonal)(alphas, betas)
    nodes, vectors = jnp.linalg.eigh(T)
    weights = vectors[:, 0, :] ** 2
    return nodes, weights
