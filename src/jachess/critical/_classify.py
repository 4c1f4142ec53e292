"""Classify a point by its gradient and the signs of its Hessian's eigenvalues.

A point is critical when ‖∇f‖ <= g_tol = sqrt(eps)·max(1, |f(x)|, ‖H‖₂·max(1, ‖x‖));
‖H‖₂·‖x‖ is the gradient scale of a quadratic, so the test is invariant to rescaling f.
An eigenvalue counts as zero when |λ| <= λ_tol = 10·n·eps·‖H‖₂ + sqrt(min(‖∇f‖, g_tol)):
the first term covers rounding in an exact (AD) Hessian, the second the curvature a
degenerate point (λ = 0 there) still shows at a nearby numerical solution, where a
cubic or quartic term leaves λ ~ ‖∇f‖^(1/2) to ‖∇f‖^(2/3) (capped at g_tol so that a
point far from critical keeps a tight threshold). Pass tol= to set λ_tol.

Signature -> kind: all λ > 0 minimum; all λ < 0 maximum; both signs saddle (even with
zeros: a negative and a positive direction already decide it); otherwise a zero
eigenvalue and no mixed signs -> degenerate (higher-order terms decide).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jachess._derivatives._jit import jit_with_static_function
from jachess._derivatives._products import value_and_gradient
from jachess._errors import OptionError
from jachess._trees import as_float_tree

Kind = Literal["minimum", "maximum", "saddle", "degenerate", "not critical"]


@dataclass(frozen=True)
class Classification:
    """What kind of point x is for f, and the evidence.

    Attributes:
        kind: "minimum" | "maximum" | "saddle" | "degenerate" | "not critical".
        x: the point.
        value: f(x).
        gradient_norm: ‖∇f(x)‖₂.
        eigenvalues: Hessian eigenvalues, ascending (NumPy array).
        inertia: (positive, negative, zero) eigenvalue counts.
        condition_number: max|λ| / min|λ| (inf when an eigenvalue is zero).
        escape_direction: unit eigenvector of the most negative eigenvalue for a
            saddle (a descent direction of curvature λ_min), else None.
        tolerance: the eigenvalue zero threshold used.
        gradient_tolerance: the gradient threshold used.
        signature_kind: the kind the eigenvalue signs give, even when not critical.
    """

    kind: Kind
    x: Any
    value: float
    gradient_norm: float
    eigenvalues: np.ndarray
    inertia: tuple[int, int, int]
    condition_number: float
    escape_direction: np.ndarray | None
    tolerance: float
    gradient_tolerance: float
    signature_kind: Kind

    def __str__(self) -> str:
        p, n, z = self.inertia
        return (
            f"{self.kind} (f = {self.value:.6g}, |grad| = {self.gradient_norm:.3g}, "
            f"inertia +{p} -{n} 0:{z}, zero threshold {self.tolerance:.3g})"
        )


def kind_from_eigenvalues(eigenvalues: np.ndarray, tol: float) -> tuple[Kind, tuple[int, int, int]]:
    """Kind and inertia (positive, negative, zero counts) from eigenvalues and a zero threshold."""
    positive = int(np.sum(eigenvalues > tol))
    negative = int(np.sum(eigenvalues < -tol))
    zero = int(eigenvalues.size - positive - negative)
    if positive and negative:
        kind: Kind = "saddle"
    elif zero:
        kind = "degenerate"
    elif positive:
        kind = "minimum"
    elif negative:
        kind = "maximum"
    else:  # n == 0: nothing varies, every direction is flat
        kind = "degenerate"
    return kind, (positive, negative, zero)


def _unit_sign(vector: np.ndarray) -> np.ndarray:
    """Normalise and fix the sign (largest entry positive) so results are reproducible."""
    vector = vector / np.linalg.norm(vector)
    return vector if vector[np.argmax(np.abs(vector))] > 0 else -vector


def classify(f: Callable, x: Any, *, tol: float | None = None) -> Classification:
    """Classify x as a minimum, maximum, saddle, degenerate or non-critical point of f.

    Cost: one gradient and a dense Hessian (n HVPs) with an O(n³) eigendecomposition;
    for n > 2000, Lanczos on the Hessian operator instead (HVPs only, O(n) memory), which
    returns the smallest and the largest eigenvalue.

    Args:
        f: scalar function.
        x: point (array or pytree).
        tol: eigenvalues with |λ| <= tol count as zero; default described in the module.

    Returns:
        Classification with the kind, eigenvalues, inertia, condition number and, for
        a saddle, the escape direction.

    Example:
        >>> jachess.critical.classify(lambda v: v[0]**2 - v[1]**2, jnp.zeros(2)).kind
        'saddle'
    """
    if tol is not None and not tol >= 0:
        raise OptionError(f"tol must be a non-negative number or None, but got {tol!r}.")
    x = as_float_tree(x, "x")
    value, grad = value_and_gradient(f, x)
    x_flat = ravel_pytree(x)[0]
    n = x_flat.shape[0]
    if n > DENSE_LIMIT:
        return _classify_large(f, x, value, grad, tol)
    matrix = np.asarray(_hessian_matrix(f, x))
    matrix = 0.5 * (matrix + matrix.T)
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    grad_norm = float(np.linalg.norm(np.asarray(ravel_pytree(grad)[0])))
    eps = float(jnp.finfo(x_flat.dtype).eps)
    h_norm = float(np.max(np.abs(eigenvalues))) if n else 0.0
    x_norm = float(np.linalg.norm(np.asarray(x_flat)))
    value = float(value)
    gradient_tolerance = np.sqrt(eps) * max(1.0, abs(value), h_norm * max(1.0, x_norm))
    if tol is None:
        tol = float(10 * n * eps * h_norm + np.sqrt(min(grad_norm, gradient_tolerance)))
    signature_kind, inertia = kind_from_eigenvalues(eigenvalues, tol)
    kind: Kind = signature_kind if grad_norm <= gradient_tolerance else "not critical"
    magnitudes = np.abs(eigenvalues)
    if n == 0:
        condition = 1.0
    elif np.min(magnitudes) <= tol:
        condition = float("inf")
    else:
        condition = float(np.max(magnitudes) / np.min(magnitudes))
    escape = _unit_sign(eigenvectors[:, 0]) if kind == "saddle" else None
    return Classification(
        kind=kind,
        x=x,
        value=value,
        gradient_norm=grad_norm,
        eigenvalues=eigenvalues,
        inertia=inertia,
        condition_number=condition,
        escape_direction=escape,
        tolerance=float(tol),
        gradient_tolerance=float(gradient_tolerance),
        signature_kind=signature_kind,
    )


DENSE_LIMIT = 2000
LANCZOS_PAIRS = 2


def _classify_large(f, x, value, grad, tol) -> Classification:
    """n > DENSE_LIMIT: the extreme eigenvalues by Lanczos on the Hessian operator.

    The smallest and the largest eigenpair (jachess.spectral.eigsh, which="both", HVPs
    only, relative residual 1e-6, at most 2000 HVPs; unconverged values warn). The
    signature is decided by λ_min and λ_max; inertia is exact for a definite Hessian
    ((n, 0, 0) or (0, n, 0)) and otherwise counts only the
    computed eigenvalues; the condition number is exact for a definite Hessian and NaN
    otherwise. ‖H‖₂ in the tolerances is max(|λ_min|, |λ_max|).
    """
    from jachess.operators import Hessian
    from jachess.spectral import eigsh

    x_flat = np.asarray(ravel_pytree(x)[0])
    n = x_flat.shape[0]
    result = eigsh(Hessian(f, x), LANCZOS_PAIRS, which="both", tol=1e-6, max_matvecs=2000)
    eigenvalues = np.asarray(result.eigenvalues)
    vectors = np.asarray(result.eigenvectors)
    grad_norm = float(np.linalg.norm(np.asarray(ravel_pytree(grad)[0])))
    eps = float(jnp.finfo(x_flat.dtype).eps)
    h_norm = float(np.max(np.abs(eigenvalues)))
    value = float(value)
    gradient_tolerance = np.sqrt(eps) * max(
        1.0, abs(value), h_norm * max(1.0, float(np.linalg.norm(x_flat)))
    )
    if tol is None:
        tol = float(10 * n * eps * h_norm + np.sqrt(grad_norm))
    signature_kind, inertia = kind_from_eigenvalues(eigenvalues, tol)
    lowest, highest = eigenvalues[0], eigenvalues[-1]
    if lowest > tol:
        inertia = (n, 0, 0)
        condition = float(highest / lowest)
    elif highest < -tol:
        inertia = (0, n, 0)
        condition = float(lowest / highest)
    else:
        condition = float("nan")
    kind: Kind = signature_kind if grad_norm <= gradient_tolerance else "not critical"
    escape = _unit_sign(vectors[:, 0]) if kind == "saddle" else None
    return Classification(
        kind=kind, x=x, value=value, gradient_norm=grad_norm, eigenvalues=eigenvalues,
        inertia=inertia, condition_number=condition, escape_direction=escape,
        tolerance=float(tol), gradient_tolerance=float(gradient_tolerance),
        signature_kind=signature_kind,
    )


def _flat_hessian(f: Callable, x: Any) -> jax.Array:
    x_flat, unravel = ravel_pytree(x)
    return jax.hessian(lambda z: f(unravel(z)))(x_flat)


# Jitted with f static, so classifying many points of one function compiles once.
_flat_hessian_jit = jit_with_static_function(_flat_hessian)


def _hessian_matrix(f: Callable, x: Any) -> jax.Array:
    """Flat (n, n) Hessian of f for pytree x."""
    return _flat_hessian_jit(f, x)
