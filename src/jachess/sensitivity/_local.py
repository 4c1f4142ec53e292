"""Local sensitivity: the Jacobian at a point read as a table of sensitivities.

Column j of J is how every output moves with input j: f(x + h e_j) ≈ f(x) + h J[:, j].
The elasticity E[i, j] = (x_j / f_i) ∂f_i/∂x_j is the same in relative terms: the
percentage change of f_i per percent change of x_j (NaN where f_i = 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from jachess._derivatives._dense import dense_jacobian
from jachess._trees import as_float_tree, flatten_function, tree_size
from jachess.sensitivity._names import check_names, entry_names, format_number, format_table


@dataclass(frozen=True)
class SensitivityTable:
    """The Jacobian of f at x as a ranked sensitivity table (NumPy arrays, flattened).

    Attributes:
        x: the point, flattened (n,).
        value: f(x), flattened (m,).
        jacobian: J[i, j] = ∂f_i/∂x_j, shape (m, n).
        elasticities: (x_j / f_i) J[i, j], shape (m, n); NaN where f_i = 0.
        ranking: (m, n) input indices per output, by decreasing |J[i, j]| (ties keep
            input order).
        names: the n input names.
        output_names: the m output names.
    """

    x: np.ndarray
    value: np.ndarray
    jacobian: np.ndarray
    elasticities: np.ndarray
    ranking: np.ndarray
    names: list[str]
    output_names: list[str]

    def ranked(self, output: int = 0) -> list[tuple[str, float, float]]:
        """(name, ∂f/∂x, elasticity) for one output, most important input first."""
        return [(self.names[j], float(self.jacobian[output, j]),
                 float(self.elasticities[output, j])) for j in self.ranking[output]]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: per output, its value and the ranked inputs."""
        return {
            "inputs": dict(zip(self.names, map(float, self.x), strict=True)),
            "outputs": [
                {"name": name, "value": float(self.value[i]), "ranking": [
                    {"input": n, "derivative": d, "elasticity": None if np.isnan(e) else e}
                    for n, d, e in self.ranked(i)]}
                for i, name in enumerate(self.output_names)
            ],
        }

    def __str__(self) -> str:
        blocks = []
        for i, name in enumerate(self.output_names):
            rows = [(n, format_number(d), format_number(e)) for n, d, e in self.ranked(i)]
            title = f"{name} = {format_number(float(self.value[i]))}"
            blocks.append(title + "\n" + format_table(("input", "d/dx", "elasticity"), rows))
        return "\n\n".join(blocks)


def local(
    f: Callable,
    x: Any,
    *,
    names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
) -> SensitivityTable:
    """Local sensitivities of f at x: the Jacobian, elasticities and a ranking of inputs.

    Cost: one dense Jacobian (min(n, m) JVP or VJP passes).

    Args:
        f: function of an array or pytree, returning an array or pytree.
        x: the point.
        names: one name per input entry (flattened row-major); default 'x[0]', ...
        output_names: one name per output entry; default 'f' or 'f[0]', ...

    Returns:
        SensitivityTable; str(table) prints it ranked, most important input first.

    Example:
        >>> table = local(lambda v: v[0] * v[1] ** 2, jnp.array([3.0, 2.0]), names=["a", "b"])
        >>> table.ranking  # [[1, 0]]: ∂f/∂b = 12 outranks ∂f/∂a = 4
        >>> print(table)   # f = 12, then b and a with derivatives and elasticities
    """
    x = as_float_tree(x, "x")
    x_flat, f_flat, _, out_struct = flatten_function(f, x)
    n, m = x_flat.shape[0], tree_size(out_struct)
    names = check_names(names, n, entry_names(x, "x"), "names")
    default_out = ["f"] if m == 1 and not jax.tree_util.tree_leaves(out_struct)[0].shape else \
        entry_names(jax.tree_util.tree_map(lambda s: np.zeros(s.shape), out_struct), "f")
    output_names = check_names(output_names, m, default_out, "output_names")
    jac = dense_jacobian(f_flat, x_flat)
    value = np.asarray(jax.jit(f_flat)(x_flat), dtype=float)
    jacobian = np.asarray(jac, dtype=float).reshape(m, n)
    x_np = np.asarray(x_flat, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        elasticities = jacobian * x_np[None, :] / value[:, None]
    elasticities[value == 0, :] = np.nan
    ranking = np.argsort(-np.abs(jacobian), axis=1, kind="stable")
    return SensitivityTable(x_np, value, jacobian, elasticities, ranking, names, output_names)
