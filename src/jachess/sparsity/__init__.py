"""Sparse Jacobians and Hessians: detect the pattern, colour it, compress, decompress.

Pipeline: detection (abstract interpretation of the jaxpr) -> colouring (column, row,
star, bicolouring) -> prepared evaluation (one vmapped pass of JVPs/VJPs/HVPs over the
colours, one gather into a BCOO).
"""

from jachess.sparsity._api import clear_cache as clear_cache
from jachess.sparsity._api import sparse_hessian as sparse_hessian
from jachess.sparsity._api import sparse_jacobian as sparse_jacobian
from jachess.sparsity._api import to_scipy as to_scipy
from jachess.sparsity._coloring import Bicoloring as Bicoloring
from jachess.sparsity._coloring import bicolor as bicolor
from jachess.sparsity._coloring import color as color
from jachess.sparsity._detection import SparsityWarning as SparsityWarning
from jachess.sparsity._detection import hessian_pattern as hessian_pattern
from jachess.sparsity._detection import jacobian_pattern as jacobian_pattern
from jachess.sparsity._prepared import PreparedHessian as PreparedHessian
from jachess.sparsity._prepared import PreparedJacobian as PreparedJacobian
from jachess.sparsity._prepared import prepare_hessian as prepare_hessian
from jachess.sparsity._prepared import prepare_jacobian as prepare_jacobian

__all__ = [
    # detection
    "hessian_pattern",
    "jacobian_pattern",
    "SparsityWarning",
    # colouring
    "bicolor",
    "Bicoloring",
    "color",
    # prepared evaluation
    "prepare_hessian",
    "prepare_jacobian",
    "PreparedHessian",
    "PreparedJacobian",
    # one-call derivatives and conversion
    "clear_cache",
    "sparse_hessian",
    "sparse_jacobian",
    "to_scipy",
]
