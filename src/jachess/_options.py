"""Literal option checking in one place, so every bad choice reads the same way."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, get_args

from jachess._errors import OptionError

Mode = Literal["auto", "fwd", "rev"]


def check_choice(name: str, value: Any, choices: Iterable[Any] | Any) -> Any:
    """Return `value` if it is one of `choices` (a sequence or a Literal alias).

    Raises:
        OptionError: naming the argument, quoting the bad value and listing the choices.
    """
    options = _options(choices)
    if value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise OptionError(f"{name} must be one of {listed}, but got {value!r}.")
    return value


_OPTIONS: dict[int, tuple] = {}


def _options(choices: Any) -> tuple:
    # Keyed by identity: hashing a typing.Literal costs microseconds on every call.
    key = id(choices)
    if key not in _OPTIONS:
        _OPTIONS[key] = (choices, get_args(choices) or tuple(choices))
    return _OPTIONS[key][1]


def check_positive_int(name: str, value: Any, *, allow_none: bool = False) -> Any:
    """Return `value` if it is a positive int (or None when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        hint = " or None" if allow_none else ""
        raise OptionError(f"{name} must be a positive integer{hint}, but got {value!r}.")
    return value
