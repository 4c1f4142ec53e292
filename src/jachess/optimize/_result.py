"""The result of every solver: a pytree with an enum status and a prose message.

Inside the jitted loops the status is a small integer (`Status` values); the front
functions turn it into the enum and its message once the solve has finished, so no
caller ever sees a magic number.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jachess._errors import ConvergenceError


class Status(enum.IntEnum):
    """Why a solver stopped."""

    CONVERGED = 0
    MAX_ITERATIONS = 1
    LINE_SEARCH_FAILED = 2
    STALLED = 3
    NONFINITE = 4

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    Status.CONVERGED: "Converged: the stopping test on the gradient (or residual) was met.",
    Status.MAX_ITERATIONS: (
        "Stopped at max_iterations before the tolerance was met; raise max_iterations "
        "or loosen tol."
    ),
    Status.LINE_SEARCH_FAILED: (
        "The line search found no acceptable step along the search direction (often "
        "rounding near a minimum, or a function that is not smooth there)."
    ),
    Status.STALLED: (
        "No further progress was possible at machine precision (the step or the trust "
        "region shrank to rounding level) before the tolerance was met."
    ),
    Status.NONFINITE: (
        "The function, its gradient or the step became NaN or infinite; check the "
        "function's domain or start closer to a solution."
    ),
}


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class OptimizeResult:
    """Outcome of `minimize`, `least_squares` or `root`.

    Attributes:
        x: the solution, in the structure of x0.
        fun: f(x) for minimize; the residual / F(x) (flat vector) for least_squares and root.
        cost: ½‖r‖² for least_squares (and ½‖F‖² for root); f(x) for minimize.
        gradient_norm: ‖∇f‖∞ (minimize) or ‖Jᵀr‖∞ (least squares, root).
        status: a `Status`; success means Status.CONVERGED.
        message: prose explaining the status.
        num_iterations, num_fun, num_grad, num_hess, num_hvp, num_jac: counts.
    """

    x: Any
    fun: Any
    cost: Any
    gradient_norm: Any
    num_iterations: Any
    num_fun: Any
    num_grad: Any
    num_hess: Any
    num_hvp: Any
    num_jac: Any
    status: Status = field(metadata={"static": True}, default=Status.CONVERGED)
    method: str = field(metadata={"static": True}, default="")

    @property
    def success(self) -> bool:
        return self.status == Status.CONVERGED

    @property
    def message(self) -> str:
        return self.status.message

    def __repr__(self) -> str:
        return (
            f"OptimizeResult(method={self.method!r}, success={self.success}, "
            f"status={self.status.name}, cost={float(self.cost):.6g}, "
            f"num_iterations={int(self.num_iterations)}, x={self.x!r})"
        )


def counts(**kwargs) -> dict:
    """Integer counters for the loop state (all five kinds, zero unless given)."""
    names = ("fun", "grad", "hess", "hvp", "jac")
    return {k: jnp.asarray(kwargs.get(k, 0), jnp.int32) for k in names}


_COUNTS = ("fun", "grad", "hess", "hvp", "jac")


def pack(raw: dict, x) -> tuple:
    """A solver's raw output as few arrays (x, fun, cost, ‖g‖, [k, status, counts...]).

    Fewer outputs make the jitted call cheaper to return, and the integers come to the
    host in one transfer.
    """
    ints = jnp.stack(
        [jnp.asarray(raw["iterations"], jnp.int32), jnp.asarray(raw["status"], jnp.int32)]
        + [jnp.asarray(raw["counts"][k], jnp.int32) for k in _COUNTS]
    )
    return x, raw["fun"], raw["cost"], raw["gradient_norm"], ints


def finish(packed: tuple, method: str, throw: bool) -> OptimizeResult:
    """Build the public result from `pack`'s output (one host transfer for the integers)."""
    x, fun, cost, gradient_norm, ints = packed
    ints = np.asarray(ints).tolist()
    status = Status(ints[1])
    result = OptimizeResult(
        x=x,
        fun=fun,
        cost=cost,
        gradient_norm=gradient_norm,
        num_iterations=ints[0],
        num_fun=ints[2],
        num_grad=ints[3],
        num_hess=ints[4],
        num_hvp=ints[5],
        num_jac=ints[6],
        status=status,
        method=method,
    )
    if throw and status != Status.CONVERGED:
        raise ConvergenceError(
            f"{method} was required to converge, but it stopped with status {status.name} "
            f"after {result.num_iterations} iterations (cost {float(result.cost):.6g}, "
            f"gradient norm {float(result.gradient_norm):.3g}). {status.message}"
        )
    return result


def minimize_output(state: dict) -> dict:
    """A minimiser's final loop state (x, f, g, k, counts, status) as the raw output dict."""
    return dict(
        x=state["x"],
        fun=state["f"],
        cost=state["f"],
        gradient_norm=jnp.max(jnp.abs(state["g"]), initial=0.0),
        iterations=state["k"],
        counts=state["counts"],
        status=state["status"],
    )
