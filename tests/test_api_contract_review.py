"""DESIGN.md's contracts, checked where an audit found them broken: sizes are integers,
ops without an integer kernel refuse integer input instead of rounding it, errors name
the op the user called, and a few PyTorch rules (softmax's dim and dtype, cat's type
promotion, where's bool condition, GradcheckError's class)."""
import gc
import warnings
import weakref

import numpy as np
import pytest

import tinynet as tn
import tinynet.functional as F
import tinynet.nn as nn

try:
    import torch
except ImportError:  # the comparisons with PyTorch below are skipped
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="needs torch==2.13.0")


# ---------------------------------------------------------------- sizes are integers

@pytest.mark.parametrize("make", [
    lambda: tn.zeros(2.5), lambda: tn.ones(2, 3.0), lambda: tn.empty((2.0,)),
    lambda: tn.randn(2.7), lambda: tn.rand(3.9), lambda: tn.full((2.5,), 1.0),
    lambda: tn.ones(3).new_zeros(2.0), lambda: tn.ones(3).new_empty(1.5),
    lambda: tn.ones(2, 3).reshape(2.0, 3), lambda: tn.ones(6).view(2.0, 3),
    lambda: tn.ones(2).repeat(2.5), lambda: tn.ones(2).tile(2.0),
    lambda: tn.ones(2, 3).permute(1.0, 0), lambda: tn.ones(2, 3).expand(2.0, 3),
    lambda: nn.Linear(2.5, 3), lambda: nn.Bilinear(2, 3.0, 4), lambda: nn.Conv2d(3.0, 4, 3),
    lambda: nn.Conv2d(3, 4, 3, groups=1.0), lambda: nn.Embedding(10.0, 3),
    lambda: nn.BatchNorm2d(4.0), lambda: nn.LayerNorm(4.5), lambda: nn.RMSNorm([2.0]),
    lambda: F.layer_norm(tn.ones(2, 4), 4.0),
])
def test_a_float_size_is_a_type_error_not_rounded_down(make):
    # tn.zeros(n / 2) used to give floor(n / 2) elements silently; PyTorch raises
    with pytest.raises(TypeError, match="must be integers"):
        make()


def test_integer_sizes_of_every_spelling_still_work():
    x = tn.ones(2, 3)
    assert tn.zeros(2, 3).shape == tn.zeros((2, 3)).shape == tn.zeros([2, 3]).shape == (2, 3)
    assert tn.zeros(np.int64(3)).shape == (3,) and tn.zeros(tn.tensor(2)).shape == (2,)
    assert tn.zeros(()).shape == () and tn.full(3, 2).shape == (3,)
    assert x.reshape(-1).shape == (6,) and x.view(3, -1).shape == (3, 2)
    assert x.repeat((1, 2)).shape == (2, 6) and x.expand(4, -1, 3).shape == (4, 2, 3)
    assert nn.Linear(np.int64(3), 4).in_features == 3
    assert nn.LayerNorm([3, 4]).normalized_shape == (3, 4)


@pytest.mark.parametrize("make, match", [
    (lambda: tn.zeros(-1), "zeros: negative dimension"),
    (lambda: tn.randn(2, -3), "randn: negative dimension"),
    (lambda: tn.arange(0, 1, 0), "arange: step must be nonzero"),
])
def test_bad_creation_values_are_value_errors_naming_the_function(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_random_floats_refuse_an_integer_dtype():
    for fn in (tn.randn, tn.rand):
        with pytest.raises(TypeError, match=f"{fn.__name__}: dtype must be a floating"):
            fn(2, dtype=tn.int64)


def test_tensor_refuses_strings_and_ragged_lists_with_its_name():
    with pytest.raises(TypeError, match="tensor: data of dtype <U1 is not numbers"):
        tn.tensor(["a"])
    with pytest.raises(ValueError, match="tensor: nested sequences of unequal lengths"):
        tn.tensor([[1, 2], [3]])


# ---------------------------------------------------------------- integer input

@pytest.mark.parametrize("name, args", [
    ("gelu", ()), ("silu", ()), ("leaky_relu", ()), ("glu", ()),
    ("softmax", (0,)), ("log_softmax", (0,)),
])
def test_ops_without_an_integer_kernel_refuse_integer_input(name, args):
    # F.gelu(int64) used to round every value to 0, silu gave float64 zeros
    x = tn.tensor([1, 2, -3, 4])
    with pytest.raises(TypeError, match=f"{name}: expected a floating-point tensor, got int64"):
        getattr(F, name)(x, *args)
    if torch is not None:   # the rule is PyTorch's: it has no integer kernel for these
        with pytest.raises((NotImplementedError, RuntimeError)):
            getattr(torch.nn.functional, name)(torch.tensor([1, 2, -3, 4]), *args)




def test_logsumexp_of_integers_is_float32_as_torch():
    out = tn.logsumexp(tn.tensor([1, 2, 3]), 0)
    assert out.dtype == np.float32
    assert abs(out.item() - np.log(np.exp([1.0, 2.0, 3.0]).sum())) < 1e-6


# ---------------------------------------------------------------- softmax's dim and dtype

def test_softmax_without_dim_takes_torchs_legacy_dim_and_warns_at_the_callers_line():
    x = tn.randn(2, 3, 4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = F.softmax(x)
        b = nn.Softmax()(x)
        c = F.log_softmax(tn.randn(2, 5))
    assert len(caught) == 3
    assert {w.filename for w in caught} == {__file__}
    assert all("implicit dim choice is deprecated" in str(w.message) for w in caught)
    # a 3-D input's legacy dim is 0, not the last one
    np.testing.assert_allclose(a.sum(0).numpy(), np.ones((3, 4)), rtol=1e-6)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_allclose(np.exp(c.numpy()).sum(1), np.ones(2), rtol=1e-6)


@needs_torch
def test_softmax_without_dim_matches_torch():
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = F.softmax(tn.tensor(x)).numpy()
        theirs = torch.nn.functional.softmax(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)


def test_softmax_dtype_casts_the_input_first():
    out = F.softmax(tn.tensor([1, 2]), 0, dtype=tn.float32)
    np.testing.assert_allclose(out.numpy(), [0.26894143, 0.7310586], rtol=1e-6)
    assert F.log_softmax(tn.randn(3), -1, dtype=tn.float64).dtype == np.float64
    assert tn.randn(2, 3).softmax(-1, dtype=tn.float64).dtype == np.float64


# ---------------------------------------------------------------- cat and stack

def test_cat_promotes_integers_to_the_floating_dtype_as_torch():
    x = tn.ones(2, requires_grad=True)
    y = tn.cat([x, tn.tensor([1, 2])])
    assert y.dtype == np.float32 and y.tolist() == [1.0, 1.0, 1.0, 2.0]
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    assert tn.stack([tn.tensor([True]), tn.tensor([3])]).dtype == np.int64
    assert tn.cat([tn.tensor([1], dtype=tn.int32), tn.tensor([2])]).dtype == np.int64


def test_cat_of_two_float_dtypes_still_raises_but_names_stack_when_stacking():
    with pytest.raises(TypeError, match="stack: floating dtypes float32, float16 differ"):
        tn.stack([tn.ones(3), tn.ones(3, dtype=tn.float16)])
    with pytest.raises(TypeError, match="cat: floating dtypes"):
        tn.cat([tn.ones(3), tn.ones(3, dtype=tn.float64)])
    with tn.amp.autocast("cpu"):   # autocast joins in the widest, as PyTorch's does
        assert tn.cat([tn.ones(2, dtype=tn.float16), tn.ones(2)]).dtype == np.float32


def test_cat_refuses_0d_tensors_by_name():
    with pytest.raises(ValueError, match="cat: a 0-d tensor cannot be concatenated"):
        tn.cat([tn.tensor(1.0), tn.tensor(2.0)])


def test_view_errors_say_view():
    with pytest.raises(ValueError, match="^view: cannot reshape"):
        tn.ones(6).view(4, 2)


# ---------------------------------------------------------------- the rest

def test_where_needs_a_bool_condition_as_torch():
    with pytest.raises(TypeError, match="where: the condition must be a bool tensor"):
        tn.where(tn.ones(3), tn.ones(3), tn.zeros(3))
    assert tn.where(tn.ones(3) > 0, 1.0, 0.0).tolist() == [1.0, 1.0, 1.0]
    assert tn.where(True, tn.ones(2), 0.0).tolist() == [1.0, 1.0]


def test_gradcheck_error_is_a_runtime_error_as_torchs():
    assert issubclass(tn.GradcheckError, RuntimeError)
    assert issubclass(tn.GradcheckError, AssertionError)   # pytest shows it as a failed check
    x = tn.randn(3, dtype=tn.float64, requires_grad=True)
    with pytest.raises(RuntimeError):
        tn.gradcheck(lambda t: tn.Tensor(t.data * 2.0) * t, (x,))


def test_testing_is_reachable_from_the_package():
    # in a fresh interpreter: in this one other tests have imported tinynet.testing already,
    # which sets the attribute whether or not tinynet provides it
    import subprocess
    import sys
    pytest.importorskip("hypothesis")   # (tn.testing needs it)
    code = "import tinynet as tn; print(tn.testing.strategies.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "tinynet.testing.strategies"


def test_save_errors_name_save(tmp_path):
    with pytest.raises(TypeError, match="^save .*part 'bad'"):
        tn.save({"w": tn.ones(2), "bad": object()}, tmp_path / "ckpt.safetensors")
    assert not list(tmp_path.iterdir())


def test_a_pool_thread_does_not_keep_the_last_op_alive():
    q = tn.randn(4, 4, 64, 32, requires_grad=True)
    out = F.scaled_dot_product_attention(q, q, q)
    ref = weakref.ref(out.grad_fn)
    out.sum().backward()
    del out
    gc.collect()
    assert ref() is None


# ---------------------------------------------------------------- nn layers and losses

@pytest.mark.parametrize("make, x", [
    (lambda: nn.BatchNorm1d(3), lambda: tn.ones(4, 3, dtype=tn.int64)),
    (lambda: nn.BatchNorm1d(3).eval(), lambda: tn.ones(4, 3, dtype=tn.int64)),
    (lambda: nn.GroupNorm(1, 3), lambda: tn.ones(2, 3, 4, dtype=tn.int64)),
    (lambda: nn.InstanceNorm1d(3), lambda: tn.ones(2, 3, 4, dtype=tn.int64)),
    (lambda: nn.RMSNorm(4), lambda: tn.ones(2, 4, dtype=tn.int64)),
    (lambda: nn.MaxPool1d(2), lambda: tn.ones(1, 3, 4, dtype=tn.int64)),
])
def test_norms_and_pools_refuse_integer_input_by_name(make, x):
    # BatchNorm in eval mode returned float64 for an int64 input; in training NumPy's
    # UFuncTypeError came out
    with pytest.raises(TypeError, match="expected a floating-point tensor, got int64"):
        make()(x())


@pytest.mark.parametrize("layer, shape", [
    (lambda: nn.BatchNorm2d(3), (0, 3, 4, 4)), (lambda: nn.BatchNorm1d(3), (0, 3)),
    (lambda: nn.GroupNorm(2, 4), (0, 4, 3)), (lambda: nn.InstanceNorm2d(3), (0, 3, 4, 4)),
    (lambda: nn.InstanceNorm1d(3, affine=True), (0, 3, 5)), (lambda: nn.LayerNorm(0), (2, 0)),
    (lambda: nn.RMSNorm(0), (2, 0)),
    (lambda: nn.Conv2d(4, 6, 3, groups=2), (0, 4, 4, 4)),
    (lambda: nn.ConvTranspose2d(4, 6, 3, groups=2), (0, 4, 4, 4)),
])
def test_an_empty_batch_gives_an_empty_output_and_zero_gradients_as_torch(layer, shape):
    m = layer()
    x = tn.zeros(*shape, requires_grad=True)
    y = m(x)
    assert y.shape[0] == shape[0] and y.numel() == 0
    y.sum().backward()
    assert x.grad.shape == x.shape
    for p in m.parameters():
        assert p.grad is not None and not p.grad.numpy().any()
    if isinstance(m, nn.BatchNorm2d):   # the running statistics are left alone
        assert m.running_mean.tolist() == [0.0] * 3 and m.running_var.tolist() == [1.0] * 3


@needs_torch
def test_grouped_conv_of_an_empty_batch_has_torchs_shape():
    ours = F.conv2d(tn.zeros(0, 4, 4, 4), tn.zeros(6, 2, 3, 3), groups=2).shape
    theirs = tuple(torch.nn.functional.conv2d(torch.zeros(0, 4, 4, 4), torch.zeros(6, 2, 3, 3),
                                              groups=2).shape)
    assert ours == theirs


@pytest.mark.parametrize("make, match", [
    (lambda: nn.Flatten()(tn.randn(5)), "flatten: dim 1 out of range"),
    (lambda: tn.randn(2, 3, 4).flatten(3), "flatten: dim 3 out of range"),
    (lambda: nn.Flatten(-5)(tn.randn(2, 3, 4)), "flatten: dim -5 out of range"),
    (lambda: nn.Flatten(2, 1)(tn.randn(2, 3, 4)), "flatten: start_dim 2 comes after end_dim 1"),
    (lambda: nn.Unflatten(1, (-1, -1))(tn.randn(4, 6)), "unflatten: sizes"),
    (lambda: nn.AdaptiveAvgPool2d(1)(tn.zeros(2, 3, 0, 5)), "adaptive_avg_pool2d: .*empty"),
    (lambda: nn.AdaptiveMaxPool1d(1)(tn.zeros(2, 3, 0)), "adaptive_max_pool1d: .*empty"),
    (lambda: nn.LPPool2d(2, 2)(tn.randn(4, 4)), "lp_pool2d: expected input"),
    (lambda: nn.ReflectionPad2d(1)(tn.randn(4, 4)), "ReflectionPad2d: expected a 3-D or 4-D"),
    (lambda: nn.ConvTranspose1d(3, 4, 3)(tn.randn(2, 4, 5)),
     r"conv_transpose1d: input of shape \(2, 4, 5\) has 4 channels"),
    (lambda: nn.InstanceNorm2d(3, track_running_stats=True)(tn.randn(2, 4, 5, 5)),
     r"instance_norm: running_mean of shape \(3,\)"),
    (lambda: F.binary_cross_entropy(tn.full((2,), 0.5), tn.tensor([0.0, 2.0])),
     "binary_cross_entropy: target values must be in"),
    (lambda: F.ctc_loss(tn.full((6, 1, 4), -1.3863), tn.tensor([[1, 0, 2]]), tn.tensor([6]),
                        tn.tensor([3])), "ctc_loss: targets hold the blank index 0"),
])
def test_layer_and_loss_mistakes_get_errors_naming_what_was_called(make, match):
    # these gave a silently wrong result (flatten wrapped its dims, the 2-D reflection pad
    # padded an unbatched 2-D input, BCE took targets outside [0, 1]), NumPy's own error,
    # a ZeroDivisionError, or an error naming the 2-D op the 1-D one runs as
    with pytest.raises(ValueError, match=match):
        make()


def test_kl_div_of_a_negative_target_is_nan_as_torch():
    with np.errstate(invalid="ignore"):
        out = F.kl_div(tn.tensor([0.1, 0.2]), tn.tensor([-1.0, 0.5]), reduction="sum")
    assert np.isnan(out.item())
    assert F.kl_div(tn.tensor([0.1, 0.2]), tn.tensor([0.0, 0.5]), reduction="sum").item() == \
        pytest.approx(0.5 * (np.log(0.5) - 0.2))


def test_gradgradcheck_checks_the_derivative_with_respect_to_the_incoming_gradient():
    # a hook that hands back a detached copy cuts the gradient's graph with respect to v:
    # d(first-order gradient)/dx is 0 either way, so only the check in v can see it
    def fn(t):
        y = t * 2
        if y.requires_grad:
            y.register_hook(lambda g: tn.Tensor(g.data * 1.0))
        return y
    x = tn.randn(3, dtype=tn.float64, requires_grad=True)
    assert tn.gradcheck(fn, (x,))
    with pytest.raises(tn.GradcheckError, match="analytic 0 vs numeric 2"):
        tn.gradgradcheck(fn, (x,))
    assert tn.gradgradcheck(lambda t: t * 2, (x,))


# ---------------------------------------------------------------- PyTorch's parameter names

# torch.nn.functional's parameters tinynet's functions lack on purpose: the deprecated
# size_average/reduce (refused: reduction= says it), normalize's out=, and the weight=
# that torch 2.13 added to its regression losses
_KNOWN_MISSING = {"size_average", "reduce", "out"}
_WEIGHTLESS = {"mse_loss", "l1_loss", "huber_loss"}


@needs_torch
def test_functional_ops_take_torchs_parameter_names():
    import inspect
    tf = torch.nn.functional
    compared, missing = 0, {}
    for name in dir(tf):
        if name.startswith("_") or not callable(getattr(tf, name)) or not hasattr(F, name):
            continue
        try:
            theirs = inspect.signature(getattr(tf, name)).parameters
            ours = inspect.signature(getattr(F, name)).parameters
        except (TypeError, ValueError):   # C builtins without a signature
            continue
        if list(theirs) == ["args", "kwargs"]:
            continue
        compared += 1
        lack = [p for p in theirs if not p.startswith("_") and p not in ours
                and p not in _KNOWN_MISSING and not (p == "weight" and name in _WEIGHTLESS)]
        if lack:
            missing[name] = lack
    assert compared > 60
    assert not missing, f"parameters of torch.nn.functional that tinynet names otherwise: {missing}"


def test_the_input_keyword_works_as_in_torch():
    x = tn.randn(2, 3, 4, 4)
    assert F.relu(input=x).shape == x.shape
    assert F.softmax(input=x, dim=1).shape == x.shape
    assert F.embedding(input=tn.tensor([1, 2]), weight=tn.randn(4, 3)).shape == (2, 3)
    assert F.pad(input=x, pad=(1, 1)).shape == (2, 3, 4, 6)
    assert F.layer_norm(input=x, normalized_shape=(4,)).shape == x.shape
