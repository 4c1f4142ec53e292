"""Plain-text tables and JSON-safe values for the command line."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def number(value: float, digits: int = 6) -> str:
    """A float in at most `digits` significant digits; exact zeros print as 0."""
    value = float(value)
    if value == 0:
        return "0"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if math.isnan(value):
        return "nan"
    return f"{value:.{digits}g}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], indent: int = 2) -> str:
    """Left-aligned first column, right-aligned numbers, one space-padded line per row."""
    cells = [[str(h) for h in header]] + [
        [c if isinstance(c, str) else number(c) for c in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row):
        first = row[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        return " " * indent + "  ".join([first, *rest]).rstrip()

    rule = " " * indent + "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def matrix_table(matrix: np.ndarray, row_names: Sequence[str], col_names: Sequence[str]) -> str:
    """A labelled matrix."""
    return table(["", *col_names], [[r, *map(float, row)] for r, row in zip(row_names, matrix)])


def jsonable(value: Any) -> Any:
    """Convert arrays and numpy scalars to lists/floats; inf and nan become None (JSON null)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return jsonable(np.asarray(value).tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def dumps(value: Any) -> str:
    """Stable, indented JSON."""
    return json.dumps(jsonable(value), indent=2, allow_nan=False)
