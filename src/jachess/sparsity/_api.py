"""Entry points used by `jachess.jacobian` / `jachess.hessian` with sparsity=..., a cache of
prepared derivatives, and conversion to scipy.sparse.

The cache key is the function's identity, the input's tree structure, shapes and dtypes,
the pattern ("auto" or the given one's structure), the mode and the chunk size; a hit
does no detection, colouring or tracing.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from jax.experimental import sparse as jsparse

from jachess._errors import OptionError
from jachess._options import Mode, check_choice, check_positive_int
from jachess._trees import as_float_tree
from jachess.sparsity._coloring import as_pattern
from jachess.sparsity._prepared import PreparedHessian, PreparedJacobian, _signature

_CACHE_SIZE = 64
_cache: OrderedDict[Any, Any] = OrderedDict()


def _pattern_key(sparsity: Any):
    if isinstance(sparsity, str):
        if sparsity != "auto":
            raise OptionError(
                f"sparsity must be None, 'auto' or a boolean pattern (dense array or "
                f"scipy.sparse), but got {sparsity!r}."
            )
        return "auto", None
    try:
        pattern = as_pattern(sparsity, "sparsity")
    except (TypeError, ValueError) as error:
        raise OptionError(
            f"sparsity must be None, 'auto' or a boolean pattern (dense array or "
            f"scipy.sparse), but got {type(sparsity).__name__} ({error})."
        ) from None
    digest = hashlib.sha1(pattern.indptr.tobytes())
    digest.update(pattern.indices.tobytes())
    return (pattern.shape, digest.hexdigest()), pattern


def _cached(key, build: Callable):
    try:
        hash(key)
    except TypeError:  # unhashable function: prepare every time
        return build()
    found = _cache.get(key)
    if found is None:
        found = build()
        _cache[key] = found
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    else:
        _cache.move_to_end(key)
    return found


def clear_cache() -> None:
    """Forget every prepared sparse derivative (e.g. after redefining a function)."""
    _cache.clear()


def sparse_jacobian(f: Callable, x: Any, *, sparsity: Any = "auto", mode: Mode = "auto",
                    chunk_size: int | None = None) -> jsparse.BCOO:
    """Sparse Jacobian of f at x as a BCOO of shape (f(x).size, x.size).

    Detects the pattern (sparsity="auto") or uses the given one, colours it, and
    evaluates one JVP/VJP per colour; "auto" falls back to plain dense passes (still a
    BCOO) when colouring cannot pay. Prepared work is cached per function and shapes.
    """
    check_choice("mode", mode, Mode)
    check_positive_int("chunk_size", chunk_size, allow_none=True)
    x = as_float_tree(x, "x")
    pattern_key, pattern = _pattern_key(sparsity)
    key = ("jacobian", f, _signature(x), pattern_key, mode, chunk_size)
    prepared = _cached(key, lambda: PreparedJacobian(
        f, x, pattern=pattern, mode=mode, chunk_size=chunk_size, dense_fallback=True))
    return prepared(x)


def sparse_hessian(f: Callable, x: Any, *, sparsity: Any = "auto",
                   chunk_size: int | None = None) -> jsparse.BCOO:
    """Sparse Hessian of scalar f at x as a BCOO of shape (x.size, x.size).

    One HVP per star colour of the detected (or given) pattern; cached like
    `sparse_jacobian`.
    """
    check_positive_int("chunk_size", chunk_size, allow_none=True)
    x = as_float_tree(x, "x")
    pattern_key, pattern = _pattern_key(sparsity)
    key = ("hessian", f, _signature(x), pattern_key, chunk_size)
    prepared = _cached(key, lambda: PreparedHessian(
        f, x, pattern=pattern, chunk_size=chunk_size, dense_fallback=True))
    return prepared(x)


def to_scipy(matrix: jsparse.BCOO) -> sp.csr_array:
    """A 2-D BCOO (as returned by the sparse derivatives) as a scipy.sparse.csr_array.

    Example:
        >>> scipy.sparse.linalg.spsolve(to_scipy(jachess.jacobian(F, x, sparsity="auto")), b)
    """
    if not isinstance(matrix, jsparse.BCOO) or matrix.ndim != 2 or matrix.n_batch:
        raise OptionError(
            f"to_scipy needs a 2-D jax.experimental.sparse.BCOO without batch dimensions, "
            f"but got {type(matrix).__name__} of shape {getattr(matrix, 'shape', None)}."
        )
    data = np.asarray(matrix.data)
    indices = np.asarray(matrix.indices)
    return sp.csr_array((data, (indices[:, 0], indices[:, 1])), shape=matrix.shape)


__all__ = ["clear_cache", "sparse_hessian", "sparse_jacobian", "to_scipy"]

