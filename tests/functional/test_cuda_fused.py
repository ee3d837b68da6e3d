"""Fused CUDA elementwise kernels agree with their NumPy twins (needs a GPU)."""
import numpy as np
import pytest

import tinynet as tn
from tinynet.functional import _cuda
from tinynet.functional.elementwise import Gelu, GeluGrad

pytestmark = pytest.mark.skipif(not tn.cuda.is_available(), reason="needs CuPy and a GPU")


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_kernels_match_numpy_twins(approximate):
    cp = tn.backend._import_cupy()
    x = np.linspace(-6, 6, 10001, dtype=np.float32)
    twin = Gelu().forward(x, approximate=approximate)
    twin_grad = GeluGrad().forward(x, approximate=approximate)
    np.testing.assert_allclose(cp.asnumpy(_cuda.gelu(cp, cp.asarray(x), approximate)), twin,
                               rtol=1e-5, atol=1e-6)
    # the twins and the kernel (tanhf, erff) round differently: near the derivative's
    # zero (x ≈ -0.75) they differ by a few ulp of 1
    np.testing.assert_allclose(cp.asnumpy(_cuda.gelu_grad(cp, cp.asarray(x), approximate)),
                               twin_grad, rtol=1e-5, atol=3e-6)


def _on(device, arrays, dtype):
    return [tn.tensor(a, dtype=dtype, device=device, requires_grad=True) for a in arrays]


@pytest.mark.parametrize("dtype, tol", [(tn.float32, 2e-5), (tn.float64, 1e-12)])
@pytest.mark.parametrize("shape", [(4, 3, 5, 2), (6, 3)])
@pytest.mark.parametrize("affine, track", [(True, True), (False, True), (True, False)])
def test_fused_batch_norm_matches_the_numpy_op(dtype, tol, shape, affine, track):
    """Training-mode BatchNorm on the GPU (fused kernels) = the NumPy op: y, grads, running stats."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape) * 2 + 1, rng.uniform(0.5, 1.5, 3), rng.standard_normal(3)]
    g = rng.standard_normal(shape)
    results = {}
    for device in ("cpu", "cuda"):
        x, w, b = _on(device, arrays, dtype)
        rm, rv = tn.zeros(3, dtype=dtype, device=device), tn.ones(3, dtype=dtype, device=device)
        y = tn.functional.batch_norm(x, rm if track else None, rv if track else None,
                                     w if affine else None, b if affine else None,
                                     training=True, momentum=0.1)
        (y * tn.tensor(g, dtype=dtype, device=device)).sum().backward()
        results[device] = [t.numpy() for t in [y, x.grad] + ([w.grad, b.grad] if affine else [])
                           + ([rm, rv] if track else [])]
    for cpu, gpu in zip(results["cpu"], results["cuda"]):
        np.testing.assert_allclose(gpu, cpu, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype, tol", [(tn.float32, 2e-5), (tn.float64, 1e-12)])
@pytest.mark.parametrize("affine", [(True, True), (True, False), (False, True), (False, False)])
def test_fused_layer_norm_matches_the_numpy_op(dtype, tol, affine):
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((2, 3, 8)) * 2 + 3, rng.uniform(0.5, 1.5, 8),
              rng.standard_normal(8)]
    g = rng.standard_normal((2, 3, 8))
    results = {}
    for device in ("cpu", "cuda"):
        x, w, b = _on(device, arrays, dtype)
        y = tn.functional.layer_norm(x, 8, w if affine[0] else None, b if affine[1] else None)
        (y * tn.tensor(g, dtype=dtype, device=device)).sum().backward()
        grads = [t.grad for t, used in ((w, affine[0]), (b, affine[1])) if used]
        results[device] = [t.numpy() for t in [y, x.grad] + grads]
    for cpu, gpu in zip(results["cpu"], results["cuda"]):
        np.testing.assert_allclose(gpu, cpu, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype, tol", [(tn.float32, 2e-5), (tn.float64, 1e-12)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(6, 5), (2, 4, 3)])
@pytest.mark.parametrize("target_dtype, ignore", [(np.int64, -100), (np.int32, 1)])
def test_fused_cross_entropy_matches_the_numpy_op(dtype, tol, weighted, reduction, shape,
                                                  target_dtype, ignore):
    """Class-index cross-entropy on the GPU (fused kernels) = the NumPy op, ignore_index included."""
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal(shape) * 3
    t0 = rng.integers(0, shape[1], (shape[0],) + shape[2:]).astype(target_dtype)
    t0.reshape(-1)[::3] = ignore
    w0 = rng.uniform(0.5, 2.0, shape[1])
    results = {}
    for device in ("cpu", "cuda"):
        x = tn.tensor(x0, dtype=dtype, device=device, requires_grad=True)
        w = tn.tensor(w0, dtype=dtype, device=device) if weighted else None
        loss = tn.functional.cross_entropy(x, tn.tensor(t0, device=device), weight=w,
                                           ignore_index=ignore, reduction=reduction)
        g = tn.tensor(np.random.default_rng(3).standard_normal(loss.shape), dtype=dtype,
                      device=device)
        (loss * g).sum().backward()
        results[device] = [loss.numpy(), x.grad.numpy()]
    for cpu, gpu in zip(results["cpu"], results["cuda"]):
        np.testing.assert_allclose(gpu, cpu, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_softmax_matches_numpy_twin_with_fully_masked_rows(dtype):
    from tinynet.functional import attention
    cp = tn.backend._import_cupy()
    s = np.random.default_rng(4).standard_normal((2, 3, 5, 7)).astype(dtype) * 4
    s[0, 1, 2, :] = -np.inf                      # a row with no allowed key -> all zeros
    s[1, 0, :, 3] = -np.inf
    twin = attention._softmax_rows_(s.copy())
    got = cp.asnumpy(_cuda.softmax_rows_(cp, cp.asarray(s)))
    np.testing.assert_allclose(got, twin, rtol=1e-6, atol=1e-7)
    assert (got[0, 1, 2] == 0).all()
