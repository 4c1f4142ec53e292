"""jachess.operators against dense float64 references nobody here wrote (jax.hessian,
jax.jacfwd, per-example jax.grad). Tolerances: float64 products of a few hundred terms,
so 1e-10 absolute on O(1) entries; statistical tests say their bound where they use one.
"""

import itertools
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse.linalg
from jax.flatten_util import ravel_pytree

import jachess
from jachess.operators import GGN, Fisher, Hessian, Jacobian, Matrix

ATOL = 1e-10


def model(params, x):
    hidden = jnp.tanh(x @ params["l1"]["w"] + params["l1"]["b"])
    return hidden @ params["l2"]["w"] + params["l2"]["b"]


def cross_entropy(logits, y):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def log_likelihood(logits, y):
    return -cross_entropy(logits, y)


def loss(params, batch):
    x, y = batch
    return cross_entropy(model(params, x), y)


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    params = {
        "l1": {"w": rng.normal(size=(3, 4)), "b": rng.normal(size=4)},
        "l2": {"w": rng.normal(size=(4, 3)), "b": rng.normal(size=3)},
    }
    x = rng.normal(size=(37, 3))
    y = rng.integers(0, 3, size=37)
    flat, unravel = ravel_pytree(params)
    return params, x, y, flat, unravel


def dense_hessian(problem):
    _params, x, y, flat, unravel = problem
    return np.asarray(jax.hessian(lambda f: loss(unravel(f), (x, y)))(flat))


def test_dataset_hessian_matches_dense_for_arrays_and_uneven_batches(problem):
    params, x, y, flat, _unravel = problem
    reference = dense_hessian(problem)
    by_arrays = Hessian(loss, params, data=(x, y), batch_size=10)  # 3 batches + 7
    np.testing.assert_allclose(by_arrays.to_dense(), reference, atol=ATOL)
    # Uneven batches given as a list: each weighted by its size, not 1/num_batches.
    sizes = [16, 16, 5]
    starts = np.cumsum([0, *sizes])
    batches = [(x[a:b], y[a:b]) for a, b in itertools.pairwise(starts)]
    streamed = Hessian(loss, params, data=batches)
    np.testing.assert_allclose(streamed.to_dense(), reference, atol=ATOL)
    assert by_arrays.shape == (flat.size, flat.size) and by_arrays.dtype == jnp.float64


def test_point_hessian_pytree_vectors_matmat_and_scipy():
    def f(x):
        return jnp.sum(jnp.sin(x["a"]) * x["b"][:, None]) + jnp.sum(x["a"] ** 4)

    rng = np.random.default_rng(1)
    x = {"a": rng.normal(size=(3, 2)), "b": rng.normal(size=3)}
    flat, unravel = ravel_pytree(x)
    reference = np.asarray(jax.hessian(lambda z: f(unravel(z)))(flat))
    H = Hessian(f, x)
    V = rng.normal(size=(flat.size, 4))
    np.testing.assert_allclose(H.matmat(V), reference @ V, atol=ATOL)
    v_tree = unravel(jnp.asarray(V[:, 0]))
    out = H @ v_tree
    assert jax.tree_util.tree_structure(out) == jax.tree_util.tree_structure(x)
    np.testing.assert_allclose(ravel_pytree(out)[0], reference @ V[:, 0], atol=ATOL)
    np.testing.assert_allclose(H @ V[:, 1], reference @ V[:, 1], atol=ATOL)
    assert H.T is H
    scipy_values = scipy.sparse.linalg.eigsh(H.to_scipy(), k=2, which="LA")[0]
    np.testing.assert_allclose(np.sort(scipy_values), np.linalg.eigvalsh(reference)[-2:], rtol=1e-8)


def test_ggn_matches_jacobian_formula_and_fisher_per_example_gradients(problem):
    params, x, y, flat, unravel = problem
    J = jax.jacfwd(lambda f: model(unravel(f), x))(flat).reshape(-1, flat.size)
    logits = model(params, x)
    loss_hessian = jax.hessian(lambda z: cross_entropy(z.reshape(logits.shape), y))(
        logits.reshape(-1)
    )
    G = GGN(model, cross_entropy, params, data=(x, y), batch_size=10)
    np.testing.assert_allclose(G.to_dense(), J.T @ loss_hessian @ J, atol=ATOL)
    scores = jax.vmap(
        lambda xi, yi: jax.grad(lambda f: log_likelihood(model(unravel(f), xi[None]), yi[None]))(
            flat
        )
    )(x, y)
    F = Fisher(model, log_likelihood, params, data=(x, y), batch_size=10)
    np.testing.assert_allclose(F.to_dense(), scores.T @ scores / len(x), atol=ATOL)


def test_ggn_equals_hessian_for_a_linear_model_with_squared_error():
    rng = np.random.default_rng(2)
    params = {"w": rng.normal(size=(4, 2))}
    x, t = rng.normal(size=(16, 4)), rng.normal(size=(16, 2))

    def linear(p, inputs):
        return inputs @ p["w"]

    def mse(outputs, targets):
        return jnp.mean((outputs - targets) ** 2)

    G = GGN(linear, mse, params, data=(x, t), batch_size=5).to_dense()
    H = Hessian(lambda p, b: mse(linear(p, b[0]), b[1]), params, data=(x, t)).to_dense()
    np.testing.assert_allclose(G, H, atol=ATOL)
    # Analytic: H = 2/(N·2) Σ_i x_i x_iᵀ ⊗ I_2 in ravel order of w (4, 2).
    expected = np.kron(x.T @ x, np.eye(2)) / 16
    np.testing.assert_allclose(H, expected, atol=ATOL)


def test_true_fisher_is_close_to_ggn_for_softmax_cross_entropy():
    # For a softmax output with cross-entropy, E_y~p[g gᵀ] = GGN exactly; one sampled label
    # per example over N examples is a Monte Carlo estimate with relative error ~ 1/√N.
    rng = np.random.default_rng(3)
    params = {"w": rng.normal(size=(3, 4)) * 0.5, "b": np.zeros(4)}
    x = rng.normal(size=(4000, 3))
    y = rng.integers(0, 4, size=4000)

    def linear(p, inputs):
        return inputs @ p["w"] + p["b"]

    G = GGN(linear, cross_entropy, params, data=(x, y), batch_size=1000).to_dense()
    F = Fisher(
        linear,
        log_likelihood,
        params,
        data=(x, y),
        batch_size=1000,
        kind="true",
        sample=lambda key, logits: jax.random.categorical(key, logits),
        key=jax.random.key(7),
    ).to_dense()
    relative = np.linalg.norm(F - G) / np.linalg.norm(G)
    assert relative < 0.1, relative  # expected ≈ 0.02-0.04 for N = 4000


def test_jacobian_transpose_and_chain_rule_composition():
    rng = np.random.default_rng(4)
    x = rng.normal(size=5)

    def f(z):
        return jnp.stack([jnp.sin(z[0] * z[1]), z[2] ** 2, jnp.exp(z[3]) + z[4]])

    def g(u):
        return {"p": u[0] * u[1], "q": jnp.tanh(u)}

    Jf = Jacobian(f, x)
    Jg = Jacobian(g, f(x))
    dense_f = np.asarray(jax.jacfwd(f)(x))
    assert Jf.shape == (3, 5)
    np.testing.assert_allclose(Jf.to_dense(), dense_f, atol=ATOL)
    np.testing.assert_allclose(Jf.T.to_dense(), dense_f.T, atol=ATOL)
    chain = Jg @ Jf
    direct = Jacobian(lambda z: g(f(z)), x)
    assert chain.shape == (4, 5)
    np.testing.assert_allclose(chain.to_dense(), direct.to_dense(), atol=ATOL)
    np.testing.assert_allclose(chain.T.to_dense(), direct.to_dense().T, atol=ATOL)
    gram = Jf.T @ Jf
    assert gram.symmetric
    np.testing.assert_allclose(gram.to_dense(), dense_f.T @ dense_f, atol=ATOL)
    u = rng.normal(size=3)
    scipy_op = Jf.to_scipy()
    np.testing.assert_allclose(scipy_op.rmatvec(u), dense_f.T @ u, atol=ATOL)
    np.testing.assert_allclose(scipy_op.matvec(x), dense_f @ x, atol=ATOL)
    out = chain @ x
    np.testing.assert_allclose(out, direct.to_dense() @ x, atol=ATOL)


def test_wrt_selects_a_block_of_the_hessian(problem):
    params, x, y, _flat, _unravel = problem
    reference = dense_hessian(problem)
    H = Hessian(loss, params, data=(x, y), batch_size=10, wrt=lambda p: p["l2"])
    # ravel order of params: l1/b, l1/w, l2/b, l2/w; the l2 block is the last 15 entries.
    np.testing.assert_allclose(H.to_dense(), reference[-15:, -15:], atol=ATOL)
    H_list = Hessian(loss, params, data=(x, y), wrt=lambda p: [p["l1"]["b"], p["l2"]["b"]])
    index = np.r_[0:4, 16:19]
    np.testing.assert_allclose(H_list.to_dense(), reference[np.ix_(index, index)], atol=ATOL)


def test_linearize_false_agrees(problem):
    params, x, y, flat, _unravel = problem
    V = np.random.default_rng(5).normal(size=(flat.size, 3))
    a = Hessian(loss, params, data=(x, y), batch_size=10).matmat(V)
    b = Hessian(loss, params, data=(x, y), batch_size=10, linearize=False).matmat(V)
    np.testing.assert_allclose(a, b, atol=ATOL)


def test_products_do_not_retrace(problem):
    params, x, y, flat, _unravel = problem
    traces = []

    def counted(p, batch):
        traces.append(1)
        return loss(p, batch)

    H = Hessian(counted, params, data=(x, y), batch_size=10)
    V = np.ones((flat.size, 2))
    H.matmat(V)
    first = len(traces)
    H.matmat(V + 1.0)
    Hessian(counted, params, data=(x, y), batch_size=10).matmat(V)  # new instance
    setup = 1  # the construction check traces one batch abstractly
    assert len(traces) == first + setup
    batches = [(x[:10], y[:10]), (x[10:20], y[10:20]), (x[20:], y[20:])]
    S = Hessian(counted, params, data=batches)
    traces.clear()
    S.matmat(V)
    S.matmat(V)
    Hessian(counted, params, data=list(batches)).matmat(V)  # new data source, same shapes
    assert len(traces) == 2 + 1  # one per batch shape (10 and 17), then cached; +1 setup


def test_progress_prints_only_when_asked(problem, capsys):
    params, x, y, flat, _unravel = problem
    batches = [(x[:20], y[:20]), (x[20:], y[20:])]
    Hessian(loss, params, data=batches).matmat(np.ones((flat.size, 1)))
    assert capsys.readouterr().err == ""
    Hessian(loss, params, data=batches, progress=True).matmat(np.ones((flat.size, 1)))
    assert "batch 2" in capsys.readouterr().err


def test_to_dense_refuses_when_too_large():
    H = Hessian(lambda z: jnp.sum(z**2), jnp.zeros(2_000_000))
    with pytest.raises(jachess.TooLargeError, match="matrix-free"):
        H.to_dense()


def test_matrix_operator_and_size_one():
    A = np.array([[2.0, 1.0], [1.0, 3.0]])
    op = Matrix(A)
    assert op.symmetric and not Matrix(np.array([[1.0, 2.0], [0.0, 1.0]])).symmetric
    np.testing.assert_allclose(op @ np.ones(2), A @ np.ones(2))
    H1 = Hessian(lambda z: z[0] ** 3, np.array([2.0]))
    np.testing.assert_allclose(H1.to_dense(), [[12.0]])


def test_bad_inputs_raise_clear_errors(problem):
    params, x, y, flat, _unravel = problem
    H = Hessian(loss, params, data=(x, y), batch_size=10)
    with pytest.raises(jachess.ShapeError, match=rf"\({flat.size},\)"):
        H @ np.ones(flat.size + 1)
    with pytest.raises(jachess.ShapeError, match="shape"):
        H.matmat(np.ones((3, 2)))
    with pytest.raises(jachess.ShapeError, match="one-shot iterator"):
        Hessian(loss, params, data=((x, y) for _ in range(2)))
    with pytest.raises(jachess.OptionError, match="wrt"):
        Hessian(loss, params, data=(x, y), wrt=lambda p: p["l1"]["w"] * 2)
    with pytest.raises(jachess.OptionError, match="sample="):
        Fisher(model, log_likelihood, params, data=(x, y), kind="true")
    with pytest.raises(jachess.OptionError, match="kind"):
        Fisher(model, log_likelihood, params, data=(x, y), kind="exact")
    with pytest.raises(jachess.OptionError, match="precision"):
        Hessian(loss, params, data=(x, y), precision="tf32")
    with pytest.raises(jachess.NotScalarError, match="scalar"):
        Hessian(lambda p, b: model(p, b[0]), params, data=(x, y))
    with pytest.raises(jachess.ShapeError, match="inputs, targets"):
        GGN(model, cross_entropy, params, data=[x[:5]])
    with pytest.raises(jachess.ShapeError, match="leading"):
        Hessian(loss, params, data=(x, y[:5]), batch_size=4)
    with pytest.raises(jachess.InputDtypeError):
        Hessian(lambda z: jnp.sum(z), np.arange(3))
    with pytest.raises(jachess.ShapeError, match="A.shape"):
        Jacobian(jnp.sin, np.ones(3)) @ Jacobian(jnp.sin, np.ones(4))


SHARDING_SCRIPT = textwrap.dedent(
    """
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    from jachess.operators import GGN, Hessian
    import jachess.spectral as spectral
    assert len(jax.devices()) == 4, jax.devices()
    rng = np.random.default_rng(0)
    params = {"w": rng.normal(size=(5, 3)), "b": rng.normal(size=3)}
    x, y = rng.normal(size=(70, 5)), rng.integers(0, 3, size=70)
    def model(p, z): return jnp.tanh(z @ p["w"] + p["b"])
    def ce(z, t): return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z), t[:, None], 1))
    def loss(p, b): return ce(model(p, b[0]), b[1])
    V = rng.normal(size=(18, 3))
    one = [jax.devices()[0]]
    sharded = Hessian(loss, params, data=(x, y), batch_size=16)
    assert len(sharded.arrays[0][0].sharding.device_set) == 4
    single = Hessian(loss, params, data=(x, y), batch_size=16, devices=one)
    assert len(single.arrays[0][0].sharding.device_set) == 1
    np.testing.assert_allclose(sharded.matmat(V), single.matmat(V), rtol=1e-12, atol=1e-13)
    batches = [(x[:32], y[:32]), (x[32:64], y[32:64]), (x[64:], y[64:])]
    streamed = Hessian(loss, params, data=batches)
    np.testing.assert_allclose(streamed.matmat(V), single.matmat(V), rtol=1e-12, atol=1e-13)
    g4 = GGN(model, ce, params, data=(x, y), batch_size=16).matmat(V)
    g1 = GGN(model, ce, params, data=(x, y), batch_size=16, devices=one).matmat(V)
    np.testing.assert_allclose(g4, g1, rtol=1e-12, atol=1e-13)
    e4 = spectral.eigsh(sharded, 2, tol=1e-10).eigenvalues
    e1 = np.linalg.eigvalsh(np.asarray(single.to_dense()))[-2:]
    np.testing.assert_allclose(e4, e1, rtol=1e-9)
    print("SHARDING OK")
    """
)


def test_four_device_sharding_equals_one_device():
    env = dict(os.environ)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    env["JAX_PLATFORMS"] = "cpu"
    done = subprocess.run(
        [sys.executable, "-c", SHARDING_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "SHARDING OK" in done.stdout
