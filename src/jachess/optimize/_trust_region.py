"""The trust-region loop shared by trust-ncg and trust-exact, and the eigenbasis subproblem.

Each iteration solves min m(p) = gᵀp + ½ pᵀBp subject to ‖p‖ <= Δ, evaluates
ρ = (f(x) - f(x + p)) / (m(0) - m(p)), accepts the step when ρ > 1e-4, and updates
Δ: ×¼ when ρ < ¼, ×2 when ρ > ¾ and the step reached the boundary (Nocedal & Wright
Algorithm 4.1). Stops when ‖∇f‖∞ <= tol·max(1, |f|) (CONVERGED) or when Δ falls to
rounding level relative to ‖x‖ (STALLED).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from jachess.optimize._descent import RUNNING, add_counts, converged, initial_status
from jachess.optimize._result import Status, counts, minimize_output


def _euclidean(model, v):
    return jnp.linalg.norm(v)


def trust_region(
    value_and_grad, x0, tol, max_iterations, build_model, subproblem, exact, norm=_euclidean
):
    """build_model(x) -> (model, counts); subproblem(x, g, model, Δ) -> (p, predicted, counts).

    norm(model, v): the norm the region is measured in (‖Dv‖ for a scaled region).

    exact: the subproblem is solved exactly, so an interior step that promises less than
    f's rounding level proves convergence at machine precision.
    """
    f0, g0 = value_and_grad(x0)
    model0, c0 = build_model(x0)
    c0 = {k: jnp.asarray(v, jnp.int32) for k, v in c0.items()}
    build = build_model

    def build_model(x):
        model, c = build(x)
        return model, {k: jnp.asarray(v, jnp.int32) for k, v in c.items()}

    eps = jnp.finfo(x0.dtype).eps
    delta0 = jnp.maximum(1.0, norm(model0, x0))
    state = dict(
        x=x0,
        f=f0,
        g=g0,
        model=model0,
        delta=delta0,
        k=jnp.asarray(0, jnp.int32),
        counts=add_counts(counts(fun=1, grad=1), c0),
        status=initial_status(f0, g0, tol, max_iterations).astype(jnp.int32),
    )

    def body(s):
        x, f, g, delta = s["x"], s["f"], s["g"], s["delta"]
        p, predicted, c_sub = subproblem(x, g, s["model"], delta)
        x1 = x + p
        f1, g1 = value_and_grad(x1)
        actual = f - f1
        rho = actual / jnp.where(predicted > 0, predicted, 1.0)
        finite = jnp.isfinite(f1) & jnp.all(jnp.isfinite(g1)) & jnp.all(jnp.isfinite(p))
        # A zero prediction with no increase means the model is exact at rounding level.
        accept = finite & (((predicted > 0) & (rho > 1e-4)) | ((predicted <= 0) & (actual >= 0)))
        accept = accept & jnp.any(p != 0)
        step = norm(s["model"], p)
        delta1 = jnp.where(~finite | (rho < 0.25), 0.25 * jnp.where(finite, step, delta), delta)
        delta1 = jnp.where(finite & (rho > 0.75) & (step >= 0.99 * delta), 2.0 * delta, delta1)
        delta1 = jnp.minimum(delta1, 1e10 * delta0)
        x = jnp.where(accept, x1, x)
        f = jnp.where(accept, f1, f)
        g = jnp.where(accept, g1, g)
        model, c_model = lax.cond(
            accept,
            lambda: build_model(x1),
            lambda: (s["model"], {k: jnp.zeros((), jnp.int32) for k in c0}),
        )
        k = s["k"] + 1
        status = jnp.where(k >= max_iterations, Status.MAX_ITERATIONS, RUNNING)
        status = jnp.where(
            delta1 <= 4 * eps * jnp.maximum(norm(model, x), 1e-30), Status.STALLED, status
        )
        status = jnp.where(converged(f, g, tol), Status.CONVERGED, status)
        # An interior model step that promises less than f's rounding level: converged
        # to machine precision (the gradient test can be out of reach when |f| is large).
        rounding = 100 * eps * jnp.maximum(jnp.abs(s["f"]), 1e-300)
        flat = exact & (step < 0.99 * delta) & (predicted <= rounding)
        status = jnp.where(flat & finite, Status.CONVERGED, status)
        c = add_counts(add_counts(s["counts"], c_sub), c_model)
        c = add_counts(c, {"fun": 1, "grad": 1})
        return dict(
            x=x, f=f, g=g, model=model, delta=delta1, k=k, counts=c,
            status=status.astype(jnp.int32),
        )

    s = lax.while_loop(lambda s: s["status"] == RUNNING, body, state)
    return minimize_output(s)


def eigen_subproblem(lam, c, delta, iterations=60):
    """Exact trust-region step in an eigenbasis (Moré & Sorensen's secular equation).

    Minimises Σ c_i z_i + ½ λ_i z_i² over ‖z‖ <= Δ, λ ascending. The solution is
    z_i = -c_i / (λ_i + σ) with σ >= max(0, -λ_1) and σ(Δ - ‖z‖) = 0; σ solves
    1/‖z(σ)‖ = 1/Δ by safeguarded Newton steps on a bracket. In the hard case
    (c orthogonal to the lowest eigenvectors and ‖z(-λ_1)‖ < Δ) the lowest eigenvector
    is added to reach the boundary.

    Returns:
        (z, predicted reduction -(cᵀz + ½ Σ λ z²)).
    """
    dtype = lam.dtype
    eps = jnp.finfo(dtype).eps
    n = lam.shape[0]
    c_norm = jnp.linalg.norm(c)
    scale = jnp.maximum(jnp.max(jnp.abs(lam), initial=0.0), 1e-300)
    sigma_min = jnp.maximum(0.0, -lam[0])
    degenerate = lam + sigma_min <= 10 * n * eps * scale

    def z_of(sigma, drop_degenerate=False):
        den = lam + sigma
        z = jnp.where(c == 0, 0.0, -c / jnp.where(den == 0, 1.0, den))
        z = jnp.where((den == 0) & (c != 0), -jnp.sign(c) * jnp.inf, z)
        return jnp.where(degenerate, 0.0, z) if drop_degenerate else z

    # Hard case (or a singular PSD model): the degenerate components of c vanish.
    z_hard = z_of(sigma_min, True)
    hard = jnp.all(jnp.where(degenerate, jnp.abs(c) <= 10 * eps * c_norm, True)) & (
        jnp.linalg.norm(z_hard) <= delta
    )
    tau = jnp.sqrt(jnp.maximum(delta**2 - jnp.vdot(z_hard, z_hard), 0.0))
    first = jnp.zeros_like(lam).at[0].set(1.0)
    z_hard = z_hard + jnp.where(sigma_min > 0, tau, 0.0) * first

    # Boundary case: bracket [lo, hi] with ‖z(lo)‖ > Δ >= ‖z(hi)‖; stop once ‖z‖ is
    # within 1e-10 of Δ (Newton converges in a few steps; the bracket guards the rest).
    def body(state):
        lo, hi, sigma, _, k = state
        den = lam + sigma
        terms = jnp.where(c == 0, 0.0, c * c / jnp.where(den == 0, 1.0, den) ** 2)
        norm2 = jnp.sum(terms)
        norm = jnp.sqrt(norm2)
        dnorm2 = -2.0 * jnp.sum(jnp.where(c == 0, 0.0, terms / jnp.where(den == 0, 1.0, den)))
        too_long = norm > delta
        lo = jnp.where(too_long, sigma, lo)
        hi = jnp.where(too_long, hi, sigma)
        # Newton on φ(σ) = 1/‖z‖ - 1/Δ; φ' = -½ d(‖z‖²)/dσ / ‖z‖³.
        phi = 1.0 / norm - 1.0 / delta
        dphi = -0.5 * dnorm2 / (norm2 * norm)
        newton = sigma - phi / dphi
        ok = jnp.isfinite(newton) & (newton > lo) & (newton < hi)
        done = (jnp.abs(norm - delta) <= 1e-10 * delta) | (hi - lo <= 4 * eps * hi)
        return lo, hi, jnp.where(done, sigma, jnp.where(ok, newton, 0.5 * (lo + hi))), done, k + 1

    hi0 = sigma_min + c_norm / delta
    _, _, sigma, _, _ = lax.while_loop(
        lambda s: ~s[3] & (s[4] < iterations), body,
        (sigma_min, hi0, hi0, jnp.asarray(False), jnp.asarray(0)),
    )
    z_boundary = z_of(sigma)
    z_boundary = z_boundary * jnp.minimum(1.0, delta / jnp.linalg.norm(z_boundary))
    z_interior = z_of(0.0)
    interior = (lam[0] > 0) & (jnp.linalg.norm(z_interior) <= delta)
    z = jnp.where(interior, z_interior, jnp.where(hard, z_hard, z_boundary))
    predicted = -(jnp.vdot(c, z) + 0.5 * jnp.vdot(lam * z, z))
    return z, predicted
