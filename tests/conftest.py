"""Test configuration: float64 everywhere (accuracy tests need it) and one PRNG key fixture."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)


@pytest.fixture
def key():
    """The only source of randomness in tests: a fixed key."""
    return jax.random.key(20261126)
