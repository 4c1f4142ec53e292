"""Stochastic trace estimation: Hutchinson, Hutch++ and XTrace.

* Hutchinson (1989): tr A ≈ mean_i z_iᵀ A z_i, z_i Rademacher; error ~ ||A||_F / √N.
* Hutch++ (Meyer, Musco, Musco, Woodruff 2021): a third of the budget sketches the top
  range Q of A, tr(QᵀAQ) is exact on it, Hutchinson handles the deflated rest;
  error ~ 1/N for matrices with decaying spectra.
* XTrace (Epperly, Tropp, Webber 2024): N/2 Gaussian probes are each used both to build
  the low-rank range and as a Hutchinson probe for the residual, by leaving that probe
  out of the range (an exchangeable estimator); the spread of the N/2 leave-one-out
  estimates gives the standard error.

With num_matvecs >= n every method computes the trace exactly from n basis products.
"""

from __future__ import annotations

import functools
from typing import Literal

import jax
import jax.numpy as jnp

from jachess._errors import OptionError
from jachess._options import check_choice, check_positive_int
from jachess.operators._base import AbstractOperator, precision_context
from jachess.spectral._checks import check_operator, require_key
from jachess.spectral._estimate import (
    Estimate,
    apply_in_chunks,
    exact_diagonal,
    qr_tall,
    rademacher,
)

TraceMethod = Literal["xtrace", "hutch++", "hutchinson"]


def _exact(matmat, n, dtype, chunk):
    value = jnp.sum(exact_diagonal(matmat, n, dtype, chunk))
    return value, jnp.zeros((), dtype)


def _hutchinson(matmat, key, n, dtype, num, chunk, target):
    chunk = min(chunk or num, num)
    count = -(-num // chunk)

    def body(state):
        i, total, total_sq, used = state
        Z = rademacher(jax.random.fold_in(key, i), n, chunk, dtype)
        samples = jnp.sum(Z * matmat(Z), axis=0)
        mask = (i * chunk + jnp.arange(chunk)) < num
        samples = jnp.where(mask, samples, 0.0)
        return (
            i + 1,
            total + jnp.sum(samples),
            total_sq + jnp.sum(samples**2),
            used + jnp.sum(mask, dtype=jnp.int32),
        )

    def stats(state):
        _, total, total_sq, used = state
        mean = total / used
        var = jnp.maximum(total_sq / used - mean**2, 0.0) * used / jnp.maximum(used - 1, 1)
        return mean, jnp.sqrt(var / used)

    def cond(state):
        i, _, _, used = state
        more = i < count
        if target is None:
            return more
        _, err = stats(state)
        return more & ((used < 2 * chunk) | (used < 2) | (err > target))

    zero = jnp.zeros((), dtype)
    state = jax.lax.while_loop(cond, body, (jnp.int32(0), zero, zero, jnp.int32(0)))
    mean, err = stats(state)
    return mean, err, state[0] * chunk


def _hutch_plus_plus(matmat, key, n, dtype, num, chunk):
    s = num // 3
    g = num - 2 * s
    key_s, key_g = jax.random.split(key)
    S = rademacher(key_s, n, s, dtype)
    Q, _ = qr_tall(apply_in_chunks(matmat, S, chunk))
    low_rank = jnp.sum(Q * apply_in_chunks(matmat, Q, chunk))
    G = rademacher(key_g, n, g, dtype)
    G = G - Q @ (Q.T @ G)
    samples = jnp.sum(G * apply_in_chunks(matmat, G, chunk), axis=0)
    err = jnp.std(samples, ddof=1) / jnp.sqrt(g) if g > 1 else jnp.asarray(jnp.inf, dtype)
    return low_rank + jnp.mean(samples), err


def _xtrace(matmat, key, n, dtype, num, chunk):
    m = num // 2
    Omega = jax.random.normal(key, (n, m), dtype)
    Y = apply_in_chunks(matmat, Omega, chunk)
    Q, R = qr_tall(Y)
    Z = apply_in_chunks(matmat, Q, chunk)
    H = Q.T @ Z
    H = (H + H.T) / 2
    W = Q.T @ Omega
    # S[:, i]: the unit vector with Q_{-i} Q_{-i}ᵀ = Q (I - s_i s_iᵀ) Qᵀ, where Q_{-i}
    # spans Y without column i; it is the normalised i-th column of R⁻ᵀ.
    S = jax.scipy.linalg.solve_triangular(R, jnp.eye(m, dtype=dtype), trans="T")
    S = S / jnp.linalg.norm(S, axis=0)
    # Leave-one-out range trace: tr(Q_{-i}ᵀ A Q_{-i}) = tr H - s_iᵀ H s_i.
    low_rank = jnp.trace(H) - jnp.sum(S * (H @ S), axis=0)
    # ω_i's component in the range of Q_{-i}, in Q coordinates, and its residual r_i.
    X = W - S * jnp.sum(S * W, axis=0)
    # r_iᵀ A r_i with r_i = ω_i - Q x_i; A ω_i = Q R[:, i] and Qᵀ A ω_i = R[:, i].
    omega_A_omega = jnp.sum(W * R, axis=0)
    cross = jnp.sum(X * R, axis=0)
    x_H_x = jnp.sum(X * (H @ X), axis=0)
    residual = omega_A_omega - 2 * cross + x_H_x
    # Resphering: scale by E||r||² / ||r||² for Gaussian ω restricted to the residual space.
    norm_r = jnp.sum(Omega**2, axis=0) - jnp.sum(X**2, axis=0)
    scale = (n - m + 1) / jnp.where(norm_r > 0, norm_r, 1.0)
    samples = low_rank + scale * residual
    return jnp.mean(samples), jnp.std(samples, ddof=1) / jnp.sqrt(m)


@functools.partial(jax.jit, static_argnames=("method", "num", "chunk", "exact", "target"))
def _trace_jit(op, key, *, method, num, chunk, exact, target):
    matmat = op.prepare()
    n = op.shape[0]
    dtype = op.dtype
    if exact:
        value, err = _exact(matmat, n, dtype, chunk)
        return value, err, jnp.int32(n)
    if method == "hutchinson":
        return _hutchinson(matmat, key, n, dtype, num, chunk, target)
    if method == "hutch++":
        value, err = _hutch_plus_plus(matmat, key, n, dtype, num, chunk)
    else:
        value, err = _xtrace(matmat, key, n, dtype, num, chunk)
    return value, err, jnp.int32(num - num % 2 if method == "xtrace" else num)


def trace(
    op: AbstractOperator,
    *,
    num_matvecs: int,
    method: TraceMethod = "xtrace",
    key: jax.Array,
    target_std_error: float | None = None,
    chunk_size: int | None = None,
) -> Estimate:
    """Stochastic estimate of tr A with a standard error, from `num_matvecs` products.

    Methods: "xtrace" (default; most accurate per product, needs symmetric A),
    "hutch++" (needs num_matvecs >= 3), "hutchinson" (unbiased, the only one that can
    stop early: pass target_std_error to stop once the standard error is below it).
    With num_matvecs >= n the trace is exact (n basis products, std_error 0).

    Args:
        op: square operator (symmetric for "xtrace" and "hutch++").
        num_matvecs: budget of products with single vectors.
        method: "xtrace", "hutch++" or "hutchinson".
        key: PRNG key (explicit: a new key gives an independent estimate).
        target_std_error: hutchinson only: stop when the standard error is below this.
        chunk_size: at most this many probes per product pass (bounds memory).

    Returns:
        Estimate(value, std_error, num_matvecs) with scalar value.

    Example:
        >>> est = jachess.spectral.trace(H, num_matvecs=100, key=jax.random.key(0))
        >>> est.value, est.std_error
    """
    check_choice("method", method, TraceMethod)
    op = check_operator(op, "trace", square=True, symmetric=method != "hutchinson")
    check_positive_int("num_matvecs", num_matvecs)
    check_positive_int("chunk_size", chunk_size, allow_none=True)
    key = require_key(key, "trace")
    n = op.shape[0]
    exact = num_matvecs >= n
    if not exact and method == "hutch++" and num_matvecs < 3:
        raise OptionError(f"method='hutch++' needs num_matvecs >= 3, but got {num_matvecs}.")
    if not exact and method == "xtrace" and num_matvecs < 4:
        raise OptionError(f"method='xtrace' needs num_matvecs >= 4, but got {num_matvecs}.")
    if target_std_error is not None:
        if method != "hutchinson":
            raise OptionError(
                "target_std_error stops Hutchinson early; it needs method='hutchinson', but "
                f"got method={method!r}."
            )
        if not (isinstance(target_std_error, (int, float)) and target_std_error > 0):
            raise OptionError(
                f"target_std_error must be a positive number, but got {target_std_error!r}."
            )
        target_std_error = float(target_std_error)
        if chunk_size is None:
            chunk_size = min(num_matvecs, 10)
    with precision_context(op.precision):
        value, err, used = _trace_jit(
            op,
            key,
            method=method,
            num=int(num_matvecs),
            chunk=chunk_size,
            exact=exact,
            target=target_std_error,
        )
    return Estimate(value, err, int(used))
