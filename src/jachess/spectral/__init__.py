"""Spectral estimation on matrix-free operators (layer 4).

eigsh (thick-restart Lanczos), trace (XTrace, Hutch++, Hutchinson), diagonal, density
(stochastic Lanczos quadrature), logdet, condition_number. Each compiles its whole loop
with the operator inside jit (no host trip per product); estimators take an explicit
PRNG key and return a standard error.
"""

from jachess.spectral._condition import condition_number as condition_number
from jachess.spectral._density import Density as Density
from jachess.spectral._density import density as density
from jachess.spectral._diagonal import diagonal as diagonal
from jachess.spectral._estimate import Estimate as Estimate
from jachess.spectral._lanczos import EigshResult as EigshResult
from jachess.spectral._lanczos import eigsh as eigsh
from jachess.spectral._logdet import logdet as logdet
from jachess.spectral._trace import trace as trace

__all__ = [
    "condition_number",
    "Density",
    "density",
    "diagonal",
    "EigshResult",
    "eigsh",
    "Estimate",
    "logdet",
    "trace",
]
