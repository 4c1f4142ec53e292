"""Stationary points: classify a point by its Hessian's eigenvalues; find them all in a box."""

from jachess.critical._classify import Classification as Classification
from jachess.critical._classify import classify as classify
from jachess.critical._find import find as find

__all__ = ["Classification", "classify", "find"]
