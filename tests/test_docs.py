"""The documentation builds strictly and documents every public name."""

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
PUBLIC_MODULES = ["jachess", "jachess.critical", "jachess.plot"]
OPTIONAL_MODULES = ["jachess.sparsity", "jachess.operators", "jachess.spectral",
                    "jachess.optimize", "jachess.density", "jachess.sensitivity"]


def _public_names():
    names = []
    for module_name in PUBLIC_MODULES + OPTIONAL_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            if module_name in PUBLIC_MODULES:
                raise
            continue
        for name in getattr(module, "__all__", []):
            if isinstance(getattr(module, name), type(sys)):
                continue  # a re-exported subpackage documents itself
            names.append(f"{module_name}.{name}")
    return names


def test_every_public_name_has_a_reference_entry():
    text = "\n".join(p.read_text() for p in (ROOT / "docs" / "reference").glob("*.md"))
    documented = set(re.findall(r"^::: ([\w.]+)", text, flags=re.M))
    missing = [n for n in _public_names() if n not in documented]
    assert not missing, f"add these to docs/reference/*.md: {missing}"


def test_mkdocs_build_strict(tmp_path):
    mkdocs = str(Path(sys.executable).parent / "mkdocs")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    done = subprocess.run([mkdocs, "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").exists()
    assert (tmp_path / "site" / "reference" / "derivatives" / "index.html").exists()
