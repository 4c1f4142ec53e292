"""Error classes: one per kind of mistake, each subclassing the matching built-in.

Messages follow one grammar: what was required, what was got, how to fix it.
`JachessInternalError` is reserved for library bugs, so users can tell the two apart.
"""

from __future__ import annotations


class JachessError(Exception):
    """Base class of every error jachess raises on purpose."""


class InputDtypeError(JachessError, TypeError):
    """An input has a dtype that cannot be differentiated (integers, booleans, ...)."""


class ShapeError(JachessError, ValueError):
    """Arrays or pytrees whose shapes or structures do not fit together."""


class NotScalarError(JachessError, ValueError):
    """A function that must return a scalar returned something else."""


class NotSquareError(JachessError, ValueError):
    """A determinant or root-finding problem whose Jacobian is not square."""


class OptionError(JachessError, ValueError):
    """An option outside its documented set of choices or range."""


class TooLargeError(JachessError, MemoryError):
    """A dense result that would not fit in memory."""


class DerivativeMismatchError(JachessError, AssertionError):
    """Automatic derivatives disagree with finite differences (check_derivatives)."""


class SparsityDetectionError(JachessError, ValueError):
    """Sparsity detection could not prove a pattern and strict=True was asked."""


class ExpressionError(JachessError, ValueError):
    """A command-line expression outside the safe expression language."""


class ConvergenceError(JachessError, RuntimeError):
    """An iterative method did not converge and throw=True was asked."""


class JachessInternalError(JachessError, RuntimeError):
    """A bug in jachess itself; please report it with the traceback."""


class NotSymmetricError(JachessError, ValueError):
    """A symmetric operator was required (eigsh, density, logdet) and another was given."""


class NotPositiveDefiniteError(JachessError, ValueError):
    """An operator that must be positive definite (logdet) showed a non-positive eigenvalue."""
