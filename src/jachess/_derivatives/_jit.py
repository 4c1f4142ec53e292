"""Compile once per user function: jit with the function as a static argument.

jax.jit keys its cache on the static argument's hash, i.e. the identity of `f`, so
calling a derivative again with the same function and shapes reuses the compiled
program without tracing `f` again. Unhashable callables fall back to a fresh jit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax


def jit_with_static_function(impl: Callable, static_argnames: tuple[str, ...] = ()) -> Callable:
    """Return impl(f, *args, **static) jitted with `f` and `static_argnames` static."""
    jitted = jax.jit(impl, static_argnums=(0,), static_argnames=static_argnames)

    @functools.wraps(impl)
    def call(f, *args, **kwargs):
        if type(f).__hash__ is None:
            return jax.jit(functools.partial(impl, f), static_argnames=static_argnames)(
                *args, **kwargs
            )
        return jitted(f, *args, **kwargs)

    return call
