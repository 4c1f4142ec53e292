"""Draw the benchmark ratios for the docs: docs/figures/benchmark_ratios.png.

    .venv/bin/python benchmarks/plot_results.py

Reads the tables the benchmarks wrote (benchmarks/results/dense.md and sparse.md) and
plots jachess's time over the anchor's per problem: below 1 jachess is faster.
"""

from pathlib import Path

from matplotlib.figure import Figure

HERE = Path(__file__).parent


def table_rows(path: Path, first_header: str) -> list[list[str]]:
    """Rows of the first Markdown table in `path` whose header starts with first_header."""
    rows, inside = [], False
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_header:
            inside = True
            continue
        if inside:
            if not line.startswith("|"):
                break
            if not set(cells[0]) <= {"-"}:
                rows.append(cells)
    return rows


def ratio(text: str) -> float | None:
    try:
        return float(text.rstrip("x"))
    except ValueError:
        return None


def main() -> None:
    dense = [(f"dense: {r[0]}", ratio(r[4])) for r in table_rows(HERE / "results" / "dense.md",
                                                                  "problem")]
    sparse = [(f"sparse: {r[0]} n={r[1]}", ratio(r[4]))
              for r in table_rows(HERE / "results" / "sparse.md", "problem")]
    bars = [(name, value) for name, value in dense + sparse if value is not None]
    figure = Figure(figsize=(8, 0.32 * len(bars) + 1.2), layout="constrained")
    ax = figure.subplots()
    names = [b[0] for b in bars][::-1]
    values = [b[1] for b in bars][::-1]
    colors = ["#1b9e77" if v <= 1.0 else "#d95f02" for v in values]
    ax.barh(names, values, color=colors)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlim(right=max(3.0, max(values) * 1.2))
    ax.set_xlabel("jachess time / anchor time\n(dense: faster of jax.jacfwd / jax.jacrev, or "
                  "jax.hessian; sparse: asdex)")
    ax.set_title("Evaluation time relative to the anchor (below 1: jachess faster)")
    ax.tick_params(axis="y", labelsize=8)
    out = HERE.parent / "docs" / "figures" / "benchmark_ratios.png"
    figure.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
