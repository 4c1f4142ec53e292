"""Argument checks shared by the spectral estimators."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jachess._errors import InputDtypeError, NotSquareError, NotSymmetricError, OptionError
from jachess.operators._base import AbstractOperator
from jachess.operators._matrix import Matrix


def check_operator(op: Any, what: str, *, square: bool = True, symmetric: bool = False):
    """Return `op` as an AbstractOperator (a dense array is wrapped in Matrix)."""
    if not isinstance(op, AbstractOperator):
        if hasattr(op, "shape") and hasattr(op, "dtype") and len(getattr(op, "shape", ())) == 2:
            op = Matrix(op)
        else:
            raise OptionError(
                f"jachess.spectral.{what} requires a jachess.operators operator (Hessian, GGN, "
                f"Fisher, Jacobian, Matrix, ...), or a 2-D array, but got {type(op).__name__}."
            )
    if not jnp.issubdtype(op.dtype, jnp.floating):
        raise InputDtypeError(
            f"jachess.spectral.{what} requires a floating operator, but got dtype {op.dtype}."
        )
    if square and op.shape[0] != op.shape[1]:
        raise NotSquareError(
            f"jachess.spectral.{what} requires a square operator, but got shape {op.shape}. "
            "For singular values of a Jacobian J use J.T @ J."
        )
    if op.shape[0] == 0:
        raise NotSquareError(f"jachess.spectral.{what} requires n >= 1, but got shape {op.shape}.")
    if symmetric and not op.symmetric:
        raise NotSymmetricError(
            f"jachess.spectral.{what} requires a symmetric operator, but got "
            f"{type(op).__name__} of shape {op.shape}. Use a Hessian, GGN or Fisher, a "
            "product J.T @ J, or Matrix(A) with a symmetric A."
        )
    return op


def default_key(key: Any) -> jax.Array:
    """An explicit key, or jax.random.key(0) when None; raw uint32 keys are wrapped."""
    if key is None:
        return jax.random.key(0)
    key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    if key.dtype == jnp.uint32 and key.shape == (2,):
        return jax.random.wrap_key_data(key)
    raise OptionError(
        f"key must be a PRNG key (jax.random.key(seed)), but got {key.dtype}{list(key.shape)}."
    )


def require_key(key: Any, what: str) -> jax.Array:
    """Estimators take an explicit key: None is refused with the fix."""
    if key is None:
        raise OptionError(
            f"jachess.spectral.{what} requires an explicit PRNG key, but got key=None. "
            "Pass key=jax.random.key(0) (a different key gives an independent estimate)."
        )
    return default_key(key)
