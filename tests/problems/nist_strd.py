"""The NIST StRD nonlinear regression problems (27 data sets, two starts each).

NIST ITL's Statistical Reference Datasets (public domain) certify, for each data set,
the least-squares parameters b to 11 significant digits, their standard deviations and
the residual sum of squares, computed by NIST in 128-bit arithmetic. The .dat files are
not kept in this repository: `make test` fetches them into .cache/nist_strd/ (see
fetch_nist_strd.py). This module parses them and defines the 27 model functions, written
here in jax.numpy from the formula in each file's header; the residual is
r(b) = y - f(x, b) (Nelson's response is log y).

Accuracy is scored by NIST's log relative error, LRE = -log10(|b - b*| / |b*|), capped
at 11 (the certified digits).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / ".cache" / "nist_strd"
CERTIFIED_DIGITS = 11.0


def _misra1a(b, x):
    return b[0] * (1 - jnp.exp(-b[1] * x))


def _chwirut(b, x):
    return jnp.exp(-b[0] * x) / (b[1] + b[2] * x)


def _lanczos(b, x):
    return b[0] * jnp.exp(-b[1] * x) + b[2] * jnp.exp(-b[3] * x) + b[4] * jnp.exp(-b[5] * x)


def _gauss(b, x):
    return (
        b[0] * jnp.exp(-b[1] * x)
        + b[2] * jnp.exp(-((x - b[3]) ** 2) / b[4] ** 2)
        + b[5] * jnp.exp(-((x - b[6]) ** 2) / b[7] ** 2)
    )


def _danwood(b, x):
    return b[0] * x ** b[1]


def _misra1b(b, x):
    return b[0] * (1 - (1 + b[1] * x / 2) ** (-2))


def _rational(numerator_degree):
    """(b1 + b2 x + ... ) / (1 + b x + ...): Kirby2 (2/2), Hahn1 and Thurber (3/3)."""

    def model(b, x):
        num = jnp.polyval(b[: numerator_degree + 1][::-1], x)
        den = 1 + x * jnp.polyval(b[numerator_degree + 1 :][::-1], x)
        return num / den

    return model


def _nelson(b, x):
    return b[0] - b[1] * x[:, 0] * jnp.exp(-b[2] * x[:, 1])


def _mgh17(b, x):
    return b[0] + b[1] * jnp.exp(-x * b[3]) + b[2] * jnp.exp(-x * b[4])


def _misra1c(b, x):
    return b[0] * (1 - (1 + 2 * b[1] * x) ** (-0.5))


def _misra1d(b, x):
    return b[0] * b[1] * x * (1 + b[1] * x) ** (-1)


def _roszman1(b, x):
    return b[0] - b[1] * x - jnp.arctan(b[2] / (x - b[3])) / math.pi


def _enso(b, x):
    w = 2 * math.pi * x
    return (
        b[0] + b[1] * jnp.cos(w / 12) + b[2] * jnp.sin(w / 12)
        + b[4] * jnp.cos(w / b[3]) + b[5] * jnp.sin(w / b[3])
        + b[7] * jnp.cos(w / b[6]) + b[8] * jnp.sin(w / b[6])
    )


def _mgh09(b, x):
    return b[0] * (x**2 + x * b[1]) / (x**2 + x * b[2] + b[3])


def _rat42(b, x):
    return b[0] / (1 + jnp.exp(b[1] - b[2] * x))


def _mgh10(b, x):
    return b[0] * jnp.exp(b[1] / (x + b[2]))


def _eckerle4(b, x):
    return (b[0] / b[1]) * jnp.exp(-0.5 * ((x - b[2]) / b[1]) ** 2)


def _rat43(b, x):
    return b[0] / (1 + jnp.exp(b[1] - b[2] * x)) ** (1 / b[3])


def _bennett5(b, x):
    return b[0] * (b[1] + x) ** (-1 / b[2])


# NIST's order: lower, average, then higher difficulty.
MODELS: dict[str, Callable] = {
    "Misra1a": _misra1a, "Chwirut2": _chwirut, "Chwirut1": _chwirut, "Lanczos3": _lanczos,
    "Gauss1": _gauss, "Gauss2": _gauss, "DanWood": _danwood, "Misra1b": _misra1b,
    "Kirby2": _rational(2), "Hahn1": _rational(3), "Nelson": _nelson, "MGH17": _mgh17,
    "Lanczos1": _lanczos, "Lanczos2": _lanczos, "Gauss3": _gauss, "Misra1c": _misra1c,
    "Misra1d": _misra1d, "Roszman1": _roszman1, "ENSO": _enso, "MGH09": _mgh09,
    "Thurber": _rational(3), "BoxBOD": _misra1a, "Rat42": _rat42, "MGH10": _mgh10,
    "Eckerle4": _eckerle4, "Rat43": _rat43, "Bennett5": _bennett5,
}
LOG_RESPONSE = {"Nelson"}


@dataclass(frozen=True, eq=False)
class Problem:
    """One data set: data, starts, certified values, and its residual r(b) = y - f(x, b)."""

    name: str
    difficulty: str
    x: np.ndarray
    y: np.ndarray
    starts: tuple[np.ndarray, np.ndarray]
    certified: np.ndarray
    certified_sd: np.ndarray
    certified_rss: float
    response: np.ndarray  # what the model fits: y, or log y for Nelson
    residual: Callable = field(repr=False)


def _numbers(line: str) -> list[float]:
    return [float(t) for t in line.split("=", 1)[-1].split()]


def parse(path: Path) -> Problem:
    """Read one NIST StRD .dat file (the layout of its header: 'Data (lines a to b)')."""
    lines = path.read_text().splitlines()
    text = "\n".join(lines)
    first, last = map(int, re.search(r"Data\s+\(lines\s+(\d+)\s+to\s+(\d+)\)", text).groups())
    params = [ln for ln in lines[:first] if re.match(r"\s*b\d+\s*=", ln)]
    table = np.array([_numbers(ln) for ln in params])
    rss = float(re.search(r"Residual Sum of Squares:\s+(\S+)", text).group(1))
    difficulty = re.search(r"(Lower|Average|Higher) Level of Difficulty", text).group(1)
    data = np.array([[float(t) for t in ln.split()] for ln in lines[first - 1 : last]])
    name = path.stem
    y = data[:, 0]
    x = data[:, 1] if data.shape[1] == 2 else data[:, 1:]
    model = MODELS[name]
    response = np.log(y) if name in LOG_RESPONSE else y
    y_fit, x_fit = jnp.asarray(response), jnp.asarray(x)

    def residual(b):
        return y_fit - model(b, x_fit)

    residual.__name__ = f"{name}_residual"
    return Problem(
        name=name, difficulty=difficulty, x=x, y=y,
        starts=(table[:, 0].copy(), table[:, 1].copy()),
        certified=table[:, 2].copy(), certified_sd=table[:, 3].copy(),
        certified_rss=rss, response=response, residual=residual,
    )


def missing_data_message(folder: Path = DATA_DIR) -> str:
    return (
        f"The NIST StRD data files are missing from {folder}. Run `make test` (it fetches "
        f"them), or `python tests/problems/fetch_nist_strd.py {folder}`."
    )


def load_problems(folder: Path = DATA_DIR) -> list[Problem]:
    """All 27 problems in NIST's order; FileNotFoundError (saying how to fetch) if absent."""
    paths = [folder / f"{name}.dat" for name in MODELS]
    if not all(p.exists() for p in paths):
        raise FileNotFoundError(missing_data_message(folder))
    return [parse(p) for p in paths]


def lre(value, certified) -> np.ndarray:
    """Log relative error -log10(|b - b*| / |b*|) per entry, capped at 11 (b* = 0: absolute)."""
    value = np.asarray(value, dtype=np.float64)
    certified = np.asarray(certified, dtype=np.float64)
    scale = np.where(certified == 0, 1.0, np.abs(certified))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -np.log10(np.abs(value - certified) / scale)
    out = np.where(np.isnan(out), 0.0, out)
    return np.minimum(out, CERTIFIED_DIGITS)


def solved(problem: Problem, b, digits: float = 4.0) -> bool:
    """LRE >= digits in every certified parameter (the issue's success test)."""
    return bool(np.all(lre(b, problem.certified) >= digits))
