"""AbstractOperator: a matrix-free linear map on flat vectors, with pytree views.

Every operator is a pytree (its arrays are the children, its functions and shapes the
static part), so it passes through `jax.jit` as an argument: the spectral layer traces
`op.prepare()` once inside its compiled loop and never returns to the host per matvec.

The basic operation is `prepare()`: it does the work that does not depend on the vector
(for a Hessian: the forward and backward pass, by `jax.linearize`) and returns a pure
function V -> A V on (n, k) blocks. `op @ v`, `op.matmat(V)`, `to_dense`, `to_scipy`
are all built on it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from jachess._errors import InputDtypeError, ShapeError
from jachess._memory import check_dense_fits
from jachess._options import check_choice
from jachess._trees import describe

Precision = Literal["highest", "high", "default"]


def precision_context(precision: str):
    """Context for tracing and compiling curvature products at `precision`.

    "highest" (the default everywhere in jachess.operators) keeps float32 matmuls at full
    float32 accuracy on GPUs/TPUs, whose own default (TF32 / bfloat16 passes) costs about
    4e-4 relative error on Hessian-vector products; "high" and "default" trade it away.
    """
    if precision == "default":
        return contextlib.nullcontext()
    return jax.default_matmul_precision(precision)


class Structure:
    """The hashable layout of a pytree of arrays: treedef, leaf shapes and dtypes.

    ravel() concatenates the leaves row-major in treedef order (as ravel_pytree does);
    unravel() is its inverse.
    """

    def __init__(self, tree: Any):
        leaves, self.treedef = jax.tree_util.tree_flatten(tree)
        self.shapes = tuple(tuple(int(d) for d in np.shape(a)) for a in leaves)
        self.dtypes = tuple(jnp.result_type(a) for a in leaves)
        self.sizes = tuple(int(np.prod(s, dtype=np.int64)) for s in self.shapes)
        self.size = int(sum(self.sizes))
        self.dtype = jnp.result_type(*self.dtypes) if self.dtypes else jnp.float32

    def _key(self):
        return (self.treedef, self.shapes, self.dtypes)

    def __hash__(self):
        return hash(self._key())

    def __eq__(self, other):
        return isinstance(other, Structure) and self._key() == other._key()

    def matches(self, tree: Any) -> bool:
        leaves, treedef = jax.tree_util.tree_flatten(tree)
        return treedef == self.treedef and all(
            np.shape(a) == s for a, s in zip(leaves, self.shapes)
        )

    def describe(self) -> str:
        return describe(self.unravel(jnp.zeros(self.size, self.dtype)))

    def ravel(self, tree: Any) -> jax.Array:
        leaves = jax.tree_util.tree_leaves(tree)
        if not leaves:
            return jnp.zeros((0,), self.dtype)
        return jnp.concatenate([jnp.ravel(a).astype(self.dtype) for a in leaves])

    def unravel(self, flat: jax.Array) -> Any:
        pieces = []
        start = 0
        for shape, size, dtype in zip(self.shapes, self.sizes, self.dtypes):
            pieces.append(flat[start : start + size].reshape(shape).astype(dtype))
            start += size
        return jax.tree_util.tree_unflatten(self.treedef, pieces)


class _ByIdentity:
    """Wrap an unhashable static object (a list of batches, a DataLoader) hashed by id."""

    def __init__(self, value):
        self.value = value

    def __hash__(self):
        return id(self.value)

    def __eq__(self, other):
        return isinstance(other, _ByIdentity) and other.value is self.value


class AbstractOperator:
    """A linear operator of shape (m, n) on flat vectors, applied without forming it.

    Subclasses set `shape`, `dtype`, `in_structure`, `out_structure`, `precision`, list
    their array fields in `_dynamic` and implement `prepare()` (and `_prepare_transpose()`
    unless symmetric).

    Example:
        >>> H = jachess.operators.Hessian(f, x)
        >>> H @ v, H.matmat(V), H.T, H.to_dense(), H.to_scipy()
    """

    _dynamic: tuple[str, ...] = ()
    symmetric: bool = False
    shape: tuple[int, int]
    dtype: Any
    in_structure: Structure
    out_structure: Structure
    precision: str = "highest"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        jax.tree_util.register_pytree_node(cls, cls._tree_flatten, cls._tree_unflatten)

    def _tree_flatten(self):
        children = tuple(getattr(self, name) for name in self._dynamic)
        static = tuple(
            (k, v) for k, v in sorted(self.__dict__.items()) if k not in self._dynamic
        )
        return children, static

    @classmethod
    def _tree_unflatten(cls, static, children):
        op = object.__new__(cls)
        for k, v in static:
            object.__setattr__(op, k, v)
        for name, child in zip(cls._dynamic, children):
            object.__setattr__(op, name, child)
        return op

    # -- to implement --------------------------------------------------------------
    def prepare(self, once: bool = False) -> Callable[[jax.Array], jax.Array]:
        """Return V -> A V on flat (n, k) blocks; called inside jit.

        once=False (spectral loops): do the vector-independent work now (linearize), so
        each later product costs only its tangent passes. once=True (a single product,
        `op @ v`): a fused forward-over-reverse pass is cheaper than linearizing first.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must define prepare(once) -> (V -> A V); every operator "
            "subclass implements it."
        )

    def _prepare_transpose(self) -> Callable[[jax.Array], jax.Array]:
        if self.symmetric:
            return self.prepare()
        raise NotImplementedError(
            f"{type(self).__name__} defines no transpose product; wrap the matrix-free map "
            "in jachess.operators.Jacobian or Matrix, whose .T is implemented."
        )

    # -- derived -------------------------------------------------------------------
    @property
    def T(self) -> AbstractOperator:
        """The transpose Aᵀ (shape (n, m)); a symmetric operator returns itself."""
        if self.symmetric:
            return self
        return TransposedOperator(self)

    def matmat(self, V: Any) -> jax.Array:
        """A V for a flat block V of shape (n, k) -> (m, k): one vmapped pass over k vectors.

        Cost: k matvecs, but computed together (one linearization, batched products),
        which is cheaper per vector than k separate `op @ v`.
        """
        V = self._check_block(V, "V")
        with precision_context(self.precision):
            return _apply_jit(self, V)

    def mv(self, v: Any) -> Any:
        """A v for a flat vector (n,) -> (m,), or a pytree like the input -> pytree output."""
        if isinstance(v, AbstractOperator):
            return compose(self, v)
        n = self.shape[1]
        if self.in_structure.matches(v) and not (np.ndim(v) == 1 and np.shape(v) == (n,)):
            leaves = [jnp.asarray(a) for a in jax.tree_util.tree_leaves(v)]
            _check_real(leaves, "v")
            flat = self.in_structure.ravel(v).astype(self.dtype)
            out = self.matmat(flat[:, None])[:, 0]
            return self.out_structure.unravel(out)
        if isinstance(v, (jax.Array, np.ndarray)) or np.isscalar(v) or isinstance(v, list):
            arr = jnp.asarray(v)
            if arr.ndim == 1 and arr.shape[0] == n:
                return self.matmat(arr[:, None])[:, 0]
            if arr.ndim == 2 and arr.shape[0] == n:
                return self.matmat(arr)
        raise ShapeError(
            f"v must be a flat vector of shape ({n},), a block of shape ({n}, k), or a "
            f"pytree like {self.in_structure.describe()}, but got {describe(v)}."
        )

    def __matmul__(self, other: Any) -> Any:
        return self.mv(other)

    def __rmatmul__(self, other: Any) -> Any:
        # u @ A = (Aᵀ u)ᵀ for a flat u.
        return self.T.mv(other)

    def _check_block(self, V: Any, name: str) -> jax.Array:
        V = jnp.asarray(V)
        _check_real([V], name)
        n = self.shape[1]
        if V.ndim != 2 or V.shape[0] != n:
            raise ShapeError(
                f"{name} must have shape ({n}, k) for an operator of shape {self.shape}, but "
                f"got shape {V.shape}. For one vector use op @ v."
            )
        return V.astype(self.dtype)

    def to_dense(self, *, chunk_size: int | None = None) -> jax.Array:
        """The dense (m, n) matrix, as A applied to the identity in blocks of columns.

        Cost: n matvecs. Raises TooLargeError (before any work) when m·n entries would
        not fit in memory; use jachess.spectral on the operator instead.
        """
        m, n = self.shape
        check_dense_fits(f"matrix of this {type(self).__name__} operator", (m, n), self.dtype)
        chunk = n if chunk_size is None else max(1, int(chunk_size))
        chunk = min(chunk, max(n, 1), 512 if chunk_size is None else chunk)
        columns = []
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            block = jnp.eye(n, stop - start, -start, dtype=self.dtype)
            columns.append(self.matmat(block))
        if not columns:
            return jnp.zeros((m, 0), self.dtype)
        return jnp.concatenate(columns, axis=1)

    def to_scipy(self):
        """A scipy.sparse.linalg.LinearOperator with matvec, matmat and rmatvec (NumPy)."""
        from scipy.sparse.linalg import LinearOperator

        transpose = self.T

        def matvec(v):
            return np.asarray(self.matmat(np.reshape(v, (-1, 1)))).reshape(-1)

        def matmat(V):
            return np.asarray(self.matmat(V))

        def rmatvec(u):
            return np.asarray(transpose.matmat(np.reshape(u, (-1, 1)))).reshape(-1)

        def rmatmat(U):
            return np.asarray(transpose.matmat(U))

        return LinearOperator(
            self.shape,
            matvec=matvec,
            matmat=matmat,
            rmatvec=rmatvec,
            rmatmat=rmatmat,
            dtype=np.dtype(self.dtype),
        )

    def __repr__(self):
        return f"{type(self).__name__}(shape={self.shape}, dtype={np.dtype(self.dtype).name})"


def _check_real(leaves, name):
    for a in leaves:
        if not jnp.issubdtype(a.dtype, jnp.floating) and not jnp.issubdtype(
            a.dtype, jnp.integer
        ):
            raise InputDtypeError(f"{name} must be real, but got dtype {a.dtype}.")


@jax.jit
def _apply_jit(op: AbstractOperator, V: jax.Array) -> jax.Array:
    return op.prepare(once=True)(V)


class TransposedOperator(AbstractOperator):
    """Aᵀ of a non-symmetric operator (for a Jacobian: VJPs instead of JVPs)."""

    _dynamic = ("base",)

    def __init__(self, base: AbstractOperator):
        self.base = base
        self.shape = (base.shape[1], base.shape[0])
        self.dtype = base.dtype
        self.in_structure = base.out_structure
        self.out_structure = base.in_structure
        self.precision = base.precision

    @property
    def T(self):
        return self.base

    def prepare(self, once: bool = False):
        return self.base._prepare_transpose()

    def _prepare_transpose(self):
        return self.base.prepare()


class ComposedOperator(AbstractOperator):
    """A B: apply B, then A (the chain rule's product of Jacobians)."""

    _dynamic = ("left", "right")

    def __init__(self, left: AbstractOperator, right: AbstractOperator):
        if left.shape[1] != right.shape[0]:
            raise ShapeError(
                f"A @ B requires A.shape[1] == B.shape[0], but got A of shape {left.shape} "
                f"and B of shape {right.shape}. Check that B's output is A's input."
            )
        self.left = left
        self.right = right
        self.shape = (left.shape[0], right.shape[1])
        self.dtype = jnp.result_type(left.dtype, right.dtype)
        self.in_structure = right.in_structure
        self.out_structure = left.out_structure
        # Bᵀ B (and B Bᵀ) is symmetric by construction.
        self.symmetric = (isinstance(left, TransposedOperator) and left.base is right) or (
            isinstance(right, TransposedOperator) and right.base is left
        )
        self.precision = "highest" if "highest" in (left.precision, right.precision) else (
            left.precision
        )

    def prepare(self, once: bool = False):
        left, right = self.left.prepare(once), self.right.prepare(once)
        return lambda V: left(right(V))

    def _prepare_transpose(self):
        left, right = self.left._prepare_transpose(), self.right._prepare_transpose()
        return lambda U: right(left(U))


def compose(left: AbstractOperator, right: AbstractOperator) -> ComposedOperator:
    """The product operator left @ right."""
    return ComposedOperator(left, right)


def check_precision(precision: Any) -> str:
    return check_choice("precision", precision, Precision)
