"""asdex's own sparsity-detection tests, run against jachess: soundness and precision.

    .venv/bin/python benchmarks/sparsity_asdex_suite.py [--only SUBSTR] [--out FILE.md]

Where the cases come from: asdex ships its test suite in its PyPI sdist. We fetch the
pinned sdist (asdex 0.5.1, sha256-checked, like tests/problems/fetch_nist_strd.py does
for NIST data) into .cache/asdex-0.5.1/ and run asdex's detection tests there in this
process with pytest, with asdex's public detection functions (``jacobian_sparsity``,
``hessian_sparsity``) wrapped: every call a test makes is recorded (function, sample
arguments, argnums, has_aux) and then answered by asdex itself, so the tests run as
written. Each recorded call is one case, named ``<test node id>#<call number>``. The
test files run are those of asdex's detection handlers and detection API (TEST_PATHS);
files whose optional dependencies (flax, sympy, diffrax: asdex's dev group) are missing
fail to collect and are listed in the report; install them to include those cases.

Per case, with float64 (jax_enable_x64):
  - jachess: ``jachess.sparsity.jacobian_pattern(f, x)`` (``hessian_pattern`` for the
    ``hessian_sparsity`` calls), and whether it emitted a ``SparsityWarning``;
  - asdex:  ``asdex.jacobian_sparsity(f, x)`` / ``asdex.hessian_sparsity(f, x)``;
  - truth:  the union of the nonzeros (|v| > 0) of the dense ``jax.jacfwd`` (``jax.hessian``)
    at the test's own input and at 3 random normal points, 3 random positive points
    (|N(0,1)| + 0.1, for logs and roots), 3 points in (0.1, 0.9)^n (arcsin, betainc) and
    3 points near the test's input; points where the derivative is not finite everywhere
    are dropped (reverse mode is the fallback for custom_vjp functions; while loops are
    capped, see _MAX_ITERATIONS).
Multi-argument calls become a function of the tuple of the differentiated arguments
(the others are held fixed); cases with integer, boolean or complex differentiated
inputs, or complex outputs, are skipped (no dense real derivative to compare against).

Classes (first that applies): ``crash`` (jachess raised or gave a wrongly shaped
pattern), ``unsound`` (truth has an entry jachess misses), ``asdex-error`` (asdex
raised; jachess is sound), ``equal`` (same pattern as asdex), ``tighter`` (a strict
subset of asdex's), ``looser`` (a strict superset), ``incomparable``.

The report prints a summary, per-file counts, and every crash/unsound/looser/incomparable/
tighter case (nnz of jachess/asdex/truth, warning flag, detail), then the other warned,
skipped and truth-less cases; ``--out`` writes the same markdown to a file.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import importlib.metadata
import importlib.util
import inspect
import io
import subprocess
import sys
import textwrap
import time
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

import jachess  # noqa: E402
from jachess.sparsity import SparsityWarning, hessian_pattern, jacobian_pattern  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "problems"))
from pinned_sdist import pinned_sdist  # noqa: E402

VERSION = "0.5.1"
SDIST = f"asdex-{VERSION}.tar.gz"
SHA256 = "9fa01cd067689146a79a1adaf5aedf2e003bb63eb9ffab82d24518efb5b60648"
URL = (
    "https://files.pythonhosted.org/packages/71/b6/"
    "0c99f48e8dd214efb274b3843ed617da6e92d29a7f9a244e2c60202cfdc3/" + SDIST
)
PREFIX = f"asdex-{VERSION}/"
CACHE = ROOT / ".cache" / f"asdex-{VERSION}"

# asdex's detection tests (paths under the sdist's tests/); the second member of each
# pair is a module the file needs beyond asdex's own dependencies.
TEST_PATHS = (
    ("_interpret", None),  # test_conv.py in it imports flax
    ("test_detection.py", None),
    ("test_multidim.py", "flax"),
    ("test_scalar.py", None),
    ("test_detect_vmap.py", None),
    ("e2e/test_linalg.py", None),
    ("e2e/test_pytree.py", None),
    ("e2e/test_argnums.py", None),
    ("test_sympy.py", "sympy"),
    ("test_flax.py", "flax"),
    ("test_diffrax.py", "diffrax"),
)

CLASSES = (
    "crash", "unsound", "asdex-error", "equal", "tighter", "looser", "incomparable",
    "skipped",
)
LISTED = ("crash", "unsound", "looser", "incomparable", "tighter")

# ------------------------------------------------------------------ the pinned sdist


def fetch_tests(destination: Path = CACHE) -> Path:
    """Download the pinned asdex sdist, check its sha256, extract tests/ and pyproject.toml."""
    if (destination / "tests" / "_interpret").is_dir() and (
        destination / "pyproject.toml"
    ).is_file():
        return destination
    with pinned_sdist(URL, SHA256, f"asdex=={VERSION}") as archive:
        destination.mkdir(parents=True, exist_ok=True)
        for member in archive.getmembers():
            name = member.name
            if not member.isfile() or not name.startswith(PREFIX):
                continue
            rel = name[len(PREFIX):]
            if rel != "pyproject.toml" and not rel.startswith("tests/"):
                continue
            if ".." in Path(rel).parts:
                continue
            out = destination / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(archive.extractfile(member).read())
    print(f"asdex {VERSION} tests in {destination}", file=sys.stderr)
    return destination


# ------------------------------------------------------------------ recording the cases


@dataclass
class Recorded:
    """One call of asdex's public detection API made by one of asdex's tests."""

    nodeid: str
    number: int
    kind: str  # "jacobian" or "hessian"
    f: Any
    args: tuple
    kwargs: dict
    asdex_raised: bool


@dataclass(eq=False)  # hashable: pytest keeps plugins in sets
class _Recorder:
    calls: list = field(default_factory=list)
    current: str | None = None
    counts: dict = field(default_factory=dict)
    outcomes: dict = field(default_factory=dict)
    collect_errors: list = field(default_factory=list)
    only: str | None = None
    stop_after_call: bool = False
    left_out: list = field(default_factory=list)

    def wrap(self, kind: str, real):
        import pytest

        @functools.wraps(real)
        def wrapper(f, *args, **kwargs):
            nodeid = self.current or "<outside a test>"
            number = self.counts[nodeid] = self.counts.get(nodeid, 0) + 1
            record = Recorded(nodeid, number, kind, f, args, kwargs, asdex_raised=False)
            self.calls.append(record)
            try:
                result = real(f, *args, **kwargs)
            except Exception:
                record.asdex_raised = True
                raise
            if self.stop_after_call:
                # the test makes no further detection call: skip its remaining checks
                # (asdex's own assertions, numerical Jacobians), which only cost time
                pytest.skip(_STOPPED)
            return result

        return wrapper

    # pytest hooks (this object is passed to pytest.main as a plugin)

    def pytest_collection_modifyitems(self, items):
        """Keep the tests that call the detection API (asdex's files also test
        colouring and decompression), and those matching --only."""
        if self.only:
            items[:] = [item for item in items if self.only in _short(item.nodeid)]
        items[:] = [item for item in items if _calls_detection(item)]

    def pytest_collectreport(self, report):
        if report.failed:
            self.collect_errors.append(report.nodeid)

    def pytest_runtest_setup(self, item):
        self.current = _short(item.nodeid)
        self.stop_after_call = _single_call(item)

    def pytest_runtest_teardown(self, item):
        self.current = None

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or (report.when == "setup" and not report.passed):
            outcome = report.outcome
            if report.skipped and _STOPPED in str(report.longrepr):
                outcome = "stopped after the recorded call"
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


@functools.cache
def _detection_helpers(module) -> frozenset:
    """Names in a test module whose functions call the detection API."""
    names = set()
    for name, obj in vars(module).items():
        if inspect.isfunction(obj):
            with contextlib.suppress(OSError, TypeError):
                if "_sparsity(" in inspect.getsource(obj):
                    names.add(name)
    return frozenset(names)


def _calls_detection(item) -> bool:
    function = getattr(item, "function", None)
    if function is None:
        return True
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return True
    if "_sparsity(" in source:
        return True
    module = inspect.getmodule(function)
    helpers = _detection_helpers(module) if module is not None else frozenset()
    return any(f"{name}(" in source for name in helpers)


_STOPPED = "asdex-suite: stopped after the recorded call"
_LOOPS = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp,
          ast.GeneratorExp)


def _single_call(item) -> bool:
    """Whether the test calls the detection API exactly once, at one visible place
    (no loop, no comprehension, no helper that calls it)."""
    function = getattr(item, "function", None)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return False
    module = inspect.getmodule(function)
    helpers = _detection_helpers(module) if module is not None else frozenset()
    helpers = helpers - {"jacobian_sparsity", "hessian_sparsity"}
    calls = 0
    for node in ast.walk(tree):
        if isinstance(node, _LOOPS):
            return False
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in helpers:
                return False
            calls += name.endswith("_sparsity")
    return calls == 1


def _short(nodeid: str) -> str:
    return nodeid.removeprefix("tests/")


def collect_cases(tests_root: Path, only: str | None) -> _Recorder:
    """Run asdex's detection tests with the public detection API recorded."""
    import asdex
    import asdex.detection
    import pytest

    recorder = _Recorder(only=only)
    names = ("jacobian_sparsity", "hessian_sparsity")
    saved = {(mod, n): getattr(mod, n) for mod in (asdex, asdex.detection) for n in names}
    for (mod, name), real in saved.items():
        setattr(mod, name, recorder.wrap(name.split("_")[0], real))

    paths = []
    for rel, needs in TEST_PATHS:
        if needs is None or importlib.util.find_spec(needs) is not None:
            paths.append(str(tests_root / "tests" / rel))
        else:
            recorder.left_out.append(f"{rel} (needs {needs})")
    argv = [
        "-c", str(tests_root / "pyproject.toml"), "--rootdir", str(tests_root),
        "-q", "--no-header", "-p", "no:cacheprovider", "-p", "no:randomly",
        "-W", "ignore", "--continue-on-collection-errors", *paths,
    ]
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            code = pytest.main(argv, plugins=[recorder])
    finally:
        for (mod, name), real in saved.items():
            setattr(mod, name, real)
    if code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        print(buffer.getvalue()[-4000:], file=sys.stderr)
        raise SystemExit(f"pytest could not run asdex's tests (exit code {int(code)})")
    return recorder


# ------------------------------------------------------------------ evaluating a case


@dataclass
class Result:
    name: str
    kind: str
    cls: str
    nnz_jachess: int | None = None
    nnz_asdex: int | None = None
    nnz_truth: int | None = None
    shape: tuple | None = None
    warned: bool = False
    asdex_sound: bool | None = None
    points: int = 0
    detail: str = ""
    seconds: float = 0.0


class Skip(Exception):
    """The case has no real dense derivative to compare against."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    head = text[0] if text else ""
    return f"{type(error).__name__}: {head}"[:240]


def _canonical(rec: Recorded):
    """(g, x0): a function of one (pytree) argument holding the non-differentiated fixed."""
    import asdex._arguments as asdex_args

    kwargs = dict(rec.kwargs)
    argnums = kwargs.pop("argnums", 0)
    has_aux = kwargs.pop("has_aux", False)
    f, args = rec.f, tuple(rec.args)
    if kwargs:
        argnums = asdex_args._ensure_index(argnums)
        args, f, argnums = asdex_args._merge_sample_inputs(f, args, kwargs, argnums)
        args = tuple(args)
    if isinstance(argnums, int):
        selected: tuple[int, ...] = (argnums % len(args),)
    else:
        selected = tuple(i % len(args) for i in argnums)

    def to_float(leaf):
        array = np.asarray(leaf)
        if not np.issubdtype(array.dtype, np.floating):
            raise Skip(f"{array.dtype} input")
        return jnp.asarray(array, dtype=jnp.float64)

    if isinstance(argnums, int):
        x0 = jax.tree.map(to_float, args[selected[0]])
    else:
        x0 = tuple(jax.tree.map(to_float, args[i]) for i in selected)

    # the held arguments become jax arrays, as under asdex's tracing (x[idx] with a
    # traced idx fails on a numpy x)
    args = tuple(
        jax.tree.map(lambda a: jnp.asarray(a) if isinstance(a, np.ndarray) else a, arg)
        if i not in selected else arg
        for i, arg in enumerate(args)
    )
    if len(args) == 1 and isinstance(argnums, int) and not has_aux:
        g = f
    else:

        def g(xs):
            full = list(args)
            if isinstance(argnums, int):
                full[selected[0]] = xs
            else:
                for i, value in zip(selected, xs, strict=True):
                    full[i] = value
            out = f(*full)
            return out[0] if has_aux else out

    out = jax.eval_shape(g, x0)
    leaves = jax.tree.leaves(out)
    if any(jnp.issubdtype(leaf.dtype, jnp.complexfloating) for leaf in leaves):
        raise Skip("complex output")
    if rec.kind == "hessian":
        size = sum(int(np.prod(leaf.shape)) for leaf in leaves)
        if len(leaves) != 1 or size != 1:
            raise Skip("non-scalar Hessian output")
        if leaves[0].shape != ():
            inner = g

            def g(xs):
                return jnp.reshape(inner(xs), ())

    return g, x0


# A while loop whose condition holds at the sample points never ends (asdex's tests only
# trace their functions; some loops, e.g. ``while sum(x) < 100: x = roll(x)``, do not
# terminate). For the dense truth we evaluate such functions with every while loop
# capped at _MAX_ITERATIONS trips: a capped loop's derivative depends on the inputs
# through at most the dependencies of the uncapped loop, so the truth stays a lower
# bound of the true pattern. Loops are found through jit, cond and scan bodies.
_MAX_ITERATIONS = 1000
_FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def _subjaxprs(params: dict):
    for value in params.values():
        for item in value if isinstance(value, tuple | list) else (value,):
            if isinstance(item, jax.extend.core.ClosedJaxpr):
                yield item.jaxpr
            elif isinstance(item, jax.extend.core.Jaxpr):
                yield item


def _has_while(jaxpr) -> bool:
    return any(
        eqn.primitive.name == "while" or any(_has_while(j) for j in _subjaxprs(eqn.params))
        for eqn in jaxpr.eqns
    )


def _eval_closed(closed, args):
    return _eval_bounded(closed.jaxpr, closed.consts, args)


def _eval_bounded(jaxpr, consts, args) -> list:
    env: dict = {}

    def read(var):
        return var.val if isinstance(var, jax.extend.core.Literal) else env[var]

    env.update(zip(jaxpr.constvars, consts, strict=True))
    env.update(zip(jaxpr.invars, args, strict=True))
    for eqn in jaxpr.eqns:
        invals = [read(v) for v in eqn.invars]
        name, params = eqn.primitive.name, eqn.params
        if name == "while":
            cn, bn = params["cond_nconsts"], params["body_nconsts"]
            cconsts, bconsts, init = invals[:cn], invals[cn:cn + bn], invals[cn + bn:]

            def cond(state, cconsts=cconsts, closed=params["cond_jaxpr"]):
                trips, carry = state
                (alive,) = _eval_closed(closed, [*cconsts, *carry])
                return jnp.logical_and(trips < _MAX_ITERATIONS, alive)

            def body(state, bconsts=bconsts, closed=params["body_jaxpr"]):
                trips, carry = state
                return trips + 1, _eval_closed(closed, [*bconsts, *carry])

            _, outs = jax.lax.while_loop(cond, body, (0, list(init)))
        elif name in ("jit", "pjit") and "jaxpr" in params:
            outs = _eval_closed(params["jaxpr"], invals)
        elif name == "cond":
            index, *ops = invals
            branches = [
                functools.partial(lambda closed, *xs: _eval_closed(closed, xs), b)
                for b in params["branches"]
            ]
            outs = jax.lax.switch(index, branches, *ops)
        elif name == "scan":
            nc, ncarry = params["num_consts"], params["num_carry"]
            sconsts, init, xs = invals[:nc], invals[nc:nc + ncarry], invals[nc + ncarry:]

            def step(carry, x, sconsts=sconsts, closed=params["jaxpr"], ncarry=ncarry):
                out = _eval_closed(closed, [*sconsts, *carry, *x])
                return out[:ncarry], out[ncarry:]

            carry, ys = jax.lax.scan(
                step, list(init), list(xs), length=params["length"],
                reverse=params["reverse"],
            )
            outs = [*carry, *ys]
        else:
            outs = eqn.primitive.bind(*invals, **eqn.primitive.get_bind_params(params))
            if not eqn.primitive.multiple_results:
                outs = [outs]
        env.update(zip(eqn.outvars, outs, strict=True))
    return [read(v) for v in jaxpr.outvars]


def _capped(gf, x_flat):
    """gf itself, or gf with its while loops capped when it has any."""
    closed = jax.make_jaxpr(gf)(jnp.asarray(x_flat))
    if not _has_while(closed.jaxpr):
        return gf, False

    def capped(v):
        (out,) = _eval_closed(closed, [v])
        return out

    return capped, True


def _points(x_flat: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = x_flat.size
    normal = rng.standard_normal((3, n))
    positive = np.abs(rng.standard_normal((3, n))) + 0.1
    unit = rng.uniform(0.1, 0.9, (3, n))
    near = x_flat + 0.05 * (1.0 + np.abs(x_flat)) * rng.standard_normal((3, n))
    return np.concatenate([x_flat[None], normal, positive, unit, near])


def _truth(g, x0, kind: str, seed: int) -> tuple[np.ndarray, int, bool]:
    flat0, unravel = ravel_pytree(x0)
    x_flat = np.asarray(flat0, dtype=np.float64)
    n = x_flat.size

    if kind == "hessian":

        def gf(v):
            return jnp.reshape(g(unravel(v)), ()).astype(jnp.float64)

        transforms = (
            jax.hessian,  # jacfwd of jacrev; while loops need forward over forward
            lambda h: jax.jacrev(jax.jacrev(h)),
            lambda h: jax.jacfwd(jax.jacfwd(h)),
        )
    else:

        def gf(v):
            out, _ = ravel_pytree(g(unravel(v)))
            return out.astype(jnp.float64)

        transforms = (jax.jacfwd, jax.jacrev)

    gf, capped = _capped(gf, x_flat)
    points = _points(x_flat, seed)
    mats = None
    errors = []
    for transform in transforms:
        derivative = transform(gf)
        try:
            mats = np.asarray(jax.jit(jax.vmap(derivative), compiler_options=_FAST_COMPILE)(jnp.asarray(points)))
            break
        except Exception as error:
            errors.append(error)
        try:
            mats = np.stack([np.asarray(derivative(jnp.asarray(p))) for p in points])
            break
        except Exception as error:
            errors.append(error)
    if mats is None:
        raise RuntimeError("truth: " + _first_line(errors[-1]))
    m = n if kind == "hessian" else int(jax.eval_shape(gf, jnp.asarray(x_flat)).size)
    mats = mats.reshape(len(points), m, n)
    finite = np.isfinite(mats).all(axis=(1, 2))
    if not finite.any():
        raise RuntimeError("truth: derivative not finite at any point")
    return (np.abs(mats[finite]) > 0).any(axis=0), int(finite.sum()), capped


def _dense(pattern) -> np.ndarray:
    if hasattr(pattern, "toarray"):
        return np.asarray(pattern.toarray(), dtype=bool)
    return np.asarray(pattern.todense(), dtype=bool)


def evaluate(rec: Recorded) -> Result:
    import asdex

    name = rec.nodeid if rec.number == 1 else f"{rec.nodeid}#{rec.number}"
    result = Result(name=name, kind=rec.kind, cls="skipped")
    start = time.perf_counter()
    try:
        g, x0 = _canonical(rec)
    except Skip as reason:
        result.detail = str(reason)
        return result
    except Exception as error:
        result.detail = "setup: " + _first_line(error)
        return result

    seed = zlib.crc32(name.encode())
    try:
        truth, result.points, capped = _truth(g, x0, rec.kind, seed)
        if capped:
            result.detail = f"truth with while loops capped at {_MAX_ITERATIONS} trips"
    except Exception as error:
        truth = None
        result.detail = _first_line(error)
    detect = hessian_pattern if rec.kind == "hessian" else jacobian_pattern
    asdex_detect = asdex.hessian_sparsity if rec.kind == "hessian" else asdex.jacobian_sparsity

    ours = theirs = None
    jachess_error = asdex_error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ours = _dense(detect(g, x0))
        except Exception as error:
            jachess_error = error
    result.warned = any(issubclass(w.category, SparsityWarning) for w in caught)
    warn_text = next(
        (str(w.message) for w in caught if issubclass(w.category, SparsityWarning)), ""
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            theirs = _dense(asdex_detect(g, x0))
        except Exception as error:
            asdex_error = error

    reference_shape = truth.shape if truth is not None else (
        theirs.shape if theirs is not None else None
    )
    result.shape = reference_shape
    if ours is not None and reference_shape is not None and ours.shape != reference_shape:
        jachess_error = ValueError(f"pattern shape {ours.shape} != {reference_shape}")
        ours = None
    if theirs is not None and reference_shape is not None and theirs.shape != reference_shape:
        asdex_error = ValueError(f"asdex shape {theirs.shape} != {reference_shape}")
        theirs = None

    result.nnz_jachess = None if ours is None else int(ours.sum())
    result.nnz_asdex = None if theirs is None else int(theirs.sum())
    result.nnz_truth = None if truth is None else int(truth.sum())
    if truth is not None and theirs is not None:
        result.asdex_sound = not bool((truth & ~theirs).any())

    notes = [result.detail] if result.detail else []
    if jachess_error is not None:
        result.cls = "crash"
        notes.insert(0, _first_line(jachess_error))
    elif truth is not None and bool((truth & ~ours).any()):
        result.cls = "unsound"
        missed = np.argwhere(truth & ~ours)
        notes.insert(0, f"misses {len(missed)} entries, e.g. {tuple(missed[0].tolist())}")
    elif theirs is None:
        result.cls = "asdex-error"
        notes.append("asdex: " + _first_line(asdex_error))
    elif np.array_equal(ours, theirs):
        result.cls = "equal"
    elif not (ours & ~theirs).any():
        result.cls = "tighter"
    elif not (theirs & ~ours).any():
        result.cls = "looser"
        extra = np.argwhere(ours & ~theirs)
        notes.insert(0, f"{len(extra)} extra entries, e.g. {tuple(extra[0].tolist())}")
    else:
        result.cls = "incomparable"
        notes.insert(
            0,
            f"+{int((ours & ~theirs).sum())}/-{int((theirs & ~ours).sum())} vs asdex",
        )
    if result.warned:
        notes.append("warning: " + warn_text.split(". Pass")[0])
    result.detail = "; ".join(notes)
    result.seconds = time.perf_counter() - start
    return result


# ------------------------------------------------------------------ report


def _fmt(value) -> str:
    return "-" if value is None else str(value)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _git_state() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"git {head}" + (" with uncommitted changes under src/" if dirty else "")


def _case_section(title: str, cases) -> list[str]:
    """A markdown section listing cases (name, class, detail), or 'none'."""
    lines = [f"## {title}", ""]
    if cases:
        lines += ["| case | class | detail |", "|---|---|---|"]
        lines += [f"| `{r.name}` | {r.cls} | {_escape(r.detail)} |" for r in cases]
    else:
        lines.append("none")
    return [*lines, ""]


def report(results: list[Result], recorder: _Recorder, seconds: float) -> str:
    lines = [
        "# asdex's detection tests against jachess",
        "",
        f"jachess {jachess.__version__ if hasattr(jachess, '__version__') else '?'}, "
        f"asdex {importlib.metadata.version('asdex')} (tests from the asdex {VERSION} sdist), "
        f"jax {jax.__version__}, float64; {len(results)} cases from "
        f"{len(recorder.counts)} tests; {seconds:.0f} s.",
        "",
    ]
    lines.insert(3, f"jachess source: {_git_state()}.")
    outcomes = ", ".join(f"{v} {k}" for k, v in sorted(recorder.outcomes.items()))
    lines.append(f"asdex's tests under recording: {outcomes or 'none run'}.")
    if recorder.left_out:
        lines.append(f"Test files left out: {', '.join(recorder.left_out)}.")
    if recorder.collect_errors:
        lines.append(
            f"Files that failed to collect (a missing optional module): "
            f"{', '.join(recorder.collect_errors)}."
        )
    lines.append("")

    counts = {c: sum(r.cls == c for r in results) for c in CLASSES}
    warned = {c: sum(r.cls == c and r.warned for r in results) for c in CLASSES}
    asdex_unsound = sum(r.asdex_sound is False for r in results)
    kinds = {
        (c, k): sum(r.cls == c and r.kind == k for r in results)
        for c in CLASSES for k in ("jacobian", "hessian")
    }
    lines += [
        "## Summary", "",
        "| class | cases | Jacobian | Hessian | with SparsityWarning |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {c} | {counts[c]} | {kinds[c, 'jacobian']} | {kinds[c, 'hessian']} | {warned[c]} |"
        for c in CLASSES
    ]
    n_jac = sum(r.kind == "jacobian" for r in results)
    lines += [
        f"| **total** | {len(results)} | {n_jac} | {len(results) - n_jac} | "
        f"{sum(warned.values())} |",
        "",
    ]
    lines += [f"asdex itself misses a truth entry in {asdex_unsound} cases.", ""]

    files: dict[str, dict[str, int]] = {}
    for r in results:
        per = files.setdefault(r.name.split("::")[0], dict.fromkeys(CLASSES, 0))
        per[r.cls] += 1
    lines += ["## Per test file", ""]
    lines += ["| file | " + " | ".join(CLASSES) + " |", "|---|" + "---:|" * len(CLASSES)]
    for file, per in sorted(files.items()):
        lines.append(f"| {file} | " + " | ".join(str(per[c]) for c in CLASSES) + " |")
    lines.append("")

    for cls in LISTED:
        chosen = [r for r in results if r.cls == cls]
        lines += [f"## {cls} ({len(chosen)})", ""]
        if not chosen:
            lines += ["none", ""]
            continue
        lines += [
            "| case | kind | shape | nnz jachess | nnz asdex | nnz truth | warning | asdex sound | detail |",
            "|---|---|---|---:|---:|---:|---|---|---|",
        ]
        for r in chosen:
            shape = "x".join(map(str, r.shape)) if r.shape else "-"
            lines.append(
                f"| `{r.name}` | {r.kind} | {shape} | {_fmt(r.nnz_jachess)} | "
                f"{_fmt(r.nnz_asdex)} | {_fmt(r.nnz_truth)} | "
                f"{'yes' if r.warned else 'no'} | {_fmt(r.asdex_sound)} | "
                f"{_escape(r.detail)} |"
            )
        lines.append("")

    warned_equal = [r for r in results if r.warned and r.cls not in LISTED]
    lines += _case_section(f"other cases with a SparsityWarning ({len(warned_equal)})",
                           warned_equal)
    skipped = [r for r in results if r.cls in ("skipped", "asdex-error")]
    if skipped:
        lines += _case_section("skipped and asdex-error", skipped)
    no_truth = [r for r in results if r.nnz_truth is None and r.cls != "skipped"]
    lines += _case_section(f"no dense truth: soundness unchecked ({len(no_truth)})", no_truth)
    slow = sorted(results, key=lambda r: -r.seconds)[:5]
    lines.append("Slowest cases: " + ", ".join(f"`{r.name}` {r.seconds:.1f} s" for r in slow))
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="keep cases whose name contains this substring")
    parser.add_argument("--out", type=Path, help="also write the report (markdown) here")
    parser.add_argument("--verbose", action="store_true", help="print every case's time")
    args = parser.parse_args(argv)

    installed = importlib.metadata.version("asdex")
    if installed != VERSION:
        print(
            f"note: asdex {installed} is installed, the tests are asdex {VERSION}'s",
            file=sys.stderr,
        )
    start = time.perf_counter()
    tests_root = fetch_tests()
    recorder = collect_cases(tests_root, args.only)
    print(
        f"recorded {len(recorder.calls)} detection calls in "
        f"{time.perf_counter() - start:.0f} s",
        file=sys.stderr,
    )
    results = []
    for rec in recorder.calls:
        if args.only and args.only not in rec.nodeid:
            continue
        result = evaluate(rec)
        results.append(result)
        if args.verbose or result.seconds > 5:
            print(f"{result.seconds:7.2f} s  {result.cls:12s} {result.name}", file=sys.stderr)
        if len(results) % 100 == 0:
            print(f"{len(results)}/{len(recorder.calls)} cases", file=sys.stderr)
    text = report(results, recorder, time.perf_counter() - start)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
