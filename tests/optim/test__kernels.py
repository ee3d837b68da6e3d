"""The raw-array update kernels: in place, no writes to the gradient, dtype kept."""
import numpy as np
import pytest

from tinynet.optim import _kernels as K


def _arrays(dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal((4, 3)).astype(dtype)
    g = rng.standard_normal((4, 3)).astype(dtype)
    g.flags.writeable = False  # any write into the gradient raises
    return p, g


def _state(p, n):
    return [np.zeros_like(p) + 0.1 for _ in range(n)]


CALLS = {  # name -> f(p, g, state arrays, tmp)
    "sgd": lambda p, g, s, tmp: K.sgd_update_(p, g, s[0], lr=0.1, momentum=0.9, nesterov=True,
                                              weight_decay=0.1, maximize=True, tmp=tmp),
    "sgd-dampening": lambda p, g, s, tmp: K.sgd_update_(p, g, s[0], lr=0.1, momentum=0.9, dampening=0.5,
                                                        tmp=tmp),
    "sgd-plain": lambda p, g, s, tmp: K.sgd_update_(p, g, None, lr=0.1, tmp=tmp),
    "adam": lambda p, g, s, tmp: K.adam_update_(p, g, s[0], s[1], 3, 0.01, 0.9, 0.999, 1e-8, 0.1, False,
                                                max_v=s[2], maximize=True, tmp=tmp),
    "adamw": lambda p, g, s, tmp: K.adam_update_(p, g, s[0], s[1], 1, 0.01, 0.2, 0.999, 1e-8, 0.1, True,
                                                 tmp=tmp),
    "rmsprop": lambda p, g, s, tmp: K.rmsprop_update_(p, g, s[0], lr=0.01, alpha=0.9, eps=1e-8,
                                                      momentum=0.9, centered=True, grad_avg=s[1], buf=s[2],
                                                      weight_decay=0.1, tmp=tmp),
    "rmsprop-plain": lambda p, g, s, tmp: K.rmsprop_update_(p, g, s[0], lr=0.01, alpha=0.9, eps=1e-8,
                                                            tmp=tmp),
    "radam": lambda p, g, s, tmp: K.radam_update_(p, g, s[0], s[1], 2, 0.01, 0.9, 0.999, 1e-8, 0.1, False,
                                                  maximize=True, tmp=tmp),
    "radam-rectified": lambda p, g, s, tmp: K.radam_update_(p, g, s[0], s[1], 50, 0.01, 0.9, 0.999, 1e-8,
                                                            0.1, True, tmp=tmp),
    "nadam": lambda p, g, s, tmp: K.nadam_update_(p, g, s[0], s[1], 3, 0.8, 0.01, 0.9, 0.999, 1e-8, 0.1,
                                                  maximize=True, tmp=tmp),
    "nadamw": lambda p, g, s, tmp: K.nadam_update_(p, g, s[0], s[1], 1, 1.0, 0.01, 0.9, 0.999, 1e-8, 0.1,
                                                   decoupled=True, tmp=tmp),
    "adamax": lambda p, g, s, tmp: K.adamax_update_(p, g, s[0], s[1], 2, 0.01, 0.9, 0.999, 1e-8, 0.1,
                                                    maximize=True, tmp=tmp),
    "adagrad": lambda p, g, s, tmp: K.adagrad_update_(p, g, s[0], 2, lr=0.1, lr_decay=0.1,
                                                      weight_decay=0.1, maximize=True, tmp=tmp),
}


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
def test_kernel_updates_in_place_and_keeps_dtype(name, dtype):
    p, g = _arrays(dtype)
    p0, g0 = p.copy(), g.copy()
    state = _state(p, 3)
    CALLS[name](p, g, state, None)  # allocates its own scratch
    assert p.dtype == dtype and all(s.dtype == dtype for s in state)
    assert not np.array_equal(p, p0)
    np.testing.assert_array_equal(g, g0)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_kernel_with_given_scratch_matches_allocating(name):
    p1, g = _arrays()
    p2 = p1.copy()
    s1, s2 = _state(p1, 3), _state(p1, 3)
    CALLS[name](p1, g, s1, None)
    tmp = (np.full_like(p2, np.nan), np.full_like(p2, np.nan))  # garbage in the scratch must not leak
    CALLS[name](p2, g, s2, tmp)
    np.testing.assert_array_equal(p1, p2)
    for a, b in zip(s1, s2):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("w", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_lerp(w):
    a, b = np.float32([1.0, -2.0, 3.0]), np.float32([2.0, 0.5, -1.0])
    expected = a + w * (b - a)
    tmp = np.empty_like(a)
    K.lerp_(a, b, w, tmp)
    np.testing.assert_allclose(a, expected, rtol=1e-6)
    if w == 1.0:
        np.testing.assert_array_equal(a, b)


def test_effective_grad_returns_gradient_itself_when_unchanged():
    p, g = _arrays()
    out = np.empty_like(p)
    assert K.effective_grad(p, g, 0.0, False, out) is g
    np.testing.assert_array_equal(K.effective_grad(p, g, 0.0, True, out), -g)
    np.testing.assert_allclose(K.effective_grad(p, g, 0.5, True, out), 0.5 * p - g, rtol=1e-6)
