"""Decompression: where each nonzero of the pattern is read from the compressed products.

Every scheme stacks its compressed results into one flat vector, so decompression is a
single gather `flat[source]` with `source` fixed at preparation time:

- forward (columns coloured c): Y = (J S)ᵀ of shape (k, m); J[i, j] = Y[c[j], i].
- reverse (rows coloured r): Z = Uᵀ J of shape (k, n); J[i, j] = Z[r[i], j].
- bicoloured: Y then Z; each entry from the side that owns it.
- star (Hessians): B = (H S)ᵀ of shape (k, n); H[i, j] = B[colour, row] from the direct
  recovery of `star_decompression`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from jachess._errors import JachessInternalError
from jachess.sparsity._coloring import Bicoloring, star_decompression


def _entries(pattern: sp.csr_array):
    rows = np.repeat(np.arange(pattern.shape[0], dtype=np.int64), np.diff(pattern.indptr))
    return rows, pattern.indices.astype(np.int64)


def forward_source(pattern: sp.csr_array, colors: np.ndarray) -> np.ndarray:
    rows, cols = _entries(pattern)
    return colors[cols] * pattern.shape[0] + rows


def reverse_source(pattern: sp.csr_array, colors: np.ndarray) -> np.ndarray:
    rows, cols = _entries(pattern)
    return colors[rows] * pattern.shape[1] + cols


def bicolor_source(pattern: sp.csr_array, coloring: Bicoloring) -> np.ndarray:
    m, n = pattern.shape
    rows, cols = _entries(pattern)
    num_columns = int(coloring.column_colors.max()) + 1 if n else 0
    num_columns = max(num_columns, 0)
    from_columns = coloring.column_colors[cols] * m + rows
    from_rows = num_columns * m + coloring.row_colors[rows] * n + cols
    return np.where(coloring.by_row, from_rows, from_columns)


def star_source(pattern: sp.csr_array, colors: np.ndarray) -> np.ndarray:
    found = star_decompression(pattern, colors)
    if found is None:
        raise JachessInternalError(
            "the star colouring does not allow direct recovery of the Hessian; this is a "
            "bug in jachess, please report it with the pattern."
        )
    read_row, read_color = found
    return read_color * pattern.shape[0] + read_row


def coordinates(pattern: sp.csr_array) -> np.ndarray:
    """(nnz, 2) row/column indices in CSR order: the fixed BCOO structure."""
    rows, cols = _entries(pattern)
    return np.stack([rows, cols], axis=1)


__all__ = ["bicolor_source", "coordinates", "forward_source", "reverse_source", "star_source"]
