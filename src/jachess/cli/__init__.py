"""The `jachess` command line: analyze, demo (and more subcommands as layers land).

Every subcommand has --help; results print as tables, --json gives machine-readable
output, --plot FILE.png saves a picture where one fits. Errors print one line and exit
with status 2, never a traceback (library bugs excepted).
"""

from __future__ import annotations

import argparse
import os
import sys

from jachess._errors import JachessError, JachessInternalError

SUBCOMMANDS = ("_analyze", "_critical", "_minimize", "_sensitivity", "_report", "_demo")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="jachess",
        description="Jacobians and Hessians from the command line: derivatives, "
        "classification of stationary points, optimisation, sensitivity.",
    )
    parser.add_argument("--version", action="version", version=f"jachess {_version()}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"jachess.cli.{name}").add_parser(subparsers)
    return parser


def _version() -> str:
    from jachess import __version__

    return __version__


def configure_jax() -> None:
    """Float64 for exact answers, and a persistent compilation cache across runs."""
    import jax

    jax.config.update("jax_enable_x64", True)
    cache = os.environ.get("JACHESS_CACHE_DIR",
                           os.path.join(os.path.expanduser("~"), ".cache", "jachess", "xla"))
    if cache and cache != "off":
        try:
            jax.config.update("jax_compilation_cache_dir", cache)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
        except (AttributeError, ValueError):  # older JAX without these options
            pass


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `jachess` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    configure_jax()
    try:
        return int(args.run(args) or 0)
    except JachessInternalError:
        raise
    except (JachessError, ValueError, TypeError) as error:
        if os.environ.get("JACHESS_DEBUG"):
            raise
        print(f"jachess: error: {error}", file=sys.stderr)
        return 2
    except ImportError as error:
        print(f"jachess: error: {error}. Install the extra it needs, e.g. "
              "pip install 'jachess[plot]'.", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
