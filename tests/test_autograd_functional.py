"""tn.autograd.functional (tinynet/autograd_functional.py): jacobian, hessian, vjp, jvp, vhp,
hvp against finite differences, hand-derived matrices, each other, and torch."""
import pathlib
import re

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinynet as tn
import tinynet.autograd.functional as AF

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _arrays(shape):
    """float64 arrays of ``shape`` (a shape or a shape strategy), values in [-2, 2]."""
    return hnp.arrays(np.float64, shape, elements=st.floats(-2, 2, allow_nan=False, width=64))


_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)   # size-1 dims too


def _t(a, requires_grad=False):
    return tn.tensor(np.asarray(a), dtype=tn.float64, requires_grad=requires_grad)


def _np(t):
    return t.numpy()


def _fd_jacobian(func, arrays, eps=1e-6):
    """Central differences: J[i][j] of shape out_i.shape + x_j.shape, as nested lists."""
    def run(arrs):
        with tn.no_grad():
            out = func(*[_t(a) for a in arrs])
        return [_np(o) for o in (out if isinstance(out, tuple) else (out,))]

    outs = run(arrays)
    jac = [[np.zeros(o.shape + a.shape) for a in arrays] for o in outs]
    for j, a in enumerate(arrays):
        for idx in np.ndindex(a.shape):
            plus = [b.copy() for b in arrays]
            minus = [b.copy() for b in arrays]
            plus[j][idx] += eps
            minus[j][idx] -= eps
            for i, (p, m) in enumerate(zip(run(plus), run(minus))):
                jac[i][j][(Ellipsis,) + idx] = (p - m) / (2 * eps)
    return jac


def _as_matrix(block, out_shape, in_shape):
    """A Jacobian block out.shape + in.shape as the (out.size, in.size) matrix."""
    return _np(block).reshape(int(np.prod(out_shape)), int(np.prod(in_shape)))


# ---------------------------------------------------------------- properties (hypothesis)

@given(st.data())
def test_jacobian_of_a_broadcasting_function_matches_finite_differences(data):
    x = data.draw(_arrays(_shapes), label="x")
    w = data.draw(_arrays(hnp.broadcastable_shapes(x.shape, max_dims=x.ndim + 1, max_side=3)),
                  label="w")

    def func(x, w):   # two outputs; x * w broadcasts, the gradient of w is reduced back
        return (x * w).tanh() + x ** 2, (x.exp() * w).sum()

    jac = AF.jacobian(func, (_t(x), _t(w)))
    fd = _fd_jacobian(func, [x, w])
    for i in range(2):
        for j in range(2):
            assert jac[i][j].shape == fd[i][j].shape, (i, j)
            np.testing.assert_allclose(_np(jac[i][j]), fd[i][j], rtol=1e-5, atol=1e-6,
                                       err_msg=f"J[{i}][{j}], x {x.shape}, w {w.shape}")


@given(_arrays(_shapes))
def test_jacobian_of_an_elementwise_function_is_diagonal(x):
    jac = AF.jacobian(lambda t: t.sin() * t, _t(x))
    want = np.diag((np.cos(x) * x + np.sin(x)).ravel())        # d(x sin x)/dx on the diagonal
    assert jac.shape == x.shape + x.shape
    np.testing.assert_allclose(_as_matrix(jac, x.shape, x.shape), want, rtol=1e-12, atol=1e-12)


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.data())
def test_jacobian_of_matmul_is_made_of_the_other_factor(n, m, p, data):
    x, w = data.draw(_arrays((n, m)), label="x"), data.draw(_arrays((m, p)), label="w")
    jx, jw = AF.jacobian(lambda a, b: a @ b, (_t(x), _t(w)))
    # out[i,l] = Σ_j x[i,j] w[j,l]:  ∂out[i,l]/∂x[k,j] = δ_ik w[j,l],
    #                                ∂out[i,l]/∂w[j,q] = x[i,j] δ_lq
    np.testing.assert_allclose(_np(jx), np.einsum("ik,jl->ilkj", np.eye(n), w), atol=1e-12)
    np.testing.assert_allclose(_np(jw), np.einsum("ij,lq->iljq", x, np.eye(p)), atol=1e-12)


@given(_arrays(hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=4)))
def test_jacobian_of_softmax_is_diag_s_minus_s_s_transposed_per_row(x):
    jac = _np(AF.jacobian(lambda t: tn.softmax(t, dim=-1), _t(x)))
    s = np.exp(x - x.max(-1, keepdims=True))
    s /= s.sum(-1, keepdims=True)
    rows = x.shape[0]
    # ∂s[r,a]/∂x[q,b] = δ_rq s[r,a] (δ_ab - s[r,b])
    want = np.einsum("rq,ra,ab->raqb", np.eye(rows), s, np.eye(x.shape[1])) \
        - np.einsum("rq,ra,rb->raqb", np.eye(rows), s, s)
    np.testing.assert_allclose(jac, want, rtol=1e-10, atol=1e-12)


@given(st.integers(1, 4).flatmap(lambda n: st.tuples(_arrays((n, n)), _arrays((n,)))))
def test_hessian_of_a_quadratic_form_is_a_plus_a_transposed(a_x):
    a, x = a_x
    hess = AF.hessian(lambda t: t @ _t(a) @ t, _t(x))      # f = xᵀ A x
    np.testing.assert_allclose(_np(hess), a + a.T, rtol=1e-12, atol=1e-12)


@given(st.integers(1, 3), st.integers(1, 3), st.data())
def test_hessian_of_a_bilinear_form_has_b_off_the_diagonal(n, m, data):
    b = data.draw(_arrays((n, m)), label="B")
    x, y = data.draw(_arrays((n,)), label="x"), data.draw(_arrays((m,)), label="y")
    (hxx, hxy), (hyx, hyy) = AF.hessian(lambda s, t: s @ _t(b) @ t, (_t(x), _t(y)))
    assert (hxx.shape, hxy.shape, hyx.shape, hyy.shape) == ((n, n), (n, m), (m, n), (m, m))
    np.testing.assert_allclose(_np(hxy), b, atol=1e-12)
    np.testing.assert_allclose(_np(hyx), b.T, atol=1e-12)
    assert not _np(hxx).any() and not _np(hyy).any()


def _scalar(t):
    return (t.tanh() ** 2).sum() + t.sum() ** 3 + (t.exp() * t.sin()).sum()


@given(_shapes.flatmap(lambda s: st.tuples(_arrays(s), _arrays(s))))
def test_hvp_and_vhp_are_the_hessian_times_v(x_v):
    x, v = x_v
    h = _as_matrix(AF.hessian(_scalar, _t(x)), x.shape, x.shape)
    out, hv = AF.hvp(_scalar, _t(x), _t(v))
    out2, vh = AF.vhp(_scalar, _t(x), _t(v))
    np.testing.assert_allclose(_np(out), _np(_scalar(_t(x))), rtol=1e-12)
    np.testing.assert_allclose(_np(out2), _np(out), rtol=1e-12)
    assert hv.shape == vh.shape == x.shape
    np.testing.assert_allclose(_np(hv).ravel(), h @ v.ravel(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(_np(vh).ravel(), v.ravel() @ h, rtol=1e-9, atol=1e-9)


def _two_by_two(x, w):
    return (x * w).sin() * x, (x.exp() * w).sum(-1)


@given(st.data())
def test_jvp_is_jacobian_times_v_and_vjp_is_v_transposed_times_jacobian(data):
    x = data.draw(_arrays(_shapes), label="x")
    w = data.draw(_arrays(x.shape), label="w")
    xs = (_t(x), _t(w))
    outs = _two_by_two(*xs)
    jac = AF.jacobian(_two_by_two, xs)
    v_in = tuple(_t(data.draw(_arrays(a.shape), label="v_in")) for a in (x, w))
    v_out = tuple(_t(data.draw(_arrays(o.shape), label="v_out")) for o in outs)

    _, jv = AF.jvp(_two_by_two, xs, v_in)
    for i, o in enumerate(outs):
        want = sum(_as_matrix(jac[i][j], o.shape, xs[j].shape) @ _np(v_in[j]).ravel()
                   for j in range(2))
        assert jv[i].shape == o.shape
        np.testing.assert_allclose(_np(jv[i]).ravel(), want, rtol=1e-10, atol=1e-10)

    _, vj = AF.vjp(_two_by_two, xs, v_out)
    for j, x_j in enumerate(xs):
        want = sum(_np(v_out[i]).ravel() @ _as_matrix(jac[i][j], o.shape, x_j.shape)
                   for i, o in enumerate(outs))
        assert vj[j].shape == x_j.shape
        np.testing.assert_allclose(_np(vj[j]).ravel(), want, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------- against torch


def _cases(L):
    """Functions written once for both libraries (L is torch or tinynet)."""
    return {
        "tuple in, tuple out": lambda x, y: ((x * y).tanh(), (x.exp() * y).sum(-1)),
        "tensor out, y unused": lambda x, y: L.softmax(x * 2.0, -1),
        "scalar": lambda x, y: (x.sin() * y).sum() + (x ** 2).sum() * y.sum(),
        "y only linear": lambda x, y: (x ** 3).sum() + y.sum(),
    }


def _compare(got, want, path="result"):
    """Same nesting, shapes, values and requires_grad."""
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            _compare(g, w, f"{path}[{i}]")
        return
    assert isinstance(got, tn.Tensor), path
    assert got.shape == tuple(want.shape), (path, got.shape, tuple(want.shape))
    assert got.requires_grad == want.requires_grad, path
    np.testing.assert_allclose(_np(got), want.detach().numpy(), rtol=1e-10, atol=1e-12,
                               err_msg=path)


@pytest.fixture(scope="module")
def torch_and_data():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    arrays = {"x": rng.standard_normal((2, 3)), "y": rng.standard_normal(3),
              "vx": rng.standard_normal((2, 3)), "vy": rng.standard_normal(3)}
    return torch, arrays


def _both(torch, arrays, *names):
    return (tuple(_t(arrays[n]) for n in names),
            tuple(torch.tensor(arrays[n]) for n in names))


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("case", ["tuple in, tuple out", "tensor out, y unused", "scalar"])
def test_jacobian_matches_torch(torch_and_data, case, create_graph):
    torch, arrays = torch_and_data
    (x, y), (tx, ty) = _both(torch, arrays, "x", "y")
    f, tf = _cases(tn)[case], _cases(torch)[case]
    TF = torch.autograd.functional
    _compare(AF.jacobian(f, (x, y), create_graph=create_graph),
             TF.jacobian(tf, (tx, ty), create_graph=create_graph))
    _compare(AF.jacobian(lambda x: f(x, y), x, create_graph=create_graph),   # Tensor input
             TF.jacobian(lambda x: tf(x, ty), tx, create_graph=create_graph))


@pytest.mark.parametrize("case", ["scalar", "y only linear"])
def test_hessian_hvp_vhp_match_torch(torch_and_data, case):
    torch, arrays = torch_and_data
    (x, y, vx, vy), (tx, ty, tvx, tvy) = _both(torch, arrays, "x", "y", "vx", "vy")
    f, tf = _cases(tn)[case], _cases(torch)[case]
    TF = torch.autograd.functional
    _compare(AF.hessian(f, (x, y)), TF.hessian(tf, (tx, ty)))
    _compare(AF.hessian(lambda x: f(x, y), x), TF.hessian(lambda x: tf(x, ty), tx))
    _compare(AF.hvp(f, (x, y), (vx, vy)), TF.hvp(tf, (tx, ty), (tvx, tvy)))
    _compare(AF.vhp(f, (x, y), (vx, vy)), TF.vhp(tf, (tx, ty), (tvx, tvy)))
    _compare(AF.vhp(f, (x, y), (vx, vy), create_graph=True),
             TF.vhp(tf, (tx, ty), (tvx, tvy), create_graph=True))


@pytest.mark.parametrize("create_graph", [False, True])
def test_vjp_and_jvp_match_torch(torch_and_data, create_graph):
    torch, arrays = torch_and_data
    (x, y, vx, vy), (tx, ty, tvx, tvy) = _both(torch, arrays, "x", "y", "vx", "vy")
    TF = torch.autograd.functional
    f, tf = _cases(tn)["tuple in, tuple out"], _cases(torch)["tuple in, tuple out"]
    v_out = (vx, tn.tensor([0.5, -1.0], dtype=tn.float64))
    tv_out = (tvx, torch.tensor([0.5, -1.0], dtype=torch.float64))
    _compare(AF.vjp(f, (x, y), v_out, create_graph=create_graph),
             TF.vjp(tf, (tx, ty), tv_out, create_graph=create_graph))
    _compare(AF.jvp(f, (x, y), (vx, vy), create_graph=create_graph),
             TF.jvp(tf, (tx, ty), (tvx, tvy), create_graph=create_graph))
    g, tg = _cases(tn)["tensor out, y unused"], _cases(torch)["tensor out, y unused"]
    _compare(AF.jvp(g, (x, y), (vx, vy), create_graph=create_graph),
             TF.jvp(tg, (tx, ty), (tvx, tvy), create_graph=create_graph))
    _compare(AF.vjp(g, (x, y), vx, create_graph=create_graph),
             TF.vjp(tg, (tx, ty), tvx, create_graph=create_graph))


def test_strict_raises_where_torch_raises(torch_and_data):
    torch, arrays = torch_and_data
    (x, y, vx, vy), (tx, ty, tvx, tvy) = _both(torch, arrays, "x", "y", "vx", "vy")
    TF = torch.autograd.functional
    g = _cases(tn)["tensor out, y unused"]
    tg = _cases(torch)["tensor out, y unused"]
    lin, tlin = _cases(tn)["y only linear"], _cases(torch)["y only linear"]
    calls = [
        (lambda m, f, a, v: m.jacobian(f, a, strict=True), g, tg, None),
        (lambda m, f, a, v: m.vjp(f, a, v[0], strict=True), g, tg, 0),
        (lambda m, f, a, v: m.jvp(f, a, v, strict=True), g, tg, 0),
        (lambda m, f, a, v: m.hessian(f, a, strict=True), lin, tlin, None),
        (lambda m, f, a, v: m.hvp(f, a, v, strict=True), lin, tlin, 0),
        (lambda m, f, a, v: m.vhp(f, a, v, strict=True), lin, tlin, 0),
    ]
    for call, f, tf, _ in calls:
        with pytest.raises(RuntimeError, match="strict"):
            call(TF, tf, (tx, ty), (tvx, tvy))
        with pytest.raises(RuntimeError, match="input 1.*strict=True"):
            call(AF, f, (x, y), (vx, vy))


# ---------------------------------------------------------------- behaviour and errors

def test_callers_tensors_are_left_as_they_are():
    x = _t([1.0, 2.0])                         # does not require grad
    w = _t([3.0, 4.0], requires_grad=True)     # captured by the function
    jac = AF.jacobian(lambda t: t * w, x)
    np.testing.assert_allclose(_np(jac), np.diag([3.0, 4.0]))
    assert not x.requires_grad and x.grad is None and w.grad is None
    y = _t([1.0, 2.0], requires_grad=True)
    AF.vjp(lambda t: (t ** 2).sum(), y)
    AF.hessian(lambda t: (t ** 3).sum(), y)
    assert y.grad is None and y.requires_grad and y.grad_fn is None


def test_results_carry_no_graph_unless_create_graph():
    x = _t([1.0, 2.0, 3.0], requires_grad=True)
    for fn, args in [(AF.jacobian, ()), (AF.hessian, ())]:
        func = (lambda t: (t ** 3).sum()) if fn is AF.hessian else (lambda t: t ** 3)
        res = fn(func, x, *args)
        assert not res.requires_grad and res.grad_fn is None, fn.__name__
    out, vj = AF.vjp(lambda t: t ** 3, x, _t([1.0, 1.0, 1.0]))
    assert not out.requires_grad and not vj.requires_grad


def test_create_graph_gives_a_differentiable_jacobian_connected_to_the_caller():
    x = _t([1.0, 2.0, 3.0], requires_grad=True)
    jac = AF.jacobian(lambda t: t ** 3, x, create_graph=True)     # diag(3x²)
    assert jac.requires_grad
    (d,) = tn.grad(jac.sum(), x)                                  # Σ 3x² -> 6x
    np.testing.assert_allclose(_np(d), [6.0, 12.0, 18.0])
    out, vj = AF.vjp(lambda t: (t ** 3).sum(), x, create_graph=True)
    (d2,) = tn.grad(vj.sum(), x)
    np.testing.assert_allclose(_np(d2), [6.0, 12.0, 18.0])
    _, hv = AF.hvp(lambda t: (t ** 4).sum(), x, _t([1.0, 0.0, 0.0]), create_graph=True)
    (d3,) = tn.grad(hv.sum(), x)                                  # hv = (12x₀², 0, 0) -> 24x₀
    np.testing.assert_allclose(_np(d3), [24.0, 0.0, 0.0])


def test_an_output_independent_of_an_input_gives_zeros_or_raises_naming_it():
    x, y = _t([1.0, 2.0]), _t([3.0, 4.0, 5.0])
    jx, jy = AF.jacobian(lambda a, b: a.exp(), (x, y))
    assert jy.shape == (2, 3) and not _np(jy).any()
    np.testing.assert_allclose(_np(jx), np.diag(np.exp([1.0, 2.0])))
    with pytest.raises(RuntimeError, match=r"output 0 .*\(2,\).* does not depend on input 1 "
                                           r"\(shape \(3,\)\)"):
        AF.jacobian(lambda a, b: a.exp(), (x, y), strict=True)
    _, (vx, vy) = AF.vjp(lambda a, b: a.exp(), (x, y), _t([1.0, 1.0]))
    assert not _np(vy).any()
    with pytest.raises(RuntimeError, match="vjp: .*input 1"):
        AF.vjp(lambda a, b: a.exp(), (x, y), _t([1.0, 1.0]), strict=True)


def test_a_constant_output_is_zero_or_a_strict_error():
    x, c = _t([1.0, 2.0]), _t([5.0, 6.0, 7.0])
    jac = AF.jacobian(lambda t: c * 2.0, x)
    assert jac.shape == (3, 2) and not _np(jac).any()
    out, jv = AF.jvp(lambda t: (t * 2.0, c + 1.0), x, _t([1.0, 1.0]))
    np.testing.assert_allclose(_np(jv[0]), [2.0, 2.0])
    assert not _np(jv[1]).any()
    with pytest.raises(RuntimeError, match="jacobian: output 0 .* does not require grad"):
        AF.jacobian(lambda t: c * 2.0, x, strict=True)
    with pytest.raises(RuntimeError, match="jvp: output 1 .* does not require grad"):
        AF.jvp(lambda t: (t * 2.0, c + 1.0), x, _t([1.0, 1.0]), strict=True)


def test_strict_with_create_graph_rejects_a_linear_function():
    x = _t([1.0, 2.0])
    jac = AF.jacobian(lambda t: t * 2.0, x, create_graph=True)    # allowed without strict
    assert not jac.requires_grad
    with pytest.raises(RuntimeError, match="jacobian: .*linear.*create_graph=True"):
        AF.jacobian(lambda t: t * 2.0, x, strict=True, create_graph=True)
    hess = AF.hessian(lambda t: (t * 2.0).sum(), x)
    assert not _np(hess).any()
    with pytest.raises(RuntimeError, match="hessian: the gradient with respect to input 0 does "
                                           "not depend on the inputs"):
        AF.hessian(lambda t: (t * 2.0).sum(), x, strict=True)


def test_tuple_nesting_of_jacobian_shapes():
    x, y = _t(np.ones((2, 1))), _t(np.ones(3))
    two_out = lambda a, b: (a * b, b.sum())       # (2, 3) and ()  # noqa: E731
    jac = AF.jacobian(two_out, (x, y))
    assert [[j.shape for j in row] for row in jac] == [[(2, 3, 2, 1), (2, 3, 3)],
                                                       [(2, 1), (3,)]]
    assert [j.shape for j in AF.jacobian(lambda a: two_out(a, y), x)] == [(2, 3, 2, 1), (2, 1)]
    assert [j.shape for j in AF.jacobian(lambda a, b: a * b, (x, y))] == [(2, 3, 2, 1),
                                                                          (2, 3, 3)]
    assert AF.jacobian(lambda a: a * y, x).shape == (2, 3, 2, 1)
    # a 0-element output: an empty block (PyTorch's torch.stack raises here)
    assert AF.jacobian(lambda a: a[:0], y).shape == (0, 3)


def test_v_defaults_only_for_single_element_sides():
    s = _t([2.0])
    out, vj = AF.vjp(lambda t: (t ** 2).sum(), _t([1.0, 2.0]))          # scalar output: v = 1
    np.testing.assert_allclose(_np(vj), [2.0, 4.0])
    np.testing.assert_allclose(_np(AF.jvp(lambda t: t ** 3, s)[1]), [12.0])
    np.testing.assert_allclose(_np(AF.hvp(lambda t: (t ** 3).sum(), s)[1]), [12.0])
    np.testing.assert_allclose(_np(AF.vhp(lambda t: (t ** 3).sum(), s)[1]), [12.0])
    x = _t([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"vjp: v can be None only .*output.*\(2,\)"):
        AF.vjp(lambda t: t * 2.0, x)
    for fn in (AF.jvp, AF.hvp, AF.vhp):
        with pytest.raises(RuntimeError, match=rf"{fn.__name__}: v can be None only .*input"):
            fn(lambda t: (t * t).sum(), x)


def test_v_of_the_wrong_shape_or_count_is_named():
    x, y = _t([1.0, 2.0]), _t([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match=r"vjp: v has shape \(3,\) but the output it "
                                           r"multiplies has shape \(2,\)"):
        AF.vjp(lambda t: t * 2.0, x, y)
    with pytest.raises(RuntimeError, match=r"jvp: v\[1\] has shape \(2,\) .*shape \(3,\)"):
        AF.jvp(lambda a, b: a.sum() * b, (x, y), (x, x))
    with pytest.raises(RuntimeError, match="hvp: v has 1 Tensor.* 2 input"):
        AF.hvp(lambda a, b: (a * a).sum() * b.sum(), (x, y), (x,))
    with pytest.raises(TypeError, match="vhp: v must be a Tensor"):
        AF.vhp(lambda t: (t * t).sum(), x, [1.0, 2.0])


def test_bad_inputs_outputs_and_options_raise_clearly():
    x = _t([1.0, 2.0])
    with pytest.raises(TypeError, match="jacobian: inputs must be a Tensor .* list"):
        AF.jacobian(lambda t: t, [x])
    with pytest.raises(TypeError, match="entry 1 of inputs is a float"):
        AF.jacobian(lambda a, b: a, (x, 1.0))
    with pytest.raises(TypeError, match="vjp: the function's output must be a Tensor"):
        AF.vjp(lambda t: [t], x, x)
    with pytest.raises(TypeError, match="jacobian: input 0 has dtype int64"):
        AF.jacobian(lambda t: t, tn.tensor([1, 2]))
    with pytest.raises(RuntimeError, match=r"hessian: .*single element, got shape \(2,\)"):
        AF.hessian(lambda t: t * t, x)
    with pytest.raises(RuntimeError, match="hvp: the function must return a single Tensor"):
        AF.hvp(lambda t: ((t * t).sum(), t.sum()), x, x)
    with pytest.raises(NotImplementedError, match="forward-mode.*reverse-mode"):
        AF.jacobian(lambda t: t, x, strategy="forward-mode")
    with pytest.raises(NotImplementedError, match="outer_jacobian_strategy"):
        AF.hessian(lambda t: (t * t).sum(), x, outer_jacobian_strategy="forward-mode")
    with pytest.raises(ValueError, match="strategy must be"):
        AF.jacobian(lambda t: t, x, strategy="sideways")


def test_vectorize_is_accepted_and_gives_the_same_result():
    x = _t([0.5, -1.0, 2.0])
    np.testing.assert_array_equal(_np(AF.jacobian(lambda t: t.exp() * t, x, vectorize=True)),
                                  _np(AF.jacobian(lambda t: t.exp() * t, x)))
    np.testing.assert_array_equal(_np(AF.hessian(lambda t: (t ** 3).sum(), x, vectorize=True)),
                                  _np(AF.hessian(lambda t: (t ** 3).sum(), x)))


def test_float32_stays_float32():
    x = tn.tensor([0.5, -1.0, 2.0])
    assert x.dtype == tn.float32
    f = lambda t: t.exp() * t                      # noqa: E731
    s = lambda t: (t.exp() * t).sum()              # noqa: E731
    results = [AF.jacobian(f, x), AF.hessian(s, x), *AF.vjp(f, x, x), *AF.jvp(f, x, x),
               *AF.hvp(s, x, x), *AF.vhp(s, x, x)]
    assert [r.dtype for r in results] == [tn.float32] * len(results)


def test_reachable_as_tn_autograd_functional():
    from tinynet.autograd import functional
    import tinynet.autograd_functional as module
    assert tn.autograd.functional is functional is AF is module
    assert set(AF.__all__) == {"vjp", "jvp", "jacobian", "hessian", "vhp", "hvp"}


def test_readme_example_runs_and_is_true():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    (block,) = [b for b in blocks if "tn.autograd.functional.jacobian" in b]
    scope = {"tn": tn, "x": tn.tensor([1.0, 2.0, 3.0], requires_grad=True)}  # the section's x
    exec(block, scope)
    np.testing.assert_allclose(_np(scope["J"]), np.diag([2.0, 4.0, 6.0]))
    np.testing.assert_allclose(_np(scope["H"]), np.diag([6.0, 12.0, 18.0]))


def test_hessian_of_a_one_element_output_of_any_shape_has_shape_x_x():
    x = _t([1.0, 2.0])
    hess = AF.hessian(lambda t: (t ** 3).sum().reshape(1, 1), x)   # (1, 1) output, as torch
    assert hess.shape == (2, 2)
    np.testing.assert_allclose(_np(hess), np.diag([6.0, 12.0]))
