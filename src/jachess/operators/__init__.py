"""Matrix-free linear operators: Jacobian, Hessian, GGN, Fisher (layer 3).

Each is an `AbstractOperator` of shape (m, n): `op @ v`, `op.matmat(V)`, `op.T`,
`A @ B` (composition), `op.to_dense()`, `op.to_scipy()`; over a point or a mean loss
over a dataset (arrays with batch_size, or an iterable of batches), sharded across
devices when several are visible. Operators are pytrees, so they pass through jax.jit.

Precision: products default to full float32 matmul precision ("highest"); GPUs would
otherwise use TF32 (about 4e-4 relative error on HVPs). Pass precision="high" or
"default" to trade accuracy for speed.

Compilation: each operator's program compiles once per shape (seconds on a CPU; 20-35 s
on a GPU with autotuning). Keep compiled programs across processes with JAX's persistent
cache: ``jax.config.update("jax_compilation_cache_dir", "~/.cache/jachess-jax")`` (or the
environment variable JAX_COMPILATION_CACHE_DIR) before the first call.
"""

from jachess.operators._base import AbstractOperator as AbstractOperator
from jachess.operators._base import ComposedOperator as ComposedOperator
from jachess.operators._base import Precision as Precision
from jachess.operators._base import TransposedOperator as TransposedOperator
from jachess.operators._fisher import Fisher as Fisher
from jachess.operators._ggn import GGN as GGN
from jachess.operators._hessian import Hessian as Hessian
from jachess.operators._jacobian import Jacobian as Jacobian
from jachess.operators._matrix import Matrix as Matrix

__all__ = [
    "AbstractOperator",
    "ComposedOperator",
    "Fisher",
    "GGN",
    "Hessian",
    "Jacobian",
    "Matrix",
    "Precision",
    "TransposedOperator",
]
