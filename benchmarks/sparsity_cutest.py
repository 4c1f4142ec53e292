"""Sparsity detection on the CUTEst problems of sif2jax: jachess against the truth and asdex.

For every problem of the `sif2jax` package (PyPI, CUTEst problems in JAX), float64, CPU:

- unconstrained and bound-constrained minimisation: the Hessian pattern of the objective
  (``jachess.sparsity.hessian_pattern``; bounds play no part in the Hessian);
- constrained minimisation: the Jacobian pattern of the constraints, equalities then
  inequalities, flattened (``jachess.sparsity.jacobian_pattern``);
- nonlinear equations: the Jacobian pattern of the residual (the constraint function).

Truth is the union of the nonzeros of derivatives evaluated at y0 and random perturbations
of it (two perturbations for n <= 400, one above, none above --truth-max-n): dense columns
in blocks, a ``jax.vmap`` of a JVP (Jacobian) or of a forward-over-reverse HVP (Hessian)
over blocks of the identity (jitted when the jaxpr is small, op by op otherwise), so every
column is computed exactly, with no colouring. This is a lower
bound of the true pattern: an entry of the truth that is not in jachess's pattern (a
"missing" entry) is an unsound detection, while an extra entry in the pattern may be a
structural nonzero that happens to vanish at the sampled points. Non-finite derivative
entries (nan / inf at a point, e.g. outside a log's domain) are counted apart and never
count as nonzeros. asdex's pattern (``asdex.jacobian_sparsity`` / ``hessian_sparsity``) is
compared with the same truth and with jachess's pattern (looser: jachess has strictly more
entries; tighter: strictly fewer; differ: neither contains the other).

Per problem: jachess, then the truth, then asdex. Each problem runs in one of ``--jobs``
worker processes (each imports sif2jax once, ~1 minute); a per-phase soft time limit
(SIGALRM) cuts detection and truth short, and the parent kills and restarts a worker whose
problem runs past the hard limit (a phase stuck in C code), passes --mem-limit, or dies;
the row keeps what was measured before. When the truth runs out of time, the columns
computed so far are kept and the row says "partial". The full run (708 problems with
n <= 5000) takes about 10 minutes on 2 cores.

Run:  .venv/bin/python benchmarks/sparsity_cutest.py [--quick] [--max-n 5000]
          [--only NAME[,NAME...]] [--jobs 2] [--out /tmp/cutest_report.md]
Needs: pip install sif2jax asdex
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter

PROTO = "@@CUTEST "  # prefix of protocol lines on a worker's stdout
DENSE_TRUTH_N = 400  # up to this n: truth at y0 and two perturbations; above: one
MAX_TRUTH_N = 5000  # no truth above this n
BLOCK_ENTRIES = 2_000_000  # block of columns x (output or largest intermediate) at most
CLEANUP_RSS = 1.5 * 2**30  # a worker past this clears JAX's caches after a problem
JIT_MAX_EQNS = 300  # truth jitted up to this many jaxpr equations, op by op above


# ====================================================================== worker side


class PhaseTimeout(Exception):
    pass


def _timed_with_warnings(detect, f, y0):
    """(detect(f, y0), seconds, the warnings it emitted)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        result = detect(f, y0)
        elapsed = time.perf_counter() - t0
    return result, elapsed, caught


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux /proc), 0 when unknown."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise PhaseTimeout in Python code once `seconds` have passed (main thread only)."""

    def handler(signum, frame):
        # raised inside a callback that swallows exceptions (JAX's gc callback), the
        # exception is lost: fire again in a second until it lands
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        raise PhaseTimeout(f"over {seconds:.0f} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _short(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ").replace("|", "/")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _crash_site(exc: BaseException) -> str:
    """Innermost frame of the traceback inside jachess / asdex, as file:line."""
    site = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if "jachess" in frame.filename or "asdex" in frame.filename:
            site = f"{frame.filename.split('site-packages/')[-1].split('src/')[-1]}:{frame.lineno}"
    return site


class Worker:
    def __init__(self):
        import jax

        jax.config.update("jax_enable_x64", True)
        import sif2jax

        self.jax = jax
        self.on_phase = lambda phase, row: None  # tells the parent what runs now
        self.problems = {}
        for p in sif2jax.problems:
            self.problems.setdefault(p.name, p)

    def cleanup(self):
        """Drop what one problem left behind (compiled functions, caches, freed heap)."""
        import ctypes
        import gc

        import jachess.sparsity as js

        self.jax.clear_caches()
        js.clear_cache()
        gc.collect()
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6").malloc_trim(0)

    # ------------------------------------------------------------ problem set-up

    def kind_of(self, p) -> str:
        import sif2jax

        if isinstance(p, sif2jax.AbstractNonlinearEquations):
            return "equations"
        if isinstance(p, sif2jax.AbstractConstrainedMinimisation):
            return "constrained"
        if isinstance(p, sif2jax.AbstractBoundedMinimisation):
            return "bounded"
        return "unconstrained"

    def listing(self, names=None):
        rows = []
        wanted = None if names is None else {nm.upper() for nm in names}
        for name, p in self.problems.items():
            if wanted is not None and name.upper() not in wanted:
                continue
            try:
                n = int(p.num_variables())
            except Exception as exc:
                n, err = -1, _short(exc)
            else:
                err = ""
            rows.append({"name": name, "kind": self.kind_of(p), "n": n, "error": err})
        return rows

    def function(self, p):
        """(f of a flat float64 vector, y0 flat, 'hessian' or 'jacobian')."""
        jnp = self.jax.numpy
        from jax.flatten_util import ravel_pytree

        y0, unravel = ravel_pytree(p.y0)
        y0 = jnp.asarray(y0, dtype=jnp.float64)
        kind = self.kind_of(p)
        if kind in ("unconstrained", "bounded"):
            args = p.args

            def f(z):
                return p.objective(unravel(z), args)

            return f, y0, "hessian"

        def c(z):
            leaves = self.jax.tree_util.tree_leaves(p.constraint(unravel(z)))
            return jnp.concatenate([jnp.ravel(jnp.asarray(leaf)) for leaf in leaves])

        return c, y0, "jacobian"

    # ------------------------------------------------------------ detection

    def detect_jachess(self, f, y0, deriv):
        import jachess.sparsity as js

        detect = js.hessian_pattern if deriv == "hessian" else js.jacobian_pattern
        pattern, elapsed, caught = _timed_with_warnings(detect, f, y0)
        warned = sorted(
            {str(w.message) for w in caught if issubclass(w.category, js.SparsityWarning)}
        )
        return pattern, elapsed, warned

    def detect_asdex(self, f, y0, deriv):
        import asdex
        import numpy as np
        import scipy.sparse as sp

        detect = asdex.hessian_sparsity if deriv == "hessian" else asdex.jacobian_sparsity
        sp_pattern, elapsed, caught = _timed_with_warnings(detect, f, y0)
        rows = np.asarray(sp_pattern.rows)
        cols = np.asarray(sp_pattern.cols)
        pattern = sp.csr_array(
            (np.ones(rows.size, dtype=bool), (rows, cols)), shape=tuple(sp_pattern.shape)
        )
        pattern.sum_duplicates()
        warned = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
        return pattern, elapsed, warned

    # ------------------------------------------------------------ truth

    def points(self, y0, n):
        import numpy as np

        jnp = self.jax.numpy
        rng = np.random.default_rng(0)
        scale = 1.0 + np.abs(np.asarray(y0))
        pts = [y0]
        count = 2 if n <= DENSE_TRUTH_N else 1
        for amp in (0.1, 0.5)[:count]:
            pts.append(y0 + jnp.asarray(amp * scale * rng.uniform(-1.0, 1.0, n)))
        return pts

    def truth(self, f, y0, deriv, m, budget):
        """Union of the nonzeros of dense derivative columns at the points.

        Jitted when f's jaxpr is small; op by op otherwise (XLA takes minutes to compile
        the HVP of a Python loop unrolled into thousands of equations, and a compile
        cannot be interrupted). Blocks of columns are sized so that neither the output
        nor the largest intermediate, times the block, passes BLOCK_ENTRIES.

        Returns (csr pattern, note, nonfinite count, blocks done, blocks total, seconds).
        """
        import numpy as np
        import scipy.sparse as sp

        jax, jnp = self.jax, self.jax.numpy
        n = y0.shape[0]
        rows_out = n if deriv == "hessian" else m
        neqns, largest, _ = self.jaxpr_stats(f, y0)
        block = int(max(1, min(n, BLOCK_ENTRIES // max(rows_out, largest, 1))))
        if deriv == "hessian":
            grad = jax.grad(lambda z: jnp.reshape(f(z), ()))

            def columns(x, basis):
                return jax.vmap(lambda v: jax.jvp(grad, (x,), (v,))[1])(basis)
        else:

            def columns(x, basis):
                return jax.vmap(lambda v: jax.jvp(f, (x,), (v,))[1])(basis)

        if neqns <= JIT_MAX_EQNS:
            columns = jax.jit(columns)
        pts = self.points(y0, n)
        starts = list(range(0, n, block))
        total = len(starts) * len(pts)
        done, nonfinite = 0, 0
        found_r, found_c = [], []
        t0 = time.perf_counter()
        note = ""
        try:
            with time_limit(budget):
                for x in pts:
                    for s in starts:
                        width = min(block, n - s)
                        basis = np.zeros((block, n))
                        basis[np.arange(width), s + np.arange(width)] = 1.0
                        out = np.asarray(columns(x, jnp.asarray(basis)))[:width]
                        out = out.reshape(width, rows_out)
                        finite = np.isfinite(out)
                        nonfinite += int((~finite).sum())
                        cj, ri = np.nonzero(finite & (out != 0))
                        found_r.append(ri)
                        found_c.append(cj + s)
                        done += 1
        except PhaseTimeout:
            note = f"truth partial {done}/{total} blocks (time limit {budget:.0f} s)"
        elapsed = time.perf_counter() - t0
        r = np.concatenate(found_r) if found_r else np.zeros(0, dtype=np.int64)
        c = np.concatenate(found_c) if found_c else np.zeros(0, dtype=np.int64)
        pattern = sp.csr_array(
            (np.ones(r.size, dtype=bool), (r, c)), shape=(rows_out, n)
        )
        pattern.sum_duplicates()
        return pattern, note, nonfinite, done, total, elapsed

    # ------------------------------------------------------------ one problem

    def jaxpr_stats(self, f, y0):
        """(equation count, largest intermediate size, primitive names) of f's jaxpr,
        counting nested jaxprs (pjit, scan, while, cond, custom_jvp ...)."""
        from jax.extend.core import ClosedJaxpr, Jaxpr

        names: set = set()
        count, largest = 0, 1

        def walk(jaxpr):
            nonlocal count, largest
            for eqn in jaxpr.eqns:
                count += 1
                names.add(eqn.primitive.name)
                for var in eqn.outvars:
                    largest = max(largest, int(getattr(var.aval, "size", 1) or 1))
                for param in eqn.params.values():
                    for sub in param if isinstance(param, (tuple, list)) else (param,):
                        if isinstance(sub, ClosedJaxpr):
                            walk(sub.jaxpr)
                        elif isinstance(sub, Jaxpr):
                            walk(sub)

        walk(self.jax.make_jaxpr(f)(y0).jaxpr)
        return count, largest, sorted(names)

    def detect(self, tool, f, y0, deriv, row, limit):
        """Run one tool's detection into row; its pattern, or None."""
        detect = self.detect_jachess if tool == "jachess" else self.detect_asdex
        self.on_phase(f"{tool} detection", row)
        t0 = time.perf_counter()
        try:
            with time_limit(limit):
                pattern, elapsed, warned = detect(f, y0, deriv)
        except PhaseTimeout as exc:
            row[f"{tool}_timeout"] = f"{exc} (stopped after {time.perf_counter() - t0:.0f} s)"
            return None
        except Exception as exc:
            row[f"{tool}_crash"] = _short(exc)
            row[f"{tool}_crash_site"] = _crash_site(exc)
            return None
        row[f"{tool}_nnz"] = int(pattern.nnz)
        row[f"{tool}_time"] = elapsed
        row[f"{tool}_warn"] = warned
        return pattern

    @staticmethod
    def compare(tool, pattern, truth, row):
        """Entries of the truth missing from a tool's pattern, into row."""
        import numpy as np

        if pattern is None or truth is None:
            return
        if pattern.shape != truth.shape:
            row[f"{tool}_shape"] = f"{pattern.shape} vs truth {truth.shape}"
            return
        miss = truth.astype(np.int8) - truth.multiply(pattern).astype(np.int8)
        miss.eliminate_zeros()
        row[f"{tool}_missing"] = int(miss.nnz)
        if miss.nnz:
            mr, mc = miss.nonzero()
            row[f"{tool}_missing_examples"] = [[int(a), int(b)] for a, b in list(zip(mr, mc))[:5]]

    def run(self, name, limits):
        """One problem: jachess, then the truth, then asdex (the heaviest on memory, so
        that a worker killed during asdex still reports jachess against the truth)."""
        import numpy as np

        p = self.problems[name]
        row = {"name": name, "kind": self.kind_of(p), "notes": []}
        try:
            f, y0, deriv = self.function(p)
            out = self.jax.eval_shape(f, y0)
            m = int(np.prod(out.shape))
        except Exception as exc:
            row["problem_error"] = _short(exc)
            return row
        n = int(y0.shape[0])
        row.update(n=n, m=m, deriv=deriv)
        if deriv == "hessian" and m != 1:
            row["problem_error"] = f"objective is not scalar (shape {out.shape})"
            return row

        ours = self.detect("jachess", f, y0, deriv, row, limits["detect"])
        truth = None
        if n > limits["truth_n"]:
            row["notes"].append(f"no truth (n > {limits['truth_n']})")
        else:
            self.on_phase("truth", row)
            try:
                truth, note, nonfinite, done, total, elapsed = self.truth(
                    f, y0, deriv, m, limits["truth"]
                )
            except Exception as exc:
                row["truth_error"] = _short(exc)
            else:
                row.update(
                    truth_nnz=int(truth.nnz),
                    truth_nonfinite=nonfinite,
                    truth_blocks=f"{done}/{total}",
                    truth_time=elapsed,
                    truth_points=3 if n <= DENSE_TRUTH_N else 2,
                )
                if note:
                    row["notes"].append(note)
                if done == 0:
                    truth = None
        self.compare("jachess", ours, truth, row)
        if row.get("jachess_missing") or "jachess_crash" in row or row.get("jachess_warn"):
            try:
                row["primitives"] = self.jaxpr_stats(f, y0)[2]
            except Exception as exc:
                row["primitives"] = [f"make_jaxpr failed: {_short(exc, 80)}"]

        theirs = self.detect("asdex", f, y0, deriv, row, limits["detect"])
        self.compare("asdex", theirs, truth, row)
        if ours is not None and theirs is not None:
            if ours.shape != theirs.shape:
                row["vs_asdex"] = "shape"
            else:
                common = int(ours.multiply(theirs).nnz)
                if common == ours.nnz == theirs.nnz:
                    row["vs_asdex"] = "same"
                elif common == theirs.nnz:
                    row["vs_asdex"] = "looser"
                elif common == ours.nnz:
                    row["vs_asdex"] = "tighter"
                else:
                    row["vs_asdex"] = "differ"
        return row


def worker_main(limits):
    """Read commands from stdin, answer with protocol lines on stdout."""

    def send(obj):
        sys.stdout.write(PROTO + json.dumps(obj) + "\n")
        sys.stdout.flush()

    t0 = time.perf_counter()
    worker = Worker()
    worker.on_phase = lambda phase, row: send({"phase": phase, "row": row})
    send({"ready": time.perf_counter() - t0})
    for line in sys.stdin:
        cmd = json.loads(line)
        if "list" in cmd:
            send({"listing": worker.listing(cmd["list"])})
        elif "run" in cmd:
            name = cmd["run"]
            send({"start": name})
            t = time.perf_counter()
            try:
                row = worker.run(name, limits)
            except PhaseTimeout as exc:
                row = {"name": name, "worker_error": f"timeout outside a phase: {exc}"}
            except Exception as exc:
                row = {"name": name, "worker_error": _short(exc)}
            row["total_time"] = time.perf_counter() - t
            if rss_bytes(os.getpid()) > CLEANUP_RSS:
                worker.cleanup()  # not every time: it drops the compiled primitives too
            row["rss_gb"] = round(rss_bytes(os.getpid()) / 2**30, 2)
            send({"result": row})
        elif cmd.get("quit"):
            break


# ====================================================================== parent side


class Proc:
    """One worker subprocess, its current problem and when it started."""

    def __init__(self, args, log_dir, index):
        self.log = open(os.path.join(log_dir, f"worker{index}.log"), "ab")
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            "--worker",
            "--detect-timeout", str(args.detect_timeout),
            "--truth-timeout", str(args.truth_timeout),
            "--truth-max-n", str(args.truth_max_n),
        ]
        env = dict(os.environ)
        env.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.p = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env
        )
        self.buf = b""
        self.ready = False
        self.current = None
        self.phase = None
        self.partial = {}
        self.since = time.monotonic()
        self.log_path = self.log.name

    def send(self, obj):
        self.p.stdin.write((json.dumps(obj) + "\n").encode())
        self.p.stdin.flush()

    def read_messages(self):
        """Protocol messages available now; None when the worker has exited."""
        chunk = os.read(self.p.stdout.fileno(), 1 << 20)
        if not chunk:
            return None
        self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        msgs = []
        for line in lines:
            text = line.decode(errors="replace")
            if text.startswith(PROTO):
                msgs.append(json.loads(text[len(PROTO):]))
        return msgs

    def kill(self):
        with contextlib.suppress(Exception):
            self.p.kill()
            self.p.wait(timeout=10)
        self.log.close()

    def log_tail(self, chars=300):
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, 2)
                fh.seek(max(0, fh.tell() - chars))
                return fh.read().decode(errors="replace").replace("\n", " ").strip()
        except OSError:
            return ""


def run_all(args):
    log_dir = tempfile.mkdtemp(prefix="cutest_workers_")
    hard = args.detect_timeout * 2 + args.truth_timeout + args.grace
    t_start = time.monotonic()
    procs = [Proc(args, log_dir, i) for i in range(args.jobs)]
    listing, queue, results, started, n_selected = None, None, {}, False, 0
    index = args.jobs

    def schedule():
        nonlocal listing, queue, started
        if queue is None:
            return
        for pr in procs:
            if pr.ready and pr.current is None and queue:
                name = queue.pop(0)
                pr.current, pr.since, pr.phase, pr.partial = name, time.monotonic(), None, {}
                pr.send({"run": name})

    while True:
        if queue is not None and not queue and all(pr.current is None for pr in procs):
            break
        fds = {pr.p.stdout.fileno(): pr for pr in procs}
        readable, _, _ = select.select(list(fds), [], [], 0.25)
        for fd in readable:
            pr = fds[fd]
            msgs = pr.read_messages()
            if msgs is None:  # worker died
                if pr.current is not None:
                    results[pr.current] = {
                        **pr.partial,
                        "name": pr.current,
                        "worker_error": f"worker died (rc {pr.p.poll()}) during "
                        f"{pr.phase or '?'}: {pr.log_tail()}",
                    }
                    print(f"  {pr.current}: worker died", flush=True)
                elif listing is None and not started:
                    sys.exit(f"worker died before listing: {pr.log_tail(2000)}")
                pr.kill()
                procs[procs.index(pr)] = Proc(args, log_dir, index)
                index += 1
                continue
            for msg in msgs:
                if "ready" in msg:
                    pr.ready = True
                    if not started:
                        started = True
                        pr.current = "<listing>"
                        only = None
                        if args.only:
                            only = [s.strip() for s in args.only.split(",") if s.strip()]
                        pr.send({"list": only})
                elif "phase" in msg:
                    pr.phase, pr.partial = msg["phase"], msg["row"]
                elif "listing" in msg:
                    pr.current = None
                    listing = msg["listing"]
                    queue = select_problems(listing, args)
                    n_selected = len(queue)
                    print(
                        f"{len(queue)} problems selected of {len(listing)} "
                        f"({time.monotonic() - t_start:.0f} s)",
                        flush=True,
                    )
                elif "result" in msg:
                    row = msg["result"]
                    results[row["name"]] = row
                    pr.current = None
                    print_progress(row, len(results), n_selected)
        now = time.monotonic()
        for i, pr in enumerate(procs):
            if pr.current in (None, "<listing>"):
                continue
            rss = rss_bytes(pr.p.pid)
            if now - pr.since > hard:
                why = f"hard timeout ({hard:.0f} s)"
            elif rss > args.mem_limit * 2**30:
                why = f"memory limit ({rss / 2**30:.2f} GiB > {args.mem_limit:g} GiB)"
            else:
                continue
            results[pr.current] = {
                **pr.partial,
                "name": pr.current,
                "worker_error": f"{why}: worker killed during {pr.phase or '?'}",
            }
            print(f"  {pr.current}: {why}, worker restarted", flush=True)
            pr.kill()
            procs[i] = Proc(args, log_dir, index)
            index += 1
        schedule()
    load = os.getloadavg()
    for pr in procs:
        with contextlib.suppress(Exception):
            pr.send({"quit": True})
        pr.kill()
    info = {n["name"]: n for n in listing}
    for name, row in results.items():
        for key in ("kind", "n"):
            row.setdefault(key, info.get(name, {}).get(key))
    wall = time.monotonic() - t_start
    return [results[name] for name in sorted(results)], listing, wall, load


def select_problems(listing, args):
    max_n = min(args.max_n, 200) if args.quick else args.max_n
    if args.only:
        wanted = {s.strip().upper() for s in args.only.split(",") if s.strip()}
        chosen = [r for r in listing if r["name"].upper() in wanted]
        unknown = wanted - {r["name"].upper() for r in chosen}
        if unknown:
            print(f"unknown problems: {', '.join(sorted(unknown))}", flush=True)
    else:
        chosen = [r for r in listing if 0 <= r["n"] <= max_n]
    # largest first, so that the long ones do not end the run alone
    chosen.sort(key=lambda r: -r["n"])
    return [r["name"] for r in chosen]


def print_progress(row, done, total):
    flag = ""
    if row.get("jachess_missing"):
        flag = f" MISSING {row['jachess_missing']}"
    for key in ("jachess_crash", "jachess_timeout", "worker_error", "problem_error"):
        if key in row:
            flag += f" {key.upper()}"
    print(
        f"[{done}/{total}] {row['name']} n={row.get('n')} {row.get('total_time', 0):.1f} s{flag}",
        flush=True,
    )


# ====================================================================== report


def fmt_t(x):
    return "-" if x is None else f"{x:.3f}"


def status_of(row, tool):
    if f"{tool}_crash" in row:
        return "crash"
    if f"{tool}_timeout" in row:
        return "timeout"
    return ""


def code_state() -> str:
    """git HEAD of the checkout and a short hash of its uncommitted changes under src/."""
    import hashlib

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                              capture_output=True, text=True, check=True).stdout.strip()
        diff = subprocess.run(["git", "diff", "HEAD", "--", "src"], cwd=root,
                              capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "jachess checkout: unknown (no git)"
    dirty = f", uncommitted src changes {hashlib.sha1(diff).hexdigest()[:10]}" if diff else ""
    return f"jachess checkout: {head}{dirty}"


def report(rows, listing, args, wall, loads, state):
    import jax

    import jachess

    versions = {}
    for mod in ("sif2jax", "asdex"):
        try:
            from importlib.metadata import version

            versions[mod] = version(mod)
        except Exception:
            versions[mod] = "?"
    lines = [
        "# Sparsity detection on sif2jax CUTEst problems: jachess vs truth and asdex",
        "",
        f"Command: `{' '.join(['.venv/bin/python', *sys.argv])}`",
        "",
        f"jachess {getattr(jachess, '__version__', '?')}, asdex {versions['asdex']}, "
        f"sif2jax {versions['sif2jax']}, jax {jax.__version__}, float64, CPU, "
        f"{platform.node() or 'host'} ({os.cpu_count()} cores), {args.jobs} workers; "
        f"{state}; wall {wall:.0f} s; load average (1/5/15 min) at start "
        f"{'/'.join(f'{x:.1f}' for x in loads[0])}, at end {'/'.join(f'{x:.1f}' for x in loads[1])}",
        "",
        "Hessian of the objective for unconstrained and bounded problems, Jacobian of the "
        "constraints (equalities then inequalities) for constrained problems, Jacobian of "
        "the residual for nonlinear equations. Truth: union of nonzeros of exact dense "
        f"derivative columns (vmapped JVP / HVP over identity blocks) at y0 and 2 random "
        f"perturbations (n <= {DENSE_TRUTH_N}) or 1 (larger n, up to {args.truth_max_n}); "
        "a lower bound of the true pattern. missing = truth entries not in the detected "
        "pattern (unsound). Times are detection only (trace + interpretation), with "
        f"{args.jobs} workers sharing the machine. Limits per problem: detection "
        f"{args.detect_timeout:.0f} s per tool, truth {args.truth_timeout:.0f} s.",
        "",
    ]
    checked = [r for r in rows if "problem_error" not in r and "worker_error" not in r]
    with_truth = [r for r in checked if "jachess_missing" in r]
    missing_rows = [r for r in rows if r.get("jachess_missing")]
    crash_rows = [r for r in rows if "jachess_crash" in r]
    timeout_rows = [r for r in rows if "jachess_timeout" in r]
    warn_rows = [r for r in rows if r.get("jachess_warn")]
    asdex_missing = [r for r in rows if r.get("asdex_missing")]
    asdex_crash = [r for r in rows if "asdex_crash" in r]
    vs = Counter(r.get("vs_asdex") for r in rows if r.get("vs_asdex"))
    partial = [r for r in rows if any("partial" in n for n in r.get("notes", []))]
    jt = sum(r.get("jachess_time", 0) for r in rows if "asdex_time" in r)
    at = sum(r.get("asdex_time", 0) for r in rows if "jachess_time" in r)
    kinds = Counter(r.get("kind") for r in rows)
    lines += [
        "## Summary",
        "",
        f"- problems run: {len(rows)} ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})"
        f" of {len(listing)} listed; detected by jachess: "
        f"{sum('jachess_nnz' in r for r in rows)}; compared with a truth: {len(with_truth)}"
        f" ({len(partial)} with a partial truth)",
        f"- jachess missing entries (unsound): {sum(r.get('jachess_missing', 0) for r in rows)}"
        f" in {len(missing_rows)} problems",
        f"- jachess crashes: {len(crash_rows)}; detection time-outs: {len(timeout_rows)}; "
        f"problems with a SparsityWarning: {len(warn_rows)}",
        f"- asdex missing entries: {sum(r.get('asdex_missing', 0) for r in rows)} in "
        f"{len(asdex_missing)} problems; asdex crashes: {len(asdex_crash)}; "
        f"asdex time-outs: {sum('asdex_timeout' in r for r in rows)}",
        f"- jachess vs asdex pattern: same {vs.get('same', 0)}, looser (more entries) "
        f"{vs.get('looser', 0)}, tighter (fewer) {vs.get('tighter', 0)}, neither contains the "
        f"other {vs.get('differ', 0)}",
        f"- total detection time where both ran: jachess {jt:.1f} s, asdex {at:.1f} s",
        f"- problem errors (sif2jax function fails to trace): "
        f"{sum('problem_error' in r for r in rows)}; worker errors (died / hard timeout): "
        f"{sum('worker_error' in r for r in rows)}"
        + (" (killed during: " + ", ".join(
            f"{k} {v}" for k, v in sorted(Counter(
                r["worker_error"].split(" during ")[-1].split(":")[0]
                for r in rows if "worker_error" in r).items())) + ")"
           if any("worker_error" in r for r in rows) else ""),
        "",
    ]

    def detail(r):
        bits = []
        if r.get("jachess_missing"):
            bits.append(
                f"missing {r['jachess_missing']} (e.g. {r.get('jachess_missing_examples')})"
            )
        if "jachess_crash" in r:
            bits.append(f"crash at {r.get('jachess_crash_site') or '?'}: {r['jachess_crash']}")
        if "jachess_timeout" in r:
            bits.append(f"timeout {r['jachess_timeout']}")
        if r.get("jachess_warn"):
            bits.append("warning: " + " / ".join(r["jachess_warn"])[:400])
        if "primitives" in r:
            bits.append("primitives: " + " ".join(r["primitives"]))
        return "; ".join(bits).replace("|", "/")

    if missing_rows or crash_rows or timeout_rows:
        lines += [
            "## jachess problems: missing entries, crashes, time-outs",
            "",
            "| problem | kind | n | m | nnz jachess / asdex / truth | asdex missing | detail |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in sorted(
            {id(r): r for r in missing_rows + crash_rows + timeout_rows}.values(),
            key=lambda r: r["name"],
        ):
            lines.append(
                f"| {r['name']} | {r.get('kind')} | {r.get('n')} | {r.get('m')} | "
                f"{r.get('jachess_nnz', status_of(r, 'jachess'))} / "
                f"{r.get('asdex_nnz', status_of(r, 'asdex'))} / {r.get('truth_nnz', '-')} | "
                f"{r.get('asdex_missing', '-')} | {detail(r)} |"
            )
        lines.append("")
    if warn_rows:
        lines += ["## jachess SparsityWarnings", "", "| problem | n | warning |", "|---|---|---|"]
        for r in warn_rows:
            text = " / ".join(r["jachess_warn"]).replace("|", "/").replace("\n", " ")
            lines.append(f"| {r['name']} | {r.get('n')} | {text[:500]} |")
        lines.append("")
    others = [r for r in rows if r.get("asdex_missing") or "asdex_crash" in r]
    if others:
        lines += [
            "## asdex missing entries and crashes",
            "",
            "| problem | n | asdex | detail |",
            "|---|---|---|---|",
        ]
        for r in others:
            what = (
                f"crash: {r['asdex_crash']}"
                if "asdex_crash" in r
                else f"missing {r['asdex_missing']} e.g. {r.get('asdex_missing_examples')}"
            )
            lines.append(
                f"| {r['name']} | {r.get('n')} | {r.get('asdex_nnz', '-')} | "
                f"{what.replace('|', '/')[:300]} |"
            )
        lines.append("")
    diff = [r for r in rows if r.get("vs_asdex") in ("looser", "differ", "tighter")]
    if diff:
        lines += [
            "## Patterns that differ from asdex's",
            "",
            "| problem | kind | n | jachess vs asdex | nnz jachess / asdex / truth | W |",
            "|---|---|---|---|---|---|",
        ]
        for r in sorted(diff, key=lambda r: (r["vs_asdex"], r["name"])):
            lines.append(
                f"| {r['name']} | {r.get('kind')} | {r.get('n')} | {r['vs_asdex']} | "
                f"{r.get('jachess_nnz')} / {r.get('asdex_nnz')} / {r.get('truth_nnz', '-')} | "
                f"{'W' if r.get('jachess_warn') else ''} |"
            )
        lines.append("")
    errs = [r for r in rows if "problem_error" in r or "worker_error" in r or "truth_error" in r]
    if errs:
        lines += ["## Problem, worker and truth errors", "", "| problem | n | error |", "|---|---|---|"]
        for r in errs:
            err = r.get("problem_error") or r.get("worker_error") or r.get("truth_error")
            lines.append(f"| {r['name']} | {r.get('n')} | {err.replace('|', '/')[:300]} |")
        lines.append("")

    lines += [
        "## All problems",
        "",
        "W: jachess issued a SparsityWarning. vs asdex: looser = jachess has strictly more "
        "entries, tighter = strictly fewer. nonfinite: nan/inf derivative entries at the "
        "truth points (not counted as nonzeros).",
        "",
        "| problem | kind | n | m | nnz jachess | nnz asdex | nnz truth | missing jachess | "
        "missing asdex | W | vs asdex | t jachess (s) | t asdex (s) | truth blocks | "
        "nonfinite | notes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        notes = list(r.get("notes", []))
        for key in ("problem_error", "worker_error", "truth_error", "jachess_crash",
                    "asdex_crash", "jachess_timeout", "asdex_timeout",
                    "jachess_shape", "asdex_shape"):
            if key in r:
                notes.append(f"{key}: {r[key]}"[:160])
        lines.append(
            f"| {r['name']} | {r.get('kind', '')} | {r.get('n', '')} | {r.get('m', '')} | "
            f"{r.get('jachess_nnz', status_of(r, 'jachess') or '-')} | "
            f"{r.get('asdex_nnz', status_of(r, 'asdex') or '-')} | {r.get('truth_nnz', '-')} | "
            f"{r.get('jachess_missing', '-')} | {r.get('asdex_missing', '-')} | "
            f"{'W' if r.get('jachess_warn') else ''} | {r.get('vs_asdex', '-')} | "
            f"{fmt_t(r.get('jachess_time'))} | {fmt_t(r.get('asdex_time'))} | "
            f"{r.get('truth_blocks', '-')} | {r.get('truth_nonfinite', '-')} | "
            f"{'; '.join(notes).replace('|', '/')} |"
        )
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-n", type=int, default=5000, help="largest n run (default 5000)")
    ap.add_argument("--quick", action="store_true", help="only problems with n <= 200")
    ap.add_argument("--only", help="comma-separated problem names (ignores --max-n)")
    ap.add_argument("--out", help="write the markdown report here")
    ap.add_argument("--json", help="write the raw per-problem rows here (JSON)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--detect-timeout", type=float, default=30.0,
                    help="soft limit per detection call, s (default 30)")
    ap.add_argument("--truth-timeout", type=float, default=20.0,
                    help="soft limit for the truth of one problem, s (default 20)")
    ap.add_argument("--truth-max-n", type=int, default=MAX_TRUTH_N,
                    help=f"no truth above this n (default {MAX_TRUTH_N})")
    ap.add_argument("--grace", type=float, default=60.0,
                    help="hard limit = 2 x detect + truth + grace, s (default 60)")
    ap.add_argument("--mem-limit", type=float, default=6.0,
                    help="kill a worker whose resident memory passes this, GiB (default 6)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        worker_main(
            {"detect": args.detect_timeout, "truth": args.truth_timeout,
             "truth_n": args.truth_max_n}
        )
        return
    load0, state = os.getloadavg(), code_state()
    rows, listing, wall, load1 = run_all(args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    text = report(rows, listing, args, wall, (load0, load1), state)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
        print(f"wrote {args.out}")
    else:
        print(text)


if __name__ == "__main__":
    main()
