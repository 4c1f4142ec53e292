"""Command-line convention shared by every example: --out DIR for figures, --quick for CI."""

from __future__ import annotations

import argparse
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    default_out = Path(__file__).parent.parent / "docs" / "figures"
    parser.add_argument("--out", type=Path, default=default_out,
                        help="folder for the figures (default: docs/figures)")
    parser.add_argument("--quick", action="store_true",
                        help="smaller problem sizes / fewer steps (the test suite uses this)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    return args
