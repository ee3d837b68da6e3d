"""The float32 erf and exact GELU's Φ are tanh(x · polynomial(x²)) (``_ERF_TANH_POLY`` and
``_PHI_TANH_POLY`` in tinynet/functional/elementwise.py): the stored coefficients are the
fit their comment describes, Φ's (derived from erf's) are what fitting Φ directly gives, and
the float32 evaluation is as accurate as the comment says."""
import math

import numpy as np
import pytest

import tinynet as tn
import tinynet.functional as F
from tinynet.functional import elementwise as E


def _fit(scale, x2_max, degree=12, points=40001):
    """Least-squares Chebyshev fit of atanh(erf(scale·x))/x over x² in [0, x2_max], as
    monomial coefficients."""
    xs = np.linspace(1e-6, math.sqrt(x2_max), points)
    # atanh e = ½ ln((1 + e)/(1 - e)), with 1 - e = erfc exactly (erf is ~1 near x = 4)
    g = [0.5 * math.log((1 + math.erf(scale * x)) / math.erfc(scale * x)) / x for x in xs]
    cheb = np.polynomial.chebyshev.Chebyshev.fit(xs ** 2, g, degree, domain=[0, x2_max])
    return cheb.convert(kind=np.polynomial.Polynomial).coef


@pytest.mark.parametrize("stored, scale, x2_max", [(E._ERF_TANH_POLY, 1.0, 16.0),
                                                   (E._PHI_TANH_POLY, 1 / math.sqrt(2), 32.0)])
def test_stored_coefficients_are_the_described_fit(stored, scale, x2_max):
    # (compared as polynomials over the fitted range: the least-squares solvers of NumPy 1
    # and 2 round the highest coefficients differently, by ~1e-9 relative)
    t = np.linspace(0, x2_max, 1001)
    stored_p = np.polynomial.Polynomial(stored)
    np.testing.assert_allclose(stored_p(t), np.polynomial.Polynomial(_fit(scale, x2_max))(t),
                               rtol=0, atol=1e-10)


def test_first_terms_are_the_known_series():
    assert E._ERF_TANH_POLY[0] == pytest.approx(2 / math.sqrt(math.pi), rel=1e-6)
    assert E._PHI_TANH_POLY[0] == pytest.approx(math.sqrt(2 / math.pi), rel=1e-6)


def test_float32_erf_and_gelu_accuracy_on_a_dense_grid():
    x = np.concatenate([np.linspace(-9, 9, 200001), np.geomspace(1e-30, 1e-2, 500),
                        -np.geomspace(1e-30, 1e-2, 500)]).astype(np.float32)
    exact = np.array([math.erf(float(v)) for v in x])
    got = tn.erf(tn.tensor(x)).numpy()
    assert got.dtype == np.float32
    assert np.abs(got - exact).max() < 1.5e-7
    tiny = (np.abs(x) < 1e-2) & (x != 0)
    assert (np.abs(got - exact)[tiny] / np.abs(exact[tiny])).max() < 5e-7   # relative near 0
    assert np.all(np.diff(got[:200001]) >= 0)                               # monotone
    phi = np.array([0.5 * math.erfc(-float(v) / math.sqrt(2)) for v in x])
    gelu = F.gelu(tn.tensor(x)).numpy()
    assert np.abs(gelu - x.astype(np.float64) * phi).max() < 1e-6
    nonzero = np.abs(x) > 1e-20
    assert np.abs(gelu[nonzero] / x[nonzero] - phi[nonzero]).max() < 1.5e-7


def test_ends_and_signed_zero():
    got = tn.erf(tn.tensor([np.inf, -np.inf, np.nan, 0.0, -0.0, 40.0])).numpy()
    assert got[0] == 1 and got[1] == -1 and np.isnan(got[2]) and got[5] == 1
    assert got[3] == 0 and not np.signbit(got[3]) and got[4] == 0 and np.signbit(got[4])
    half = tn.erf(tn.tensor([0.5, -2.0], dtype=tn.float16)).numpy()
    assert half.dtype == np.float16
    np.testing.assert_allclose(half, [math.erf(0.5), math.erf(-2.0)], rtol=1e-3)
