"""The property-testing example from README.md, verbatim (so the README stays true)."""
from hypothesis import given
from hypothesis import strategies as st

import tinynet as tn
from tinynet.testing import strategies as tst


def softplus(x):
    return (x.exp() + 1.0).log()


@given(tst.tensors(shape=tst.shapes(max_dims=3), min_value=-5, max_value=5))
def test_softplus_gradient(x):
    assert tn.gradcheck(softplus, [x])


@given(tst.broadcastable_shapes(2), st.data())
def test_my_binary_op_gradient(shapes, data):
    a = data.draw(tst.tensors(shape=shapes[0]))
    b = data.draw(tst.tensors(shape=shapes[1]))
    assert tn.gradcheck(lambda a, b: a * b + a, [a, b])


@given(tst.tensor_and_dims(shape=tst.shapes(min_dims=1, max_dims=3)))
def test_logsumexp_second_derivative(x_and_dim):
    x, dim = x_and_dim
    assert tn.gradgradcheck(lambda t: t.logsumexp(dim), [x])
