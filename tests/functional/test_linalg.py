"""matmul (1-D, 2-D, batched broadcast, vector-matrix) and linear: the op table's checks plus
shape/dtype error messages."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import op_table as table
import tinynet as tn
import tinynet.functional as F

OPS = table.family("linalg")


(test_forward_matches_numpy, test_gradient_matches_finite_differences, test_second_derivative,
 test_empty_dims, test_broadcast_gradient_sums_over_copies) = table.table_tests("linalg")


@pytest.mark.parametrize("a_shape, b_shape", [
    ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
    ((3,), (5, 3, 4)), ((5, 1, 2, 3), (4, 3, 2)), ((5, 2, 3), (3,)), ((2, 0), (0, 3))])
def test_every_matmul_case_forward_and_gradient(a_shape, b_shape):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    x = tn.tensor(a, requires_grad=True)
    y = tn.tensor(b, requires_grad=True)
    out = x @ y
    np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-12, atol=1e-12)
    assert tn.gradcheck(lambda p, q: p @ q, [x, y])


def test_matmul_float32_stays_float32():
    assert (tn.randn(2, 3) @ tn.randn(3, 4)).dtype == np.float32
    assert (tn.randn(3) @ tn.randn(3)).shape == ()


@pytest.mark.cpu_only  # a numpy array next to a GPU tensor is refused
def test_numpy_array_at_tensor():
    a = tn.randn(2, 3)
    b = np.ones((4, 2), np.float32)
    np.testing.assert_allclose((b @ a).numpy(), b @ a.numpy(), rtol=1e-6)


def test_linear_matches_reference_with_and_without_bias():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 5, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)
    X, W, B = (tn.tensor(v, dtype=tn.float32) for v in (x, w, b))
    np.testing.assert_allclose(F.linear(X, W, B).numpy(), x @ w.T + b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(F.linear(X, W).numpy(), x @ w.T, rtol=1e-5, atol=1e-5)
    assert F.linear(X, W, B).dtype == np.float32


@pytest.mark.parametrize("need_x, need_w, bias", [(True, True, True), (True, False, True),
                                                    (False, True, False), (True, True, False)])
def test_linear_gradients_at_threaded_sizes(need_x, need_w, bias):
    """At GPT sizes dx is split across the cores and dW deferred to the pool
    (``_parallel.deferred_gemm``): same numbers as the float64 formulas, for every subset
    of inputs that need a gradient."""
    rng = np.random.default_rng(3)
    x, w, b = (rng.standard_normal(s) for s in ((4, 512, 256), (768, 256), (768,)))
    g = rng.standard_normal((4, 512, 768))
    X = tn.tensor(x, dtype=tn.float32, requires_grad=need_x)
    W = tn.tensor(w, dtype=tn.float32, requires_grad=need_w)
    B = tn.tensor(b, dtype=tn.float32, requires_grad=True) if bias else None
    F.linear(X, W, B).backward(tn.tensor(g, dtype=tn.float32))
    tol = dict(rtol=1e-4, atol=1e-3)
    if need_x:
        np.testing.assert_allclose(X.grad.numpy(), g @ w, **tol)
    else:
        assert X.grad is None
    if need_w:
        np.testing.assert_allclose(W.grad.numpy(), g.reshape(-1, 768).T @ x.reshape(-1, 256), **tol)
    else:
        assert W.grad is None
    if bias:
        np.testing.assert_allclose(B.grad.numpy(), g.sum((0, 1)), **tol)
    assert all(t.grad.dtype == np.float32 for t in (X, W, B) if t is not None and t.grad is not None)


def test_deferred_weight_gradients_are_waited_for(busy_pool):
    """A Linear's dW is left to the (here: busy) pool thread while backward goes on. Whatever
    reads it before backward ends must wait for it: a second gradient added into it (a weight
    tied to an embedding, as GPT's), a hook, the Function of a non-leaf weight."""
    rng = np.random.default_rng(6)
    x, idx = rng.standard_normal((512, 256)), rng.integers(0, 768, 512)
    w0 = rng.standard_normal((768, 256))
    W = tn.tensor(w0, dtype=tn.float32, requires_grad=True)
    V = tn.tensor(w0, dtype=tn.float32, requires_grad=True)
    seen = []
    V.register_hook(lambda g: seen.append(g.numpy().copy()))
    W2 = tn.tensor(w0 / 2, dtype=tn.float32, requires_grad=True)
    X = tn.tensor(x, dtype=tn.float32)
    loss = (F.linear(X, W).sum() + F.embedding(tn.tensor(idx), W).sum()
            + F.linear(X, V).sum() + F.linear(X, W2 * 2.0).sum())
    loss.backward()
    dw = np.ones((512, 768)).T @ x
    tied = dw + np.bincount(idx, minlength=768)[:, None]
    np.testing.assert_allclose(W.grad.numpy(), tied, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(seen[0], dw, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(V.grad.numpy(), dw, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(W2.grad.numpy(), 2 * dw, rtol=1e-4, atol=1e-3)


def test_tn_grad_waits_for_deferred_weight_gradients(busy_pool):
    """tn.grad sums a weight's gradients itself (here of two uses, the first still pending
    when the second arrives) and returns them; backward twice over a kept graph adds up."""
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal((512, 256)), rng.standard_normal((768, 256))
    X, W = tn.tensor(x, dtype=tn.float32), tn.tensor(w, dtype=tn.float32, requires_grad=True)
    loss = F.linear(X, W).sum() + (F.linear(X, W) * 2.0).sum()
    (gw,) = tn.grad(loss, [W], retain_graph=True)
    dw = 3 * np.ones((512, 768)).T @ x
    np.testing.assert_allclose(gw.numpy(), dw, rtol=1e-4, atol=1e-3)
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(W.grad.numpy(), 2 * dw, rtol=1e-4, atol=1e-3)


# ---------------------------------------------------------------- errors

def test_matmul_shape_error_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\)"):
        tn.ones(2, 3) @ tn.ones(4, 5)
    with pytest.raises(ValueError, match=r"matmul: .*\(2, 3, 4\).*\(5, 4, 2\)"):
        tn.ones(2, 3, 4) @ tn.ones(5, 4, 2)
    with pytest.raises(ValueError, match=r"matmul: .*\(\)"):
        tn.tensor(1.0) @ tn.ones(2)


def test_matmul_dtype_mismatch_names_op():
    with pytest.raises(TypeError, match=r"matmul: .*float32.*float64"):
        tn.ones(2, 3) @ tn.ones(3, dtype=tn.float64)


def test_linear_errors_name_op_and_shapes():
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 3\).*weight .*\(4, 5\)"):
        F.linear(tn.ones(2, 3), tn.ones(4, 5))
    with pytest.raises(ValueError, match=r"linear: bias of shape \(3,\)"):
        F.linear(tn.ones(2, 5), tn.ones(4, 5), tn.ones(3))
    with pytest.raises(TypeError, match=r"linear: .*float64"):
        F.linear(tn.ones(2, 5), tn.ones(4, 5), tn.ones(4, dtype=tn.float64))
    with pytest.raises(TypeError, match=r"linear: .*float64"):
        F.linear(tn.ones(2, 5), tn.ones(4, 5, dtype=tn.float64))


def test_einsum_errors_name_the_spec_and_shapes():
    a, b = tn.ones(2, 3), tn.ones(4, 5)
    with pytest.raises(ValueError, match=r"letter 'j' has sizes 3 and 4 in 'ij,jk->ik'"):
        tn.einsum("ij,jk->ik", a, b)
    with pytest.raises(ValueError, match="diagonals"):
        tn.einsum("ii->i", tn.ones(3, 3))
    with pytest.raises(ValueError, match=r"'\.\.\.' dims of '\.\.\.ij,\.\.\.jk' do not "
                                         r"broadcast \(shapes \[\(2, 2, 3\), \(3, 3, 4\)\]"):
        tn.einsum("...ij,...jk", tn.ones(2, 2, 3), tn.ones(3, 3, 4))
    with pytest.raises(ValueError, match="stray '.'"):
        tn.einsum("....j", a)
    with pytest.raises(ValueError, match="names 2 operands, got 1"):
        tn.einsum("ij,jk->ik", a)
    with pytest.raises(TypeError, match="float32.*float64|float64.*float32"):
        tn.einsum("ij,jk->ik", a, tn.ones(3, 2, dtype=tn.float64))
    assert tn.einsum("ij,jk->ik", a, tn.tensor(np.ones((3, 2), np.int64))).dtype == np.float32


_ELLIPSIS_SPECS = ["...ij,...jk->...ik", "...ij,...jk", "b...,b...->b", "...,...->...",
                   "i...->...", "...->", "ij...->ji...", "...i,i", "...i,...i->..."]


@given(st.sampled_from(_ELLIPSIS_SPECS), st.data())
def test_einsum_ellipsis_broadcasts_like_torch_with_gradients(spec, data):
    # '...' dims are drawn 0-2 long per operand, size 1 or 2 each, so they broadcast
    subs = spec.split("->")[0].split(",")
    sizes = {c: data.draw(st.integers(1, 3)) for c in set("".join(subs)) - {"."}}
    n_ell = data.draw(st.integers(0, 2))
    ell = data.draw(st.lists(st.integers(1, 2), min_size=n_ell, max_size=n_ell))
    shapes = []
    for sub in subs:
        mine = tuple(data.draw(st.sampled_from([1, n])) for n in ell)[data.draw(
            st.integers(0, n_ell)):] if "..." in sub else ()
        named = tuple(sizes[c] for c in sub.replace("...", ""))
        at = sub.find("...")
        shapes.append(named[:at] + mine + named[at:] if at >= 0 else named)
    rng = np.random.default_rng(0)
    xs = [tn.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    assert tn.gradcheck(lambda *ts: tn.einsum(spec, *ts), xs)
    torch = pytest.importorskip("torch")
    ref = torch.einsum(spec, *[torch.from_numpy(x.numpy()) for x in xs])
    np.testing.assert_allclose(tn.einsum(spec, *xs).numpy(), ref.numpy(), atol=1e-12)


# ------------------------------------------------------------ bmm, dot, outer, kron, trace, norms

def test_table_covers_the_new_linalg_ops():
    assert {"bmm", "dot", "outer", "kron", "trace", "vector_norm", "matrix_norm"} <= {
        op.name for op in OPS}


def test_products_and_trace_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 3, 5))
    u, v = rng.standard_normal(3), rng.standard_normal(4)
    pairs = [(tn.bmm(tn.tensor(a), tn.tensor(b)), torch.bmm(torch.tensor(a), torch.tensor(b))),
             (tn.tensor(u).dot(tn.tensor(u)), torch.tensor(u).dot(torch.tensor(u))),
             (tn.outer(tn.tensor(u), tn.tensor(v)), torch.outer(torch.tensor(u), torch.tensor(v))),
             (tn.kron(tn.tensor(a[0]), tn.tensor(b[0])), torch.kron(torch.tensor(a[0]),
                                                                   torch.tensor(b[0]))),
             (tn.kron(tn.tensor(a), tn.tensor(u)), torch.kron(torch.tensor(a), torch.tensor(u))),
             (tn.tensor(b[0]).trace(), torch.tensor(b[0]).trace())]
    for got, want in pairs:
        assert got.shape == tuple(want.shape)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


@pytest.mark.parametrize("ord", [None, "fro", 1, -1, 2, 3, float("inf"), -float("inf")])
def test_linalg_norms_match_torch(ord):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(1).standard_normal((3, 4, 2))
    cases = [((a[:, 0, 0],), {}), ((a,), {"dim": 1})]                 # vector norms
    if ord != 3:   # matrix norms (3 is no matrix norm)
        cases += [((a[:, :, 0],), {}), ((a,), {"dim": (0, 2), "keepdim": True}),
                  ((a,), {"dim": (2, 0)})]
    for args, kwargs in cases:
        x, t = tn.tensor(args[0], requires_grad=True), torch.tensor(args[0], requires_grad=True)
        if ord == "fro" and (x.ndim == 1 or kwargs.get("dim") == 1):   # a matrix norm only
            with pytest.raises(ValueError, match="norm"):
                tn.linalg.norm(x, ord, **kwargs)
            continue
        y, ty = tn.linalg.norm(x, ord, **kwargs), torch.linalg.norm(t, ord, **kwargs)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12,
                                   err_msg=f"{ord} {kwargs}")
        y.sum().backward()
        ty.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-14,
                                   err_msg=f"{ord} {kwargs}")
    x = tn.zeros(3, requires_grad=True)   # a zero vector: gradient 0, not NaN
    tn.linalg.vector_norm(x).backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]


def test_new_linalg_errors_name_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"bmm: expects two 3-D tensors, got shapes \(2, 3\)"):
        tn.bmm(tn.ones(2, 3), tn.ones(3, 2))
    with pytest.raises(ValueError, match=r"bmm: shapes \(2, 2, 3\) and \(3, 3, 2\) do not fit"):
        tn.bmm(tn.ones(2, 2, 3), tn.ones(3, 3, 2))
    with pytest.raises(ValueError, match=r"dot: .*got shapes \(3,\) and \(4,\)"):
        tn.dot(tn.ones(3), tn.ones(4))
    with pytest.raises(ValueError, match=r"outer: expects two 1-D tensors"):
        tn.outer(tn.ones(3, 1), tn.ones(4))
    with pytest.raises(ValueError, match=r"trace: expects a 2-D tensor, got shape \(3,\)"):
        tn.trace(tn.ones(3))
    with pytest.raises(ValueError, match="matrix_norm: ord=3 is not supported"):
        tn.linalg.norm(tn.ones(2, 2), 3)
    with pytest.raises(ValueError, match="norm: with ord=1 and dim=None the input must be 1-D"):
        tn.linalg.norm(tn.ones(2, 2, 2), 1)
