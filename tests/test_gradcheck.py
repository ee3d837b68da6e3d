"""tn.gradcheck / tn.gradgradcheck: they pass correct gradients and catch wrong ones, naming
the input, the index and both values."""
import re

import numpy as np
import pytest

import tinynet as tn
from tinynet.autograd import Function


class _CubeWrongAt(Function):
    """y = x³ with a backward that is wrong at one element (index ``bad``)."""

    def forward(self, x, bad):
        self.bad = bad
        return x ** 3

    def backward(self, g):
        x = self.inputs[0]
        d = x.data ** 2 * 3
        d[self.bad] += 1.0  # the planted bug
        return g * tn.Tensor(d)


class _Times3Square(Function):
    """y = 3x² with a wrong derivative (5x instead of 6x)."""

    def forward(self, x):
        return 3 * x ** 2

    def backward(self, g):
        return g * self.inputs[0] * 5.0


class _CubeWithWrongSecondDerivative(Function):
    """y = x³; first derivative right (3x²), its own derivative wrong."""

    def forward(self, x):
        return x ** 3

    def backward(self, g):
        return g * _Times3Square.apply(self.inputs[0])


def _x(shape=(2, 3), seed=0):
    return tn.tensor(np.random.default_rng(seed).uniform(0.5, 1.5, shape), dtype=tn.float64,
                     requires_grad=True)


def test_gradcheck_passes_correct_gradients():
    a, b = _x(), _x(seed=1)
    assert tn.gradcheck(lambda p, q: (p * q).exp() / (q + 1.0), [a, b])
    assert tn.gradcheck(lambda p: (p ** 3, p.sum()), [a])  # tuple outputs


def test_gradcheck_catches_a_wrong_backward_and_names_the_element():
    w, x = _x((2,)), _x((2, 3), seed=2)
    with pytest.raises(tn.GradcheckError) as e:
        tn.gradcheck(lambda w, x: w.sum() + _CubeWrongAt.apply(x, bad=(1, 0)), [w, x])
    msg = str(e.value)
    assert "input 1" in msg and "(2, 3)" in msg and "index (1, 0)" in msg
    m = re.search(r"analytic (\S+) vs numeric (\S+)", msg)
    analytic, numeric = float(m.group(1)), float(m.group(2))
    assert abs(analytic - numeric) > 0.1  # the planted error, seen through the projection
    assert isinstance(e.value, AssertionError)


def test_gradcheck_can_return_false_instead_of_raising():
    assert tn.gradcheck(lambda x: _CubeWrongAt.apply(x, bad=(0, 0)), [_x()],
                        raise_exception=False) is False


def test_gradgradcheck_catches_a_wrong_second_derivative():
    x = _x()
    assert tn.gradcheck(lambda t: _CubeWithWrongSecondDerivative.apply(t), [x])
    with pytest.raises(tn.GradcheckError, match="input 0"):
        tn.gradgradcheck(lambda t: _CubeWithWrongSecondDerivative.apply(t), [x])
    assert tn.gradgradcheck(lambda t: t ** 3, [x])


def test_gradcheck_leaves_inputs_unchanged_and_accepts_float32():
    x = tn.tensor([[0.5, 1.0], [2.0, 3.0]], requires_grad=True)
    before = x.numpy().copy()
    assert tn.gradcheck(lambda t: t.log() * t, [x])
    np.testing.assert_array_equal(x.numpy(), before)
    assert x.dtype == np.float32 and x.grad is None


def test_gradcheck_handles_non_contiguous_inputs():
    base = _x((3, 2))
    xt = base.detach().T.detach().requires_grad_()  # a transposed view as a leaf
    assert not xt.data.flags.c_contiguous
    w = _x((3, 4), seed=3)
    assert tn.gradcheck(lambda a, b: a @ b, [xt, w])
    assert tn.gradgradcheck(lambda a, b: a @ b, [xt, w])


def test_gradcheck_ignores_inputs_without_grad_and_needs_one():
    x, c = _x(), tn.tensor(np.ones((2, 3)))
    assert tn.gradcheck(lambda a, b: a * b, [x, c])
    with pytest.raises(ValueError, match="no input requires grad"):
        tn.gradcheck(lambda a: a * 2.0, [c])


def test_gradcheck_reports_nan_mismatch():
    class NanBackward(Function):
        def forward(self, x):
            return x * 2

        def backward(self, g):
            return g * float("nan")

    msg = r"input 0 .* index \(0, 0\): analytic nan vs numeric -?\d"
    with pytest.raises(tn.GradcheckError, match=msg):
        tn.gradcheck(lambda t: NanBackward.apply(t), [_x()])


def test_gradcheck_failure_names_the_jacobian_entry_or_the_projection():
    msg = (r"output 0 at index \(1, 0\) with respect to input 0 \(shape \(2, 3\)\) at index "
           r"\(1, 0\).*both are d\(output 0\)\[1, 0\]/d\(input 0\)\[1, 0\]")
    with pytest.raises(tn.GradcheckError, match=msg):
        tn.gradcheck(lambda x: _CubeWrongAt.apply(x, bad=(1, 0)), [_x()])
    msg = r"both are d\(Σ v·out\)/d\(input 0\)\[1, 0\] for a random v over the outputs"
    with pytest.raises(tn.GradcheckError, match=msg):
        tn.gradcheck(lambda x: _CubeWrongAt.apply(x, bad=(1, 0)), [_x()], fast_mode=True)


def test_full_jacobian_check_catches_an_error_the_projection_hides_in_tolerance():
    # a wrong cross-derivative d out_0 / d x_1 = 0.01 instead of 0: in fast_mode it is added
    # to d(Σ v·out)/dx_1 ~ 2000 v_1, within rtol of it; the Jacobian entry itself is 0
    class LeakyCross(Function):
        def forward(self, x):
            return x * 2

        def backward(self, g):
            leak = np.zeros(g.shape)
            leak[1] = 1e-2 * g.data[0]
            return g * 2 + tn.tensor(leak)

    x = tn.tensor([1.0, 2.0], dtype=tn.float64, requires_grad=True)
    f = lambda t: LeakyCross.apply(t) * tn.tensor([1.0, 1e3], dtype=tn.float64)  # noqa: E731
    assert tn.gradcheck(f, [x], fast_mode=True)
    with pytest.raises(tn.GradcheckError, match=r"d\(output 0\)\[0\]/d\(input 0\)\[1\]"):
        tn.gradcheck(f, [x])


def test_gradcheck_names_a_kink_instead_of_blaming_the_backward():
    x = tn.tensor([0.0, 1.0], dtype=tn.float64, requires_grad=True)   # relu's kink at 0
    with pytest.raises(tn.GradcheckError, match=r"index \(0,\).*not differentiable at this point.*"
                                                r"\(slope 0 from the left, \S+ from the right"):
        tn.gradcheck(lambda t: t.relu(), [x])
    msg = ""
    try:
        tn.gradcheck(lambda t: _CubeWrongAt.apply(t, bad=(0, 0)), [_x()])
    except tn.GradcheckError as e:
        msg = str(e)
    assert "index (0, 0)" in msg and "not differentiable" not in msg   # a smooth fn: no hint


def test_gradcheck_refuses_a_random_function():
    x = _x()
    with pytest.raises(tn.GradcheckError, match="fn is not deterministic"):
        tn.gradcheck(lambda t: tn.functional.dropout(t, 0.5), [x])
    assert tn.gradcheck(lambda t: tn.functional.dropout(t, 0.5), [x],
                        raise_exception=False) is False   # a failure like any other


def test_gradcheck_says_what_fn_must_return_and_about_float32_weights():
    x = _x()
    with pytest.raises(TypeError, match="fn must return a Tensor or a tuple of Tensors, got "
                                        "ndarray"):
        tn.gradcheck(lambda t: t.numpy() * 2, [x])
    w = tn.ones(3, 2)   # float32, captured: gradcheck's float64 copy of x meets it
    with pytest.raises(TypeError, match=r"float64 copies of its inputs.*\.double\(\)"):
        tn.gradcheck(lambda t: t @ w, [x])
    assert tn.gradcheck(lambda t, v: t @ v, [x, w.requires_grad_()])   # passed in: converted


def test_gradcheck_copies_the_gradient_before_calling_fn_again():
    class ReusesBuffer(Function):
        """y = 2a + 2b whose backward hands out, for b, a buffer the next forward overwrites
        (as a scratch pool may)."""
        buffer = None

        def forward(self, a, b):
            if ReusesBuffer.buffer is not None:
                ReusesBuffer.buffer[...] = -1.0
            return 2 * a + 2 * b

        def backward(self, g):
            ReusesBuffer.buffer = g.data * 2
            return g * 2, tn.Tensor(ReusesBuffer.buffer)

    assert tn.gradcheck(ReusesBuffer.apply, [_x(), _x(seed=1)])


class _CubeHalfSecondDerivative(Function):
    """y = x³, first derivative right (3x²) but written with x.detach() in one factor, so
    its own derivative comes out 3x instead of 6x: gradgradcheck must catch it."""

    def forward(self, x):
        return x ** 3

    def backward(self, g):
        x = self.inputs[0]
        return g * 3.0 * x.detach() * x


def test_an_integer_output_before_the_float_one_is_skipped_not_misaligned():
    # the projections belong to the float outputs only; zipping them with all of fn's
    # results paired the argmax with the values' projection: a false failure in fast_mode
    # and a gradgradcheck that compared nothing
    x = _x()
    assert tn.gradcheck(lambda t: (t.argmax(), t * t), [x], fast_mode=True)
    assert tn.gradcheck(lambda t: (t.argmax(), t * t), [x])
    assert tn.gradgradcheck(lambda t: (t.argmax(), t ** 3), [x])
    for fast in (False, True):
        with pytest.raises(tn.GradcheckError):
            tn.gradgradcheck(lambda t: (t.argmax(), _CubeHalfSecondDerivative.apply(t)), [x],
                             fast_mode=fast)
