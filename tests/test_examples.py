"""Every example under examples/ runs (quick mode) and writes its figures.

Examples are discovered by glob, never listed by hand, so a new one is tested by
being added.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted(p for p in (Path(__file__).parent.parent / "examples").glob("*.py")
                  if not p.name.startswith("_"))


def test_examples_exist():
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", JACHESS_EXAMPLE_QUICK="1")
    done = subprocess.run([sys.executable, str(script), "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, env=env,
                          cwd=script.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = list(tmp_path.glob("*.png"))
    assert figures, f"{script.name} wrote no figure"
    assert all(f.stat().st_size > 2000 for f in figures)
