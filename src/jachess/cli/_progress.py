"""A spinner on stderr while long CLI work runs: on a terminal only, quiet otherwise."""

from __future__ import annotations

import contextlib
import sys


@contextlib.contextmanager
def working(message: str):
    """Show `message` with a spinner (rich) when stderr is a TTY; do nothing otherwise."""
    if not sys.stderr.isatty():
        yield
        return
    try:
        from rich.console import Console
    except ImportError:
        print(message + " ...", file=sys.stderr, flush=True)
        yield
        return
    with Console(stderr=True).status(message):
        yield
