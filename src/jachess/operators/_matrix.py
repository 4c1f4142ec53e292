"""Matrix: a dense array seen as an operator (tests with prescribed spectra, small cases)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from jachess._errors import ShapeError
from jachess._trees import as_float_tree
from jachess.operators._base import AbstractOperator, Precision, Structure, check_precision


class Matrix(AbstractOperator):
    """A dense (m, n) array A as an operator: A @ V is one matmul.

    Symmetric (usable by eigsh, density, logdet) when A equals Aᵀ up to rounding.

    Example:
        >>> jachess.spectral.eigsh(Matrix(A), 3).eigenvalues
    """

    _dynamic = ("matrix",)

    def __init__(self, matrix: Any, *, precision: Precision = "highest"):
        matrix = as_float_tree(matrix, "matrix")
        if matrix.ndim != 2:
            raise ShapeError(f"matrix must be 2-D, but got shape {matrix.shape}.")
        self.matrix = matrix
        self.shape = tuple(int(d) for d in matrix.shape)
        self.dtype = matrix.dtype
        self.in_structure = Structure(jnp.zeros(self.shape[1], matrix.dtype))
        self.out_structure = Structure(jnp.zeros(self.shape[0], matrix.dtype))
        self.precision = check_precision(precision)
        a = np.asarray(matrix)
        self.symmetric = bool(
            a.shape[0] == a.shape[1]
            and np.allclose(a, a.T, rtol=1e-10, atol=1e-12 * max(np.abs(a).max(initial=0), 1))
        ) if a.size <= 25_000_000 else False

    def prepare(self, once: bool = False):
        return lambda V: self.matrix @ V

    def _prepare_transpose(self):
        return lambda U: self.matrix.T @ U
