"""The bijector protocol (distrax / TFP names) and pytree registration.

A bijector maps one sample x to y = f(x) with a differentiable inverse. Each method
acts on a single sample (an event); its log-det is a scalar, summed over the event.
Batch with jax.vmap. Parameters are pytree leaves, so a bijector can be passed through
jit, vmap and grad and trained with optax; configuration (a mask, a permutation, a
plain-function conditioner) is static.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jachess._errors import InputDtypeError, ShapeError


def _is_opaque(value: Any) -> bool:
    """A callable that is not a pytree of arrays (a plain function): static, not a leaf."""
    if not callable(value) or isinstance(value, jax.Array):
        return False
    leaves = jax.tree_util.tree_leaves(value)
    return len(leaves) == 1 and leaves[0] is value


class AbstractBijector:
    """Base class: subclasses define forward_and_log_det and inverse_and_log_det.

    Subclasses list their parameter names in ``_fields`` (pytree leaves unless the value
    is a plain function) and their configuration in ``_static_fields`` (hashable).

    Methods (distrax / TFP names):
        forward(x) -> y
        inverse(y) -> x
        forward_and_log_det(x) -> (y, log|det J_f(x)|)
        inverse_and_log_det(y) -> (x, log|det J_{f⁻¹}(y)|)
        forward_log_det_jacobian(x), inverse_log_det_jacobian(y)
    """

    _fields: tuple[str, ...] = ()
    _static_fields: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        jax.tree_util.register_pytree_node(cls, cls._tree_flatten, cls._tree_unflatten)

    def _tree_flatten(self):
        dynamic_names, children, static = [], [], []
        for name in self._fields:
            value = getattr(self, name)
            if _is_opaque(value):
                static.append((name, value))
            else:
                dynamic_names.append(name)
                children.append(value)
        static.extend((name, getattr(self, name)) for name in self._static_fields)
        return tuple(children), (tuple(dynamic_names), tuple(static))

    @classmethod
    def _tree_unflatten(cls, aux, children):
        dynamic_names, static = aux
        obj = object.__new__(cls)
        for name, value in zip(dynamic_names, children, strict=True):
            object.__setattr__(obj, name, value)
        for name, value in static:
            object.__setattr__(obj, name, value)
        return obj

    def forward_and_log_det(self, x):
        raise NotImplementedError(
            f"{type(self).__name__} must define forward_and_log_det(x) -> (y, log|det J|); "
            "every bijector subclass implements it."
        )

    def inverse_and_log_det(self, y):
        raise NotImplementedError(
            f"{type(self).__name__} must define inverse_and_log_det(y) -> (x, log|det J⁻¹|); "
            "every bijector subclass implements it."
        )

    def forward(self, x):
        """y = f(x)."""
        return self.forward_and_log_det(x)[0]

    def inverse(self, y):
        """x = f⁻¹(y)."""
        return self.inverse_and_log_det(y)[0]

    def forward_log_det_jacobian(self, x):
        """log|det J_f(x)|, a scalar."""
        return self.forward_and_log_det(x)[1]

    def inverse_log_det_jacobian(self, y):
        """log|det J_{f⁻¹}(y)| = -log|det J_f(f⁻¹(y))|, a scalar."""
        return self.inverse_and_log_det(y)[1]

    def __repr__(self) -> str:
        parts = []
        for name in self._fields + self._static_fields:
            value = getattr(self, name)
            shape = getattr(value, "shape", None)
            parts.append(f"{name}=<{value.dtype}{list(shape)}>" if shape is not None
                         else f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


def as_sample(x: Any, name: str) -> jax.Array:
    """A floating JAX array (tracers pass through); integers are promoted to float."""
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise InputDtypeError(f"{name} must be real, but got dtype {x.dtype}.")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def as_event_vector(x: Any, size: int, name: str, owner: str) -> jax.Array:
    """Require one event: a 1-D float array of length `size`."""
    x = as_sample(x, name)
    if x.shape != (size,):
        raise ShapeError(
            f"{owner} acts on one sample of shape ({size},), but {name} has shape "
            f"{tuple(x.shape)}. For a batch of samples use jax.vmap, e.g. "
            "jax.vmap(bijector.forward)(xs)."
        )
    return x


def as_parameter(value: Any, name: str, owner: str) -> jax.Array:
    """A floating parameter array (tracers pass through during training)."""
    if isinstance(value, jax.core.Tracer):
        return value
    array = jnp.asarray(value)
    if jnp.issubdtype(array.dtype, jnp.complexfloating):
        raise InputDtypeError(f"{owner} needs a real {name}, but got dtype {array.dtype}.")
    if not jnp.issubdtype(array.dtype, jnp.floating):
        array = array.astype(jnp.result_type(float))
    return array
