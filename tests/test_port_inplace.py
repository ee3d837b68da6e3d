"""In-place Tensor methods that ported training code calls: on tensors outside the
graph (custom init, EMA weights, weight clipping, masks: sub_, div_, clamp_,
masked_fill_, lerp_, addcmul_, addcdiv_, uniform_, normal_), and inside it, where they
are recorded as in PyTorch (torchvision's ``out += identity``, ``loss += penalty``)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinynet as tn
import tinynet.nn as nn
from tinynet.testing import strategies as tst


def test_arithmetic_inplace_methods_write_the_same_memory():
    x = tn.tensor([1.0, 2.0, 3.0])
    data = x.data
    assert x.sub_(tn.ones(3), alpha=2) is x
    assert x.tolist() == [-1.0, 0.0, 1.0]
    x.div_(2.0).clamp_(min=-0.25)
    assert x.tolist() == [-0.25, 0.0, 0.5] and x.data is data
    x.clip_(max=0.0)
    assert x.tolist() == [-0.25, 0.0, 0.0]
    with pytest.raises(ValueError, match="clamp_"):
        x.clamp_()


def test_masked_fill_inplace_broadcasts_the_mask():
    x = tn.zeros(2, 3)
    x.masked_fill_(tn.tensor([True, False, True]), float("-inf"))
    assert x.tolist() == [[float("-inf"), 0.0, float("-inf")]] * 2
    assert x._version == 1
    with pytest.raises(TypeError, match="bool"):
        x.masked_fill_(tn.tensor([1, 0, 1]), 0.0)


def test_ema_and_optimizer_style_updates_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    p, q, g, v = (rng.standard_normal(4).astype(np.float32) for _ in range(4))
    v = np.abs(v) + 0.1
    ours, theirs = tn.tensor(p), torch.tensor(p)
    for t, lib in ((ours, tn), (theirs, torch)):
        t.lerp_(lib.tensor(q), 0.1)
        t.addcmul_(lib.tensor(g), lib.tensor(g), value=0.5)
        t.addcdiv_(lib.tensor(g), lib.tensor(v), value=-0.01)
        t.mul_(0.9).sub_(lib.tensor(q), alpha=0.1).div_(2)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_inplace_methods_refuse_tensors_in_the_graph():
    w = nn.Parameter(tn.ones(3))
    for call in (lambda: w.sub_(1), lambda: w.clamp_(0, 1), lambda: w.normal_(),
                 lambda: w.masked_fill_(tn.ones(3) > 0, 0.0), lambda: w.uniform_()):
        with pytest.raises(RuntimeError, match="in-place"):
            call()
    with tn.no_grad():
        w.normal_(0.0, 0.02)   # GPT-2 style init, as in PyTorch under no_grad
    assert w.requires_grad


def test_random_fills_are_seeded_and_have_the_asked_distribution():
    tn.manual_seed(3)
    a = tn.empty(20000).normal_(1.0, 0.5)
    tn.manual_seed(3)
    b = tn.empty(20000).normal_(1.0, 0.5)
    assert tn.equal(a, b)
    assert abs(a.mean().item() - 1.0) < 0.02 and abs(a.std().item() - 0.5) < 0.02
    u = tn.empty(20000, dtype=tn.float16).uniform_(-2.0, 3.0)
    assert u.dtype == tn.float16
    assert -2.0 <= u.min().item() and u.max().item() <= 3.0
    assert abs(u.float().mean().item() - 0.5) < 0.05
    gen = np.random.default_rng(0)
    assert tn.zeros(3).uniform_(generator=gen).tolist() != [0.0, 0.0, 0.0]
    with pytest.raises(TypeError, match="floating"):
        tn.zeros(3, dtype=tn.int64).normal_()


INPLACE_WITH_AN_OPERAND = [
    lambda a, b: a.add_(b), lambda a, b: a.sub_(b, alpha=2), lambda a, b: a.mul_(b),
    lambda a, b: a.div_(b), lambda a, b: a.lerp_(b, 0.5), lambda a, b: a.addcmul_(b, b),
    lambda a, b: a.addcdiv_(b, b), lambda a, b: a.clamp_(min=b),
    lambda a, b: a.masked_fill_(a.new_tensor([True, False, True], dtype=bool), b[0]),
    lambda a, b: a.copy_(b * 2), lambda a, b: a.fill_(b[1]),
    lambda a, b: a.__iadd__(b), lambda a, b: a.__isub__(b), lambda a, b: a.__imul__(b),
    lambda a, b: a.__itruediv__(b)]


@pytest.mark.parametrize("call", INPLACE_WITH_AN_OPERAND)
def test_inplace_with_an_operand_that_requires_grad_is_recorded_as_in_torch(call):
    torch = pytest.importorskip("torch")
    results = []
    for lib in (tn, torch):
        a = lib.tensor([0.5, -1.0, 2.0])                   # outside the graph
        b = lib.tensor([1.5, 2.0, -0.5], requires_grad=True)
        out = call(a, b)
        assert out is a and a.requires_grad and a.grad_fn is not None
        (a * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
        results.append((a.detach().numpy(), b.grad.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


@pytest.mark.parametrize("call", INPLACE_WITH_AN_OPERAND)
def test_inplace_with_an_operand_that_requires_grad_writes_in_place_under_no_grad(call):
    a, b = tn.zeros(3) + 1.0, tn.ones(3, requires_grad=True)
    before = a.data
    with tn.no_grad():                              # the EMA pattern: outside the graph
        call(a, b)
    assert a.data is before and a._version == 1     # the same memory, one write
    assert not a.requires_grad


# ---------------------------------------------------------------- inside the graph

RECORDED = {
    "+=": lambda a, b: a.__iadd__(b), "-=": lambda a, b: a.__isub__(b),
    "*=": lambda a, b: a.__imul__(b), "/=": lambda a, b: a.__itruediv__(b + 4.0),
    "add_": lambda a, b: a.add_(b, alpha=0.5), "sub_": lambda a, b: a.sub_(b, alpha=2),
    "mul_": lambda a, b: a.mul_(b), "div_": lambda a, b: a.div_(b * b + 1.0),
    "lerp_": lambda a, b: a.lerp_(b, 0.25), "addcmul_": lambda a, b: a.addcmul_(b, b, value=2),
    "addcdiv_": lambda a, b: a.addcdiv_(b, b * b + 1.0, value=-1),
    # (an offset no drawn pair of values is likely to meet: clamp has a kink at a = min)
    "clamp_": lambda a, b: a.clamp_(min=b + 0.0123457), "copy_": lambda a, b: a.copy_(b),
    # (relu_'s kink moved off 0 likewise; zero_ and fill_ send the old value a zero gradient)
    "relu_": lambda a, b: a.sub_(0.0123457).relu_().__imul__(b),
    "zero_": lambda a, b: a.zero_().__isub__(b),
    "fill_": lambda a, b: a.fill_((b * b).sum()),
}


@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(sorted(RECORDED)), shapes=tst.broadcastable_shapes(2, 0, 3, 1, 3),
       data=st.data())
def test_inplace_ops_inside_the_graph_pass_gradcheck(name, shapes, data):
    # b broadcasts into a's shape (the in-place rule), both float64 and requiring grad
    a_shape = np.broadcast_shapes(*shapes)
    a = data.draw(tst.tensors(a_shape, requires_grad=True))
    b = data.draw(tst.tensors(shapes[1], requires_grad=True))

    def f(a, b):
        y = a * 1.0              # a non-leaf: the in-place op is recorded on it
        assert RECORDED[name](y, b) is y
        return y
    assert f(a, b).grad_fn is not None   # recorded (gradcheck also calls f under no_grad)
    assert tn.gradcheck(f, (a, b), atol=1e-6, rtol=1e-5)
    assert tn.gradgradcheck(f, (a, b), atol=1e-6, rtol=1e-5)   # create_graph=True through it


def test_torchvision_basic_block_out_plus_equals_identity_matches_torch():
    torch = pytest.importorskip("torch")
    from port_helpers import copy_weights

    def block(lib):
        L = lib.nn

        class BasicBlock(L.Module):
            def __init__(self):
                super().__init__()
                self.conv1, self.bn1 = L.Conv2d(4, 4, 3, padding=1, bias=False), L.BatchNorm2d(4)
                self.relu = L.ReLU(inplace=True)
                self.conv2, self.bn2 = L.Conv2d(4, 4, 3, padding=1, bias=False), L.BatchNorm2d(4)

            def forward(self, x):     # torchvision's BasicBlock.forward, verbatim
                identity = x
                out = self.conv1(x)
                out = self.bn1(out)
                out = self.relu(out)
                out = self.conv2(out)
                out = self.bn2(out)
                out += identity
                out = self.relu(out)
                return out
        return BasicBlock()
    ours, theirs = block(tn), block(torch)
    copy_weights(torch, ours, theirs)
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 5)).astype(np.float32)
    xo, xt = tn.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo), theirs(xt)
    (yo * yo).sum().backward()
    (yt * yt).sum().backward()
    np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.conv1.weight.grad.numpy(), theirs.conv1.weight.grad.numpy(),
                               rtol=1e-4, atol=1e-4)


def test_loss_plus_equals_a_penalty_and_masked_fill_inside_the_graph():
    w = nn.Parameter(tn.tensor([1.0, -2.0, 3.0]))
    loss = (w * w).sum()
    loss += 0.5 * w.abs().sum()         # the regularizer idiom
    scores = w * 2.0
    scores.masked_fill_(scores < 0, 0.0)
    loss += scores.sum()
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), [2 + 0.5 + 2, -4 - 0.5, 6 + 0.5 + 2])


def test_inplace_inside_the_graph_errors_are_those_of_torch():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        x += 1.0
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        x.relu_()
    y = x * 2
    z = y * y                 # saves y
    y += 1.0
    with pytest.raises(RuntimeError, match="modified by an in-place"):
        z.sum().backward()
    with pytest.raises(TypeError, match="cannot be cast to the tensor's dtype int64"):
        i = tn.tensor([1, 2])
        i += x
    with pytest.raises(ValueError, match=r"shape \(3, 2\) differs from the tensor's \(2,\)"):
        y = x * 2
        y += tn.ones(3, 2)
    assert y.tolist() == [2.0, 4.0]   # nothing written


def test_inplace_inside_the_graph_keeps_dtype_and_an_earlier_reader_of_the_old_value():
    x = tn.tensor([1.0, -2.0], requires_grad=True)
    y = x * 2                       # float32
    before = y + 0.0                # reads y before the write: its gradient is unchanged
    y += tn.tensor([1.0, 1.0], dtype=tn.float64)
    assert y.dtype == tn.float32 and y.tolist() == [3.0, -3.0]
    y.relu_()
    (before.sum() + y.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0 + 2.0, 2.0 + 0.0])


def test_hooks_registered_before_an_inplace_op_get_the_old_values_gradient_as_torch():
    torch = pytest.importorskip("torch")
    results = []
    for lib in (tn, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        h = x * 2
        seen = []
        h.register_hook(lambda g: seen.append(g.detach().numpy().copy()) or g * 10)
        a = h + 0.0          # another reader of the old value (its gradient goes to the hook)
        h *= 3               # the hook is for h as it was: dL/dh_old = 1 (from a) + 3
        after = []
        h.register_hook(lambda g: after.append(g.detach().numpy().copy()))   # the new value
        (a + h).sum().backward()
        results.append((seen[0], after[0], x.grad.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(results[0][2], [80.0, 80.0])   # 2 · 10 · (1 + 3)


@pytest.mark.parametrize("write", [lambda h, y: h.copy_(y), lambda h, y: h.zero_(),
                                   lambda h, y: h.fill_(2.0), lambda h, y: h.__setitem__(0, y[0])])
def test_a_hook_sees_the_old_value_after_copy_fill_zero_or_assignment_as_torch(write):
    torch = pytest.importorskip("torch")
    results = []
    for lib in (tn, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        h = x * 2
        seen = []
        h.register_hook(lambda g: seen.append(g.detach().numpy().copy()))
        a = h + 1.0         # reads the old value (Add needs no values in backward)
        write(h, lib.tensor([5.0, 6.0]))
        (a + h).sum().backward()
        results.append((seen[0], x.grad.numpy(), h.requires_grad))
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)


def test_relu_inplace_inside_the_graph_has_relus_gradient_at_zero():
    torch = pytest.importorskip("torch")
    grads = []
    for lib in (tn, torch):
        x = lib.tensor([-1.0, 0.0, 2.0], requires_grad=True)
        h = x * 1.0
        assert h.relu_() is h
        (h * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])
    np.testing.assert_array_equal(grads[0], [0.0, 0.0, 3.0])   # not clamp's 1 at x = 0


@pytest.mark.parametrize("write", [lambda h: h.zero_(), lambda h: h.fill_(-3.0)])
def test_zero_and_fill_inside_the_graph_keep_requires_grad_as_torch(write):
    x = tn.tensor([1.0, float("nan")], requires_grad=True)
    h = x * 2
    write(h)
    assert h.requires_grad and h.grad_fn is not None   # PyTorch: ZeroBackward / FillBackward
    assert not np.isnan(h.numpy()).any()
    h.sum().backward()                                  # PyTorch: x.grad is zeros
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


@pytest.mark.parametrize("write", [
    lambda x: x[0].add_(1.0), lambda x: x.view(4).mul_(2.0), lambda x: x.T.zero_(),
    lambda x: x[0][1:].copy_(tn.ones(1)), lambda x: x[0].__setitem__(1, 5.0),
    lambda x: x.__getitem__(0).__iadd__(tn.ones(2, requires_grad=True))])
def test_inplace_through_a_view_of_a_leaf_that_requires_grad_raises_as_torch(write):
    x = tn.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    with pytest.raises(RuntimeError, match="view .* of a leaf tensor that requires grad"):
        write(x)
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(RuntimeError, match="view .* of a leaf tensor that requires grad"):
        x[0] += 1.0               # PyTorch: "a view of a leaf Variable that requires grad ..."
    with tn.no_grad():            # outside the graph it writes the leaf, as in PyTorch
        write(x)
    assert x.tolist() != [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize("views", [lambda h: h.chunk(2), lambda h: h.split(1),
                                   lambda h: tn.tensor_split(h, 2)])
def test_inplace_on_an_output_of_split_or_chunk_inside_the_graph_raises_as_torch(views):
    x = tn.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    h = x * 1.0
    a, _ = views(h)
    with pytest.raises(RuntimeError, match="made by Split, which returns several views"):
        a += 1.0
    with pytest.raises(RuntimeError, match="made by Split, which returns several views"):
        a[0].mul_(2.0)            # a view of one too, as in PyTorch
    with tn.no_grad():            # outside the graph: written into h's memory
        a += 1.0
    assert h.tolist() == [[2.0, 3.0], [3.0, 4.0]]
    h[0] += x[1]                  # through x[0] += ... (a view, then an assignment): recorded
    h.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 1.0], [2.0, 2.0]])


def test_out_plus_equals_identity_trains_as_torch_over_sgd_steps():
    torch = pytest.importorskip("torch")
    from port_helpers import copy_weights

    def net(lib):
        L = lib.nn

        class Residual(L.Module):
            def __init__(self):
                super().__init__()
                self.fc1, self.fc2, self.head = L.Linear(6, 6), L.Linear(6, 6), L.Linear(6, 3)

            def forward(self, x):
                identity = x
                out = self.fc1(x)
                out.relu_()
                out = self.fc2(out)
                out += identity
                return self.head(L.functional.relu(out))
        return Residual()
    ours, theirs = net(tn), net(torch)
    copy_weights(torch, ours, theirs)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 6)).astype(np.float32), rng.integers(0, 3, 32)
    losses = []
    for lib, model in ((tn, ours), (torch, theirs)):
        opt = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        run = []
        for _ in range(6):
            loss = lib.nn.functional.cross_entropy(model(lib.tensor(x)), lib.tensor(y))
            opt.zero_grad()
            loss.backward()
            opt.step()
            run.append(loss.item())
        losses.append(run)
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    assert losses[0][-1] < losses[0][0] - 0.05
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].numpy(), v.detach().numpy(),
                                   rtol=1e-5, atol=1e-6, err_msg=k)


# an op's backward reads only some of its inputs' values (Function.uses_input_values), so a
# later in-place write to the others is fine, as in PyTorch
READ_ONLY_WHAT_IS_NEEDED = {
    "sigmoid's output, then h *= 2": lambda lib, x, w: _after(x, lambda h: h.sigmoid(),
                                                            lambda h: h.mul_(2.0)),
    "h * 3.0, then h += 1": lambda lib, x, w: _after(x, lambda h: h * 3.0,
                                                     lambda h: h.add_(1.0)),
    "h @ W (W constant), then h -= 1": lambda lib, x, w: _after(x, lambda h: h @ w,
                                                                lambda h: h.sub_(1.0)),
    "h / 2, then h += 1": lambda lib, x, w: _after(x, lambda h: h / 2.0,
                                                   lambda h: h.add_(1.0)),
    "softmax, then h /= 3": lambda lib, x, w: _after(x, lambda h: lib.softmax(h, 0),
                                                     lambda h: h.div_(3.0)),
    "timm's in-place swish x.mul_(x.sigmoid())": lambda lib, x, w: _swish(x),
}


def _after(x, op, write):
    """op(h) and then write(h) in place, h = x * 1.0 (a non-leaf); both in the result."""
    h = x * 1.0
    a = op(h)
    write(h)
    return a.sum() + (h * h).sum()


def _swish(x):
    h = x * 1.0
    return h.mul_(h.sigmoid())


@pytest.mark.parametrize("name", sorted(READ_ONLY_WHAT_IS_NEEDED))
def test_a_write_to_an_input_whose_value_backward_does_not_read_is_fine(name):
    torch = pytest.importorskip("torch")
    grads = []
    for lib in (tn, torch):
        x = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
        w = lib.tensor([[1.0, 2.0], [0.0, -1.0], [0.5, 3.0]])
        READ_ONLY_WHAT_IS_NEEDED[name](lib, x, w).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(*grads, rtol=1e-5, atol=1e-6)


def test_a_write_to_an_input_whose_value_backward_reads_still_raises():
    x = tn.tensor([0.5, -1.0, 2.0], requires_grad=True)
    w = tn.tensor([[1.0, 2.0], [0.0, -1.0], [0.5, 3.0]], requires_grad=True)
    for op in (lambda h: h * h, lambda h: h @ w, lambda h: h.tanh() * h):
        h = x * 1.0
        a = op(h)
        h += 1.0                     # dW = hᵀ g, d(h*h) = 2h g read the old h
        with pytest.raises(RuntimeError, match="modified by an in-place"):
            a.sum().backward()


def test_fill_takes_a_number_or_a_0d_tensor_only():
    x = tn.zeros(3)
    assert x.fill_(tn.tensor(2.0)).tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(ValueError, match=r"fill_: .*0-d tensor, got a tensor of shape \(1,\)"):
        x.fill_(tn.tensor([1.0]))
    w = tn.ones(1, requires_grad=True)
    with pytest.raises(ValueError, match="0-d"):
        (x * 1.0).fill_(w)            # inside the graph too, as torch
    assert x.tolist() == [2.0, 2.0, 2.0]
