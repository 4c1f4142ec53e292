"""The command line: the safe expression language, analyze, demo, errors and --json."""

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jachess
from jachess.cli import main
from jachess.cli._expression import parse


def run_cli(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


class TestExpressionLanguage:
    @pytest.mark.parametrize(
        ("text", "point", "expected"),
        [
            ("x**2 + 3*y", {"x": 2.0, "y": 1.0}, 7.0),
            ("-x + +y - 2/4", {"x": 1.0, "y": 3.0}, 1.5),
            ("sin(x)*exp(y) + sqrt(abs(x))", {"x": 0.5, "y": 0.2},
             np.sin(0.5) * np.exp(0.2) + np.sqrt(0.5)),
            ("atan2(y, x) + hypot(x, y) + max(x, y)", {"x": 1.0, "y": 1.0},
             np.pi / 4 + np.sqrt(2) + 1),
            ("pi*e + log(x)", {"x": np.e}, np.pi * np.e + 1),
        ],
    )
    def test_values(self, text, point, expected):
        expression = parse(text)
        f = expression.function(tuple(point))
        np.testing.assert_allclose(f(jnp.asarray(list(point.values()))), expected, rtol=1e-14)

    def test_variable_order_is_first_appearance(self):
        assert parse("z + x*y + x").variables == ("z", "x", "y")

    def test_vector_function(self):
        expression = parse("x*y, x+y, 2")
        assert not expression.is_scalar
        np.testing.assert_allclose(expression.function()(jnp.array([2.0, 3.0])), [6, 5, 2])

    def test_huge_power_is_inf_not_a_big_integer(self):
        f = parse("9**9**9 + x").function()
        assert np.isinf(f(jnp.array([0.0])))

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("__import__('os').system('echo pwned')", "attributes"),
            ("x.real", "attributes"),
            ("x[0]", "indexing"),
            ("x^2", r"use \*\* for powers"),
            ("lambda: 1", "lambda"),
            ("foo(x)", "unknown function 'foo'"),
            ("sin", "sin is a function"),
            ("sin(x, y)", r"sin\(\) takes 1 argument"),
            ("'text'", "only numbers"),
            ("x < 1", "comparisons"),
            ("(x, (y, z))", "nested tuples"),
            ("x +", "cannot parse"),
            ("", "empty"),
            ("_secret + 1", "may not start with '_'"),
            ("(" * 300 + "x" + ")" * 300, "nested too deeply|cannot parse"),
            ("sin(x=1)", "no keyword arguments"),
        ],
    )
    def test_refusals(self, text, message):
        with pytest.raises(jachess.ExpressionError, match=message):
            parse(text)


class TestAnalyze:
    def test_rosenbrock_minimum(self, capsys):
        status, out, _ = run_cli(capsys, "analyze", "(1-x)**2 + 100*(y-x**2)**2",
                                 "--at", "x=1,y=1")
        assert status == 0
        assert "MINIMUM" in out and "802" in out and "-400" in out

    def test_json_matches_library(self, capsys):
        status, out, _ = run_cli(capsys, "analyze", "x**2*y - y**3", "--at", "x=1,y=0.5",
                                 "--json")
        assert status == 0
        data = json.loads(out)

        def f(v):
            return v[0] ** 2 * v[1] - v[1] ** 3

        x = jnp.array([1.0, 0.5])
        np.testing.assert_allclose(data["gradient"], jax.grad(f)(x), rtol=1e-14)
        np.testing.assert_allclose(data["hessian"], jax.hessian(f)(x), rtol=1e-14)
        reference = jachess.critical.classify(f, x)
        assert data["classification"]["kind"] == reference.kind == "not critical"
        np.testing.assert_allclose(data["eigenvalues"], reference.eigenvalues, rtol=1e-14)
        assert set(data) >= {"expression", "variables", "point", "value", "gradient",
                             "hessian", "eigenvalues", "classification"}

    def test_saddle_json_has_escape_direction(self, capsys):
        _, out, _ = run_cli(capsys, "analyze", "x**2 - y**2", "--json")
        data = json.loads(out)
        assert data["classification"]["kind"] == "saddle"
        np.testing.assert_allclose(np.abs(data["classification"]["escape_direction"]), [0, 1])
        assert data["note"].startswith("no --at given")

    def test_vector_function_jacobian_and_determinant(self, capsys):
        _, out, _ = run_cli(capsys, "analyze", "r*cos(t), r*sin(t)", "--at", "r=2,t=pi/4",
                            "--json")
        data = json.loads(out)
        np.testing.assert_allclose(data["determinant"], 2.0, rtol=1e-14)
        c, s = np.cos(np.pi / 4), np.sin(np.pi / 4)
        np.testing.assert_allclose(data["jacobian"], [[c, -2 * s], [s, 2 * c]], rtol=1e-14)
        assert len(data["hessians"]) == 2

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["analyze", "x^2"], "use ** for powers"),
            (["analyze", "x+y", "--at", "x=1"], "no value for y"),
            (["analyze", "x+y", "--at", "x=1,y=2,z=3"], "does not use"),
            (["analyze", "x+y", "--at", "x"], "name=value pairs"),
            (["analyze", "x+y", "--at", "x=1,y=foo"], "must be a number"),
        ],
    )
    def test_errors_are_one_line_with_status_2(self, capsys, argv, message):
        status, out, err = run_cli(capsys, *argv)
        assert status == 2 and out == ""
        assert err.startswith("jachess: error:") and message in err
        assert "Traceback" not in err and err.count("\n") == 1


def test_demo_steps_text_and_numbers():
    """Each step once: its prose, and numbers that agree with independent references."""
    from jachess.cli._demo import STEPS

    texts, data = [], {}
    for title, step in STEPS:
        text, numbers = step()
        texts.append(text)
        data[title] = numbers
    out = "\n".join(texts)
    for word in ("MINIMUM", "SADDLE", "DEGENERATE", "det J", "Chain rule", "passes instead of",
                 "HVPs", "lbfgs", "log-normal formula", "elasticity"):
        assert word in out
    sparse = data["A sparse Jacobian in a handful of passes"]
    assert sparse["passes"] == 5 and sparse["max_difference"] < 1e-9
    curvature = data["The curvature of a network's loss, matrix-free"]
    values = sorted(curvature["eigenvalues"])
    np.testing.assert_allclose([values[0], values[-1]], curvature["dense_extremes"], rtol=1e-7)
    flow = data["A log-density under a change of variables"]
    np.testing.assert_allclose(flow["log_prob"], flow["lognormal"], rtol=1e-12)
    assert all(run["success"] for run in data["Newton against quasi-Newton"].values())


@pytest.mark.parametrize("as_json", [False, True])
def test_demo_command(capsys, monkeypatch, as_json):
    from jachess.cli import _demo

    monkeypatch.setattr(_demo, "STEPS", _demo.STEPS[:2])  # the wiring, not every step again
    status, out, _ = run_cli(capsys, "demo", *(["--json"] if as_json else []))
    assert status == 0
    if as_json:
        assert list(json.loads(out)) == [title for title, _ in _demo.STEPS[:2]]
    else:
        assert "1. A minimum" in out and "Try it yourself" in out


def test_every_subcommand_has_help():
    from jachess.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"analyze", "demo"} <= set(commands)
    for name, sub in commands.items():
        assert sub.format_help().startswith("usage: jachess " + name), name


def test_console_script_refuses_code_without_traceback():
    done = subprocess.run(
        [sys.executable, "-m", "jachess.cli", "analyze", "__import__('os').system('echo hi')"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert "hi" not in done.stdout and "Traceback" not in done.stderr


class TestMinimize:
    def test_every_method_on_rosenbrock(self, capsys):
        status, out, _ = run_cli(capsys, "minimize", "(1-x)**2 + 100*(y-x**2)**2",
                                 "--from", "x=-1.2,y=1", "--method", "all", "--json")
        assert status == 0
        data = json.loads(out)
        assert [r["method"] for r in data["runs"]] == ["newton", "trust-ncg", "trust-exact",
                                                       "bfgs", "lbfgs"]
        for run in data["runs"]:
            assert run["success"] and run["classification"]["kind"] == "minimum"
            np.testing.assert_allclose(list(run["x"].values()), [1.0, 1.0], rtol=1e-6)

    def test_json_matches_library(self, capsys):
        _, out, _ = run_cli(capsys, "minimize", "x**4 + y**2 - x*y", "--from", "x=1,y=1",
                            "--method", "bfgs", "--json")
        run = json.loads(out)["runs"][0]
        result = jachess.optimize.minimize(lambda v: v[0] ** 4 + v[1] ** 2 - v[0] * v[1],
                                           jnp.array([1.0, 1.0]), method="bfgs")
        np.testing.assert_allclose(list(run["x"].values()), result.x, rtol=1e-12)
        assert run["num_iterations"] == int(result.num_iterations)

    def test_path_plot(self, capsys, tmp_path):
        target = tmp_path / "path.png"
        status, out, _ = run_cli(capsys, "minimize", "(x-1)**2 + 10*(y+x**2)**2",
                                 "--from", "x=-1,y=1", "--plot", str(target))
        assert status == 0 and "newton" in out and target.stat().st_size > 5000

    def test_vector_expression_refused(self, capsys):
        status, _, err = run_cli(capsys, "minimize", "x, y")
        assert status == 2 and "one scalar expression" in err


class TestSensitivity:
    def test_ranking_most_important_first(self, capsys):
        status, out, _ = run_cli(capsys, "sensitivity", "a*b**2 + sin(c)", "--at",
                                 "a=3,b=2,c=0.5")
        assert status == 0
        rows = [line.split()[0] for line in out.splitlines()
                if line.strip() and line.split()[0] in {"a", "b", "c"}]
        assert rows == ["b", "a", "c"]  # |df/db| = 12 > |df/da| = 4 > |df/dc| = cos 0.5

    def test_json_matches_library(self, capsys):
        _, out, _ = run_cli(capsys, "sensitivity", "x*y, x+y", "--at", "x=1,y=2", "--json")
        data = json.loads(out)
        table = jachess.sensitivity.local(lambda v: jnp.stack([v[0] * v[1], v[0] + v[1]]),
                                          jnp.array([1.0, 2.0]), names=["x", "y"],
                                          output_names=["f0", "f1"])
        assert data.pop("expression") == "x*y, x+y"
        assert data == json.loads(json.dumps(table.to_dict()))


class TestReport:
    def test_report_is_valid_self_contained_html(self, capsys, tmp_path):
        from html.parser import HTMLParser

        target = tmp_path / "report.html"
        status, out, _ = run_cli(capsys, "report", "x**2 - y**2 + x*y", "--at", "x=0.3,y=0.1",
                                 "--out", str(target))
        assert status == 0 and "wrote" in out
        text = target.read_text()

        class Collector(HTMLParser):
            def __init__(self):
                super().__init__()
                self.tags, self.images = [], []

            def handle_starttag(self, tag, attrs):
                self.tags.append(tag)
                if tag == "img":
                    self.images.append(dict(attrs)["src"])

        parser = Collector()
        parser.feed(text)
        parser.close()
        assert parser.tags.count("table") >= 3 and "h1" in parser.tags
        assert len(parser.images) == 1 and parser.images[0].startswith("data:image/png;base64,")
        assert "not critical" in text and "jachess analyze" in text

    def test_report_escapes_html(self, capsys, tmp_path):
        target = tmp_path / "r.html"
        assert main(["report", "x<y", "--out", str(target)]) == 2  # refused, nothing written
        assert not target.exists()


class TestCritical:
    def test_himmelblau_nine_points(self, capsys, tmp_path):
        target = tmp_path / "h.png"
        status, out, _ = run_cli(capsys, "critical", "(x**2+y-11)**2 + (x+y**2-7)**2",
                                 "--box", "x=-5:5,y=-5:5", "--json", "--plot", str(target))
        assert status == 0
        data = json.loads(out)
        assert data["counts"] == {"minimum": 4, "saddle": 4, "maximum": 1}
        for point in data["points"]:
            if point["kind"] == "minimum":
                assert point["value"] < 1e-20
        assert target.stat().st_size > 5000

    @pytest.mark.parametrize(
        ("box", "message"),
        [("x=-5:5", "needs a range for y"), ("x=5:-5,y=0:1", "lower bound must be below"),
         ("x=-5..5,y=0:1", "name=lo:hi"), ("x=-1:1,y=0:1,z=0:1", "does not use")],
    )
    def test_box_errors(self, capsys, box, message):
        status, _, err = run_cli(capsys, "critical", "x*y", "--box", box)
        assert status == 2 and message in err
