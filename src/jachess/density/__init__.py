"""Change of variables and bijectors (distrax / TFP protocol).

Every bijector acts on one sample and has forward, inverse, forward_and_log_det and
inverse_and_log_det; log-dets are scalars summed over the sample. Batch with jax.vmap.
Bijectors are pytrees: their parameters train with optax.
"""

from jachess.density._bijector import AbstractBijector as AbstractBijector
from jachess.density._chain import Chain as Chain
from jachess.density._chain import Permutation as Permutation
from jachess.density._coupling import AffineCoupling as AffineCoupling
from jachess.density._coupling import MaskedAutoregressive as MaskedAutoregressive
from jachess.density._elementwise import Affine as Affine
from jachess.density._elementwise import Sigmoid as Sigmoid
from jachess.density._elementwise import Softplus as Softplus
from jachess.density._elementwise import Tanh as Tanh
from jachess.density._planar import Planar as Planar
from jachess.density._pushforward import pushforward as pushforward

__all__ = [
    "AbstractBijector",
    "Affine",
    "AffineCoupling",
    "Chain",
    "MaskedAutoregressive",
    "Permutation",
    "Planar",
    "Sigmoid",
    "Softplus",
    "Tanh",
    "pushforward",
]
