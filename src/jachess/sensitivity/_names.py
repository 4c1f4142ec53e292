"""Names of flattened entries, and the ranked text tables both results print."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from jachess._errors import ShapeError


def entry_names(tree: Any, base: str) -> list[str]:
    """One name per flattened entry: 'x[0]', 'x[1, 2]', "x['a']", or `base` for a scalar."""
    names = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        prefix = base + jax.tree_util.keystr(path)
        shape = np.shape(leaf)
        if shape == ():
            names.append(prefix)
        else:
            names.extend(f"{prefix}[{', '.join(map(str, i))}]" for i in np.ndindex(*shape))
    return names


def check_names(names: Sequence[str] | None, n: int, default: list[str], argument: str):
    if names is None:
        return default
    if isinstance(names, str):
        names = [s.strip() for s in names.split(",")]
    names = [str(s) for s in names]
    if len(names) != n:
        raise ShapeError(
            f"{argument} must give one name per input entry: expected {n} names, got "
            f"{len(names)} ({names!r})."
        )
    return names


def format_number(value: float) -> str:
    if not np.isfinite(value):
        return "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf")
    return f"{value:.6g}"


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned first column, right-aligned numbers, one rule under the header."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        first = str(cells[0]).ljust(widths[0])
        rest = [str(c).rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])
