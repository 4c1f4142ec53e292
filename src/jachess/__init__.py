"""jachess: Jacobians and Hessians on JAX — exact, sparse when sparse, matrix-free when huge.

Layers (lower never import higher): dense derivatives, sparsity, operators, spectral,
applications (critical, optimize, density, sensitivity), cli.
"""

from jachess import critical as critical
from jachess import density as density
from jachess import operators as operators
from jachess import optimize as optimize
from jachess import sensitivity as sensitivity
from jachess import sparsity as sparsity
from jachess import spectral as spectral
from jachess._api import hessian as hessian
from jachess._api import jacobian as jacobian
from jachess._derivatives._check import DerivativeCheck as DerivativeCheck
from jachess._derivatives._check import check_derivatives as check_derivatives
from jachess._derivatives._products import gradient as gradient
from jachess._derivatives._products import hvp as hvp
from jachess._derivatives._products import jvp as jvp
from jachess._derivatives._products import value_and_gradient as value_and_gradient
from jachess._derivatives._products import vjp as vjp
from jachess._derivatives._slogdet import Slogdet as Slogdet
from jachess._derivatives._slogdet import slogdet_jacobian as slogdet_jacobian
from jachess._derivatives._taylor import TaylorModel as TaylorModel
from jachess._derivatives._taylor import taylor as taylor
from jachess._errors import (
    ConvergenceError as ConvergenceError,
)
from jachess._errors import (
    DerivativeMismatchError as DerivativeMismatchError,
)
from jachess._errors import (
    ExpressionError as ExpressionError,
)
from jachess._errors import (
    InputDtypeError as InputDtypeError,
)
from jachess._errors import (
    JachessError as JachessError,
)
from jachess._errors import (
    JachessInternalError as JachessInternalError,
)
from jachess._errors import (
    NotPositiveDefiniteError as NotPositiveDefiniteError,
)
from jachess._errors import (
    NotScalarError as NotScalarError,
)
from jachess._errors import (
    NotSquareError as NotSquareError,
)
from jachess._errors import (
    NotSymmetricError as NotSymmetricError,
)
from jachess._errors import (
    OptionError as OptionError,
)
from jachess._errors import (
    ShapeError as ShapeError,
)
from jachess._errors import (
    SparsityDetectionError as SparsityDetectionError,
)
from jachess._errors import (
    TooLargeError as TooLargeError,
)

__version__ = "0.1.0"

__all__ = [
    # derivatives
    "check_derivatives",
    "DerivativeCheck",
    "gradient",
    "hessian",
    "hvp",
    "jacobian",
    "jvp",
    "slogdet_jacobian",
    "Slogdet",
    "taylor",
    "TaylorModel",
    "value_and_gradient",
    "vjp",
    # layers and applications
    "critical",
    "density",
    "operators",
    "optimize",
    "sensitivity",
    "sparsity",
    "spectral",
    # errors
    "ConvergenceError",
    "DerivativeMismatchError",
    "ExpressionError",
    "InputDtypeError",
    "JachessError",
    "JachessInternalError",
    "NotPositiveDefiniteError",
    "NotScalarError",
    "NotSquareError",
    "NotSymmetricError",
    "OptionError",
    "ShapeError",
    "SparsityDetectionError",
    "TooLargeError",
]
