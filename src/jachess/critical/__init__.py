"""Stationary points: classify a point by its Hessian's eigenvalues."""

from jachess.critical._classify import Classification as Classification
from jachess.critical._classify import classify as classify

__all__ = ["Classification", "classify"]
