"""The fused CUDA optimizer kernels agree with their NumPy twins (needs a GPU)."""
import numpy as np
import pytest

import tinynet as tn
from tinynet.optim import _kernels

pytestmark = pytest.mark.skipif(not tn.cuda.is_available(), reason="needs CuPy and a GPU")


def _arrays(n, k, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(np.float32) for _ in range(k)]


@pytest.mark.parametrize("nesterov,dampening,wd,maximize", [(False, 0.0, 0.0, False),
                                                            (True, 0.0, 1e-2, False),
                                                            (False, 0.1, 0.0, True)])
def test_sgd_kernel_matches_numpy_twin(nesterov, dampening, wd, maximize):
    cp = tn.backend._import_cupy()
    p, g, buf = _arrays(1000, 3)
    gp, gg, gbuf = cp.asarray(p), cp.asarray(g), cp.asarray(buf)
    for new_buf in (True, False):
        kw = dict(lr=0.1, momentum=0.9, dampening=dampening, weight_decay=wd,
                  nesterov=nesterov, maximize=maximize, new_buf=new_buf)
        _kernels.sgd_update_(p, g, buf, **kw)
        _kernels.sgd_update_(gp, gg, gbuf, **kw)
    np.testing.assert_allclose(cp.asnumpy(gp), p, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(cp.asnumpy(gbuf), buf, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("decoupled,wd,maximize", [(False, 0.0, False), (True, 1e-2, False),
                                                   (False, 1e-2, True)])
def test_adam_kernel_matches_numpy_twin(decoupled, wd, maximize):
    cp = tn.backend._import_cupy()
    p, g, m = _arrays(1000, 3)
    v = np.abs(_arrays(1000, 1, seed=1)[0])
    gpu = [cp.asarray(a) for a in (p, g, m, v)]
    for step in (1, 2, 3):
        kw = dict(step=step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=wd,
                  decoupled=decoupled, maximize=maximize)
        _kernels.adam_update_(p, g, m, v, **kw)
        _kernels.adam_update_(*gpu, **kw)
    # nvcc contracts a*b+c into one rounding (FMA) where NumPy rounds twice, so
    # parameters of size ~1 may differ by a couple of ulp (~1e-7)
    for host, dev in zip((p, m, v), (gpu[0], gpu[2], gpu[3])):
        np.testing.assert_allclose(cp.asnumpy(dev), host, rtol=1e-5, atol=5e-7)
