"""Assemble benchmarks/RESULTS.md from the per-area files each benchmark writes.

    .venv/bin/python benchmarks/collect_results.py

Each benchmark script writes (or its author wrote, from its output) one file under
benchmarks/results/; this joins them under one heading each, in the order below,
so RESULTS.md is never edited by hand.
"""

from pathlib import Path

HERE = Path(__file__).parent
SECTIONS = [
    ("dense.md", "Dense derivatives (issue 2)",
     ".venv/bin/python benchmarks/dense.py --out benchmarks/results/dense.md"),
    ("sparse.md", None, None),
    ("sparsity_soundness.md", None, None),
    ("curvature.md", None, None),
    ("optimize.md", None, None),
    ("root_systems.md", None, None),
    ("nist_strd.md", None, None),
    ("logdet.md", None, None),
]


def demote(text: str) -> str:
    """Shift every Markdown heading one level down, so each file nests under RESULTS.md."""
    return "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())


def main() -> None:
    parts = ["# Benchmark results", "",
             "Every figure here was measured by the script named in its section, with jachess "
             "and the anchors in one process (the PyTorch anchors in a side process, as "
             "noted). Machine: the project's 2-core CPU machine (no GPU was lent to these "
             "tasks), often shared with other work while measuring, so read ratios from one "
             "run rather than absolute times.", ""]
    for name, title, command in SECTIONS:
        text = (HERE / "results" / name).read_text().strip()
        if title:
            parts += [f"## {title}", "", "Command:", "", f"    {command}", "", text, ""]
        else:
            parts += [demote(text), ""]
    (HERE / "RESULTS.md").write_text("\n".join(parts).rstrip() + "\n")


if __name__ == "__main__":
    main()
