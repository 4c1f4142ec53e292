"""Test configuration: float64 everywhere (accuracy tests need it) and one PRNG key fixture."""

import jax
import pytest

jax.config.update("jax_enable_x64", True)


@pytest.fixture
def key():
    """The only source of randomness in tests: a fixed key."""
    return jax.random.key(20261126)
