"""Datasets for curvature operators: batching, weighting by batch size, device sharding.

Two kinds of data:

* Arrays (a tuple / pytree of arrays with a common leading axis of N examples) with
  `batch_size=b`: reshaped once into N // b full batches (a `lax.scan`, so one trace for
  all of them) plus one remainder batch of N % b examples. The whole pass runs inside
  jit, and spectral loops keep it on the device.
* An iterable of batches (a list, or any object whose `iter()` gives a fresh pass, such
  as a DataLoader): streamed from the host on every matvec; one compiled program per
  distinct batch shape, so a smaller last batch costs one extra compile, not one per pass.

Both weight batch b by n_b / N: the operator is the curvature of the mean loss over all
examples, whatever the batch sizes (given that `loss` returns each batch's mean).

Sharding (data parallel): when several devices are visible, each batch is split along
its example axis over a 1-D mesh ("batch") and the parameters are replicated; jit then
runs every product on all devices and reduces across them (XLA inserts the all-reduce).
Results equal one device's up to the order of floating-point sums.

Multi-host plan: after `jax.distributed.initialize()`, `jax.devices()` lists every
device of every host; build the global batch with
`jax.make_array_from_process_local_data(NamedSharding(mesh, P("batch")), local_batch)`
on each host and pass those arrays as `data`; the same jitted code then runs SPMD across
hosts (iterables must yield the same number of batches on every host).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jachess._errors import ShapeError
from jachess._options import check_positive_int
from jachess._trees import describe


def resolve_devices(devices: Any) -> tuple | None:
    """None -> all visible devices when there are several; a sequence -> those devices."""
    if devices is None:
        found = jax.devices()
        return tuple(found) if len(found) > 1 else None
    found = tuple(devices)
    return found if len(found) > 1 else None


def _mesh(devices):
    return Mesh(np.asarray(devices), ("batch",))


def shard_batch(tree: Any, devices: tuple | None, axis: int = 0) -> Any:
    """Split every leaf of `tree` along `axis` over `devices` (replicated if not divisible)."""
    if devices is None:
        return tree
    mesh = _mesh(devices)
    count = len(devices)

    def put(a):
        a = jnp.asarray(a)
        if a.ndim > axis and a.shape[axis] % count == 0:
            spec = P(*([None] * axis), "batch")
        else:
            spec = P()
        return jax.device_put(a, NamedSharding(mesh, spec))

    return jax.tree_util.tree_map(put, tree)


def replicate(tree: Any, devices: tuple | None) -> Any:
    if devices is None:
        return tree
    sharding = NamedSharding(_mesh(devices), P())
    return jax.tree_util.tree_map(lambda a: jax.device_put(jnp.asarray(a), sharding), tree)


def _leading(tree: Any, name: str) -> int:
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        raise ShapeError(f"{name} must contain at least one array, but got {tree!r}.")
    sizes = {np.shape(a)[0] if np.ndim(a) else None for a in leaves}
    if len(sizes) != 1 or None in sizes:
        raise ShapeError(
            f"every array in {name} must have the same leading (example) axis, but got "
            f"{describe(tree)}."
        )
    return int(sizes.pop())


class ArrayData:
    """Arrays split into `num_full` batches of `batch_size` plus a remainder (jit-friendly)."""

    def __init__(self, arrays: Any, batch_size: int | None, devices: tuple | None):
        arrays = jax.tree_util.tree_map(jnp.asarray, arrays)
        total = _leading(arrays, "data")
        if total == 0:
            raise ShapeError("data must hold at least one example, but its leading axis is 0.")
        size = total if batch_size is None else min(batch_size, total)
        if devices is not None and size % len(devices) != 0:
            devices = None  # a batch that cannot be split evenly runs replicated
        self.total = total
        self.batch_size = size
        self.num_full = total // size
        self.remainder = total - self.num_full * size
        full = jax.tree_util.tree_map(
            lambda a: a[: self.num_full * size].reshape(self.num_full, size, *a.shape[1:]),
            arrays,
        )
        self.full = shard_batch(full, devices, axis=1)
        rest = jax.tree_util.tree_map(lambda a: a[self.num_full * size :], arrays)
        self.rest = shard_batch(rest, devices) if self.remainder else None
        self.devices = devices

    def layout(self) -> tuple[int, int, int, int]:
        return (self.total, self.batch_size, self.num_full, self.remainder)


def weighted_sum(fn: Callable[[Any, jax.Array], Any], full: Any, rest: Any, layout) -> Any:
    """Σ_b (n_b / N) fn(batch_b, b) over ArrayData's batches, one trace for all full ones."""
    total, batch_size, num_full, remainder = layout
    weight_full = batch_size / total

    def body(carry, xs):
        index, batch = xs
        out = fn(batch, index)
        return jax.tree_util.tree_map(lambda c, o: c + weight_full * o, carry, out), None

    first = jax.tree_util.tree_map(lambda a: a[0], full)
    shape = jax.eval_shape(fn, first, jnp.int32(0))
    acc = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shape)
    indices = jnp.arange(num_full, dtype=jnp.int32)
    # Up to 8 batches are unrolled: XLA:CPU ran the benchmark CNN's convolutions about 7x
    # slower inside a loop (benchmarks/results/curvature.md); more batches stay a loop.
    acc, _ = jax.lax.scan(body, acc, (indices, full), unroll=num_full if num_full <= 8 else 1)
    if remainder:
        out = fn(rest, jnp.int32(num_full))
        acc = jax.tree_util.tree_map(lambda c, o: c + (remainder / total) * o, acc, out)
    return acc


class IterableData:
    """Batches streamed from a re-iterable source on every pass (host loop)."""

    def __init__(self, source: Iterable, devices: tuple | None, progress: bool):
        if iter(source) is source:
            raise ShapeError(
                "data is a one-shot iterator (a generator?), but every matvec needs a fresh "
                "pass over the dataset. Pass a list of batches, an object whose iter() starts "
                "a new pass (e.g. a DataLoader), or arrays with batch_size=..."
            )
        self.source = source
        self.devices = devices
        self.progress = progress

    def passes(self) -> Iterable[tuple[int, Any, int]]:
        """Yield (index, batch on the devices, number of examples) for one pass."""
        count = 0
        for index, batch in enumerate(self.source):
            batch = jax.tree_util.tree_map(jnp.asarray, batch)
            size = _leading(batch, "each batch of data")
            devices = self.devices
            if devices is not None and size % len(devices) != 0:
                devices = None
            count += 1
            if self.progress:
                print(f"\rjachess: batch {index + 1}", end="", file=sys.stderr, flush=True)
            yield index, shard_batch(batch, devices), size
        if self.progress:
            print(file=sys.stderr, flush=True)
        if count == 0:
            raise ShapeError("data yielded no batches; pass at least one batch.")


def make_data(data: Any, batch_size: int | None, devices: Any, progress: bool):
    """ArrayData for a tuple/pytree of arrays, IterableData for a list or other iterable."""
    check_positive_int("batch_size", batch_size, allow_none=True)
    devices = resolve_devices(devices)
    if batch_size is not None or not _is_iterable_of_batches(data):
        return ArrayData(data, batch_size, devices)
    return IterableData(data, devices, progress)


def _is_iterable_of_batches(data: Any) -> bool:
    """A list or an unregistered iterable object (DataLoader) holds batches; a tuple,
    dict, NamedTuple or any other registered pytree holds arrays."""
    if isinstance(data, list) or hasattr(data, "__next__"):
        return True
    if isinstance(data, (tuple, dict, jax.Array, np.ndarray)):
        return False
    if jax.tree_util.tree_structure(data).num_nodes > 1:
        return False
    try:
        iter(data)
    except TypeError:
        return False
    return True
