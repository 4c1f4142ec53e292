"""eigsh: extreme eigenpairs of a symmetric operator by thick-restart Lanczos, all in jit.

Algorithm (Wu & Simon's thick restart, with full reorthogonalisation):

* Build an orthonormal Krylov basis Q = [q_0 .. q_{m}] one product at a time; each new
  vector is orthogonalised against the whole basis twice (classical Gram-Schmidt twice,
  two (n, m) GEMVs), so Ritz values never duplicate in floating point, and the projected
  matrix H = Qᵀ A Q (m x m) is filled from those coefficients.
* After every product, eigh(H) gives Ritz pairs (θ_i, Q s_i); the residual of each is
  exactly ||A Q s_i - θ_i Q s_i|| = β |s_i[last]| (β the norm of the newest residual), so
  convergence is checked after every product, not only at restarts: no product is spent
  after the wanted pairs meet ||A v - θ v|| <= tol · |θ|.
* When the basis is full (m vectors), it is compressed to the p Ritz vectors nearest the
  wanted end(s) plus the residual direction (a thick restart), and H becomes diag(θ)
  bordered by the couplings β s_i[last].

The whole loop is one `lax.while_loop` inside `jax.jit`: no host round trip per product,
the operator's prepare() (one linearization of a Hessian) is traced once for the solve.
Cost per product: one matvec + O(n m) for reorthogonalisation + O(m³) for the tiny eigh.
"""

from __future__ import annotations

import functools
import warnings
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jachess._errors import OptionError
from jachess._options import check_choice, check_positive_int
from jachess.operators._base import AbstractOperator, precision_context
from jachess.spectral._checks import check_operator, default_key

Which = Literal["largest", "smallest", "both"]


class EigshResult(NamedTuple):
    """Extreme eigenpairs of a symmetric operator.

    Attributes:
        eigenvalues: (k,) ascending.
        eigenvectors: (n, k) flat unit columns, eigenvectors[:, i] for eigenvalues[i].
        residual_norms: (k,) ||A v_i - θ_i v_i|| (Lanczos' exact-arithmetic identity
            β |s_i[last]|; in floating point the true residual stalls near eps·||A||).
        converged: (k,) bool, residual_norms <= tol · |θ| (see eigsh).
        num_matvecs: products with single vectors that the solve used.
        history: None, or (eigenvalues, residual_norms), each (num_matvecs, k): the
            wanted Ritz values and residuals after every product (eigsh(...,
            return_history=True); for jachess.plot.eigenvalue_convergence).
    """

    eigenvalues: jax.Array
    eigenvectors: jax.Array
    residual_norms: jax.Array
    converged: jax.Array
    num_matvecs: jax.Array
    history: tuple[jax.Array, jax.Array] | None = None


def _split(which: str, k: int) -> tuple[int, int]:
    """How many of the k values come from the low and the high end."""
    if which == "largest":
        return 0, k
    if which == "smallest":
        return k, 0
    return k // 2, k - k // 2


def _pick(size, low, count: int) -> jax.Array:
    """Indices of the `low` smallest and `count - low` largest of `size` ascending values.

    `count` is static (the output's length), `low` and `size` may be traced, so "largest",
    "smallest" and "both" share one compiled program.
    """
    i = jnp.arange(count, dtype=jnp.int32)
    return jnp.where(i < low, i, size - count + i).astype(jnp.int32)


class _State(NamedTuple):
    Q: jax.Array
    H: jax.Array
    j: jax.Array
    beta: jax.Array
    theta: jax.Array
    S: jax.Array
    num: jax.Array
    done: jax.Array
    trace_values: jax.Array
    trace_residuals: jax.Array


@functools.partial(
    jax.jit,
    static_argnames=("k", "keep", "m", "history"),
)
def _eigsh_jit(op, key, tol, max_matvecs, low, keep_low, *, k, keep, m, history):
    matmat = op.prepare()
    n = op.shape[0]
    dtype = op.dtype
    eps = jnp.finfo(dtype).eps

    start, spare = jax.random.normal(key, (2, n), dtype)
    tol = jnp.asarray(tol, dtype)
    Q = jnp.zeros((n, m + 1), dtype).at[:, 0].set(start / jnp.linalg.norm(start))
    state = _State(
        Q=Q,
        H=jnp.zeros((m, m), dtype),
        j=jnp.int32(0),
        beta=jnp.zeros((), dtype),
        theta=jnp.zeros((m,), dtype),
        S=jnp.eye(m, dtype=dtype),
        num=jnp.int32(0),
        done=jnp.bool_(False),
        trace_values=jnp.full((history, k), jnp.nan, dtype),
        trace_residuals=jnp.full((history, k), jnp.nan, dtype),
    )

    def restart(s: _State) -> _State:
        kept = _pick(m, keep_low, keep)
        p = keep
        Y = s.Q[:, :m] @ s.S[:, kept]
        Q = jnp.zeros_like(s.Q).at[:, :p].set(Y).at[:, p].set(s.Q[:, m])
        coupling = s.beta * s.S[m - 1, kept]
        H = jnp.zeros_like(s.H).at[jnp.arange(p), jnp.arange(p)].set(s.theta[kept])
        H = H.at[p, :p].set(coupling).at[:p, p].set(coupling)
        return s._replace(Q=Q, H=H, j=jnp.int32(p))

    def body(s: _State) -> _State:
        s = jax.lax.cond((s.j == m) & (m < n), restart, lambda s: s, s)
        j = s.j
        q = jax.lax.dynamic_index_in_dim(s.Q, j, axis=1, keepdims=True)
        w = matmat(q)[:, 0]
        h = s.Q.T @ w
        w = w - s.Q @ h
        h2 = s.Q.T @ w
        w = w - s.Q @ h2
        h = (h + h2)[:m]
        beta = jnp.linalg.norm(w)
        H = s.H.at[:, j].set(h).at[j, :].set(h)
        scale = jnp.maximum(jnp.max(jnp.abs(H)), jnp.finfo(dtype).tiny)
        broke = beta <= 10 * eps * scale * jnp.sqrt(m)
        # After a breakdown (an invariant subspace: its Ritz pairs are exact), go on with
        # a fresh random direction orthogonal to the basis, coupled by 0 (the spare
        # random vector minus its projection: new after every breakdown, as Q grows).
        r = spare - s.Q @ (s.Q.T @ spare)
        r = r - s.Q @ (s.Q.T @ r)
        r = r / jnp.maximum(jnp.linalg.norm(r), jnp.finfo(dtype).tiny)
        beta = jnp.where(broke, 0.0, beta).astype(dtype)
        q_next = jnp.where(broke, r, w / jnp.where(broke, 1.0, beta))
        inside = j + 1 < m
        H = H.at[jnp.minimum(j + 1, m - 1), j].set(jnp.where(inside, beta, H[m - 1, j]))
        H = H.at[j, jnp.minimum(j + 1, m - 1)].set(jnp.where(inside, beta, H[j, m - 1]))
        Q = s.Q.at[:, j + 1].set(q_next)
        size = j + 1

        active = jnp.arange(m) < size
        H_active = jnp.where(active[:, None] & active[None, :], H, 0.0)
        norm = jnp.sqrt(jnp.sum(H_active**2))
        sentinel = 2 * norm + jnp.where(norm > 0, 0.0, 1.0)
        theta, S = jnp.linalg.eigh(H_active + jnp.diag(jnp.where(active, 0.0, sentinel)))
        wanted = _pick(size, low, k)
        last = jax.lax.dynamic_index_in_dim(S, size - 1, axis=0, keepdims=False)
        residuals = beta * jnp.abs(last[wanted])
        floor = eps ** (2 / 3) * jnp.max(jnp.abs(jnp.where(active, theta, 0.0)))
        converged = residuals <= tol * jnp.maximum(jnp.abs(theta[wanted]), floor)
        num = s.num + 1
        done = (size >= k) & jnp.all(converged)
        done = done | ((size == n) & (m == n))
        values, res = s.trace_values, s.trace_residuals
        if history:
            row = jnp.minimum(s.num, history - 1)
            values = values.at[row].set(theta[wanted])
            res = res.at[row].set(residuals)
        return _State(Q, H, size, beta, theta, S, num, done, values, res)

    def cond(s: _State):
        return (~s.done) & (s.num < max_matvecs)

    state = jax.lax.while_loop(cond, body, state)
    size = state.j
    wanted = _pick(size, low, k)
    theta = state.theta[wanted]
    coefficients = state.S[:, wanted]
    vectors = state.Q[:, :m] @ coefficients
    last = jax.lax.dynamic_index_in_dim(state.S, size - 1, axis=0, keepdims=False)
    residuals = state.beta * jnp.abs(last[wanted])
    active = jnp.arange(m) < size
    floor = eps ** (2 / 3) * jnp.max(jnp.abs(jnp.where(active, state.theta, 0.0)))
    converged = (residuals <= tol * jnp.maximum(jnp.abs(theta), floor)) & (size >= k)
    recorded = (state.trace_values, state.trace_residuals) if history else None
    return EigshResult(theta, vectors, residuals, converged, state.num, recorded)


def eigsh(
    op: AbstractOperator,
    k: int = 6,
    *,
    which: Which = "largest",
    tol: float = 1e-8,
    max_matvecs: int | None = None,
    key: jax.Array | None = None,
    krylov_size: int | None = None,
    return_history: bool = False,
) -> EigshResult:
    """k extreme eigenpairs of a symmetric operator (thick-restart Lanczos, in jit).

    A Ritz pair (θ, v) is converged when ||A v - θ v|| <= tol · max(|θ|, eps^(2/3) ||A||)
    (ARPACK's test; the floor lets exact zero eigenvalues converge). The solve stops as
    soon as all k are converged, or after `max_matvecs` products; values still
    unconverged then are flagged in `.converged` and a warning says so. Eigenvalue error
    is at most the residual norm, and about residual² / gap once it is small.

    Cost: one matvec per Krylov step (typically 2-4 k to 10 k products for well separated
    ends), plus O(n · krylov_size) per step for full reorthogonalisation; memory
    n · (krylov_size + 1) numbers.

    Args:
        op: a square symmetric operator (jachess.operators.Hessian, GGN, Fisher, ...).
        k: how many eigenpairs (1 <= k <= n).
        which: "largest" or "smallest" (algebraic, most negative first for a Hessian's
            saddle directions), or "both": k // 2 smallest and k - k // 2 largest.
        tol: relative residual tolerance. In float32 the attainable level is about
            1e-6; below it, estimates may claim convergence the rounding does not allow,
            so a warning suggests float64.
        max_matvecs: budget of products (default max(300, 10 · krylov_size)).
        key: PRNG key for the start vector (default jax.random.key(0)).
        krylov_size: basis size m before a restart (default max(2k + 1, 20), at most n).
        return_history: also return the Ritz values and residuals after every product
            (.history; compiles one program per max_matvecs).

    Returns:
        EigshResult(eigenvalues (k,) ascending, eigenvectors (n, k), residual_norms,
        converged, num_matvecs).

    Example:
        >>> H = jachess.operators.Hessian(loss, params, data=(X, Y), batch_size=512)
        >>> result = jachess.spectral.eigsh(H, 5, tol=1e-3)
        >>> result.eigenvalues, result.num_matvecs
    """
    op = check_operator(op, "eigsh", square=True, symmetric=True)
    n = op.shape[0]
    check_positive_int("k", k)
    check_choice("which", which, Which)
    if k > n:
        raise OptionError(f"k must be at most the operator's size n = {n}, but got k = {k}.")
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise OptionError(f"tol must be a positive number, but got {tol!r}.")
    m = krylov_size if krylov_size is not None else max(2 * k + 1, 20)
    check_positive_int("krylov_size", m)
    m = min(m, n)
    if m < k + 1 and m < n:
        raise OptionError(
            f"krylov_size must exceed k (got krylov_size={m}, k={k}); the basis must hold "
            "the wanted vectors plus room to grow. Leave it None for the default."
        )
    if max_matvecs is None:
        max_matvecs = max(300, 10 * m)
    check_positive_int("max_matvecs", max_matvecs)
    if max_matvecs < k:
        raise OptionError(f"max_matvecs must be at least k = {k}, but got {max_matvecs}.")
    eps = float(jnp.finfo(op.dtype).eps)
    if tol < eps:
        warnings.warn(
            f"eigsh: tol={tol:g} is below {np.dtype(op.dtype).name} precision (eps "
            f"{eps:.1e}); residual estimates can fall below the true residuals, which "
            "stall near eps·||A||. Use float64 (jax_enable_x64) or tol >= 1e-6.",
            stacklevel=2,
        )
    low, _ = _split(which, k)
    keep = max(k, min(m - 1, k + (m - k) // 2))
    if which == "largest":
        keep_low = 0
    elif which == "smallest":
        keep_low = keep
    else:
        keep_low = low + (keep - k) // 2
    key = default_key(key)
    with precision_context(op.precision):
        result = _eigsh_jit(
            op,
            key,
            float(tol),
            int(max_matvecs),
            low,
            keep_low,
            k=k,
            keep=keep,
            m=m,
            history=int(max_matvecs) if return_history else 0,
        )
    if return_history:
        used = int(result.num_matvecs)
        result = result._replace(history=tuple(h[:used] for h in result.history))
    converged = np.asarray(result.converged)
    if not converged.all():
        bad = np.asarray(result.eigenvalues)[~converged]
        warnings.warn(
            f"eigsh: {int((~converged).sum())} of {k} eigenvalues did not converge to "
            f"tol={tol:g} within {int(result.num_matvecs)} matvecs (unconverged: "
            f"{np.array2string(bad, precision=6)}). Raise max_matvecs or krylov_size, or "
            "loosen tol; see .residual_norms.",
            stacklevel=2,
        )
    return result
