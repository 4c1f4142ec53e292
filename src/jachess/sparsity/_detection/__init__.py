"""Sparsity detection by abstract interpretation of jaxprs."""

from jachess.sparsity._detection._api import hessian_pattern as hessian_pattern
from jachess.sparsity._detection._api import jacobian_pattern as jacobian_pattern
from jachess.sparsity._detection._interpret import SparsityWarning as SparsityWarning
