"""Sensitivity analysis: local (the Jacobian at a point) and global (DGSM).

local(f, x) reads column j of J as how every output moves with input j, adds
elasticities and ranks the inputs; dgsm(f, sampler, N, key=...) averages squared
gradients over the input distribution, with confidence intervals.
"""

from jachess.sensitivity._dgsm import DGSM as DGSM
from jachess.sensitivity._dgsm import dgsm as dgsm
from jachess.sensitivity._local import SensitivityTable as SensitivityTable
from jachess.sensitivity._local import local as local

__all__ = ["DGSM", "SensitivityTable", "dgsm", "local"]
