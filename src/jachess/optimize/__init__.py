"""Optimisation with exact derivatives: minimize, least_squares, root.

Every solve is one jitted lax.while_loop (compiled once per function and shape);
results are `OptimizeResult` pytrees with a `Status` enum and a prose message.
"""

from jachess.optimize._least_squares import least_squares as least_squares
from jachess.optimize._minimize import minimize as minimize
from jachess.optimize._result import OptimizeResult as OptimizeResult
from jachess.optimize._result import Status as Status
from jachess.optimize._root import root as root

__all__ = ["least_squares", "minimize", "OptimizeResult", "root", "Status"]
