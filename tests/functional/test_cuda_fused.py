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
    # the twins compute tanh through exp (NumPy's float32 tanh is slow), the kernel
    # with tanhf: near the derivative's zero (x ≈ -0.75) they differ by a few ulp of 1
    np.testing.assert_allclose(cp.asnumpy(_cuda.gelu_grad(cp, cp.asarray(x), approximate)),
                               twin_grad, rtol=1e-5, atol=3e-6)
