"""Mixed precision: autocast casting rules, master-weight gradients, GradScaler.

On a GPU (``--backend=cupy``) autocast runs on CUDA; on the CPU the same logic
runs with ``device_type="cpu"`` (float16 on NumPy: correct, just slow).
"""
import numpy as np
import pytest

import tinynet as tn
import tinynet.functional as F


@pytest.fixture
def device_type(device):
    return device.split(":")[0]


class _FakeOptimizer:
    def __init__(self, params):
        self.param_groups = [{"params": list(params)}]
        self.steps = 0

    def step(self):
        self.steps += 1


def test_autocast_casts_gemm_ops_down_and_softmax_up(device_type):
    w = tn.randn(8, 4, requires_grad=True)
    x = tn.randn(5, 4)
    with tn.amp.autocast(device_type):
        h = F.linear(x, w)
        assert h.dtype == tn.float16
        assert tn.matmul(x, w.T).dtype == tn.float16
        assert F.log_softmax(h, 1).dtype == tn.float32
        assert (h + tn.ones(5, 8)).dtype == tn.float32  # mixed floats promote under autocast
    assert F.linear(x, w).dtype == tn.float32           # and nothing changes outside it


def test_autocast_gradients_reach_float32_master_weights(device_type):
    tn.manual_seed(0)
    w = tn.randn(8, 4, requires_grad=True)
    b = tn.zeros(8, requires_grad=True)
    x, y = tn.randn(16, 4), tn.randint(0, 8, (16,))
    with tn.amp.autocast(device_type):
        loss = F.log_softmax(F.linear(x, w, b), 1)[tn.arange(16), y].mean()
    loss.backward()
    assert w.grad.dtype == tn.float32 and b.grad.dtype == tn.float32
    g16 = w.grad.numpy().copy()
    w.grad = b.grad = None
    F.log_softmax(F.linear(x, w, b), 1)[tn.arange(16), y].mean().backward()
    np.testing.assert_allclose(g16, w.grad.numpy(), rtol=2e-2, atol=2e-3)  # float16 precision


def test_autocast_cuda_without_gpu_is_a_clear_error():
    if tn.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="CuPy|GPU"):
        with tn.amp.autocast("cuda"):
            pass


def test_grad_scaler_unscales_and_steps():
    w = tn.randn(3, requires_grad=True)
    opt = _FakeOptimizer([w])
    scaler = tn.amp.GradScaler(init_scale=256.0, growth_interval=2)
    scaler.scale((w * 2.0).sum()).backward()
    np.testing.assert_allclose(w.grad.numpy(), 512.0)
    scaler.step(opt)
    np.testing.assert_allclose(w.grad.numpy(), 2.0)   # unscaled before the step
    assert opt.steps == 1
    scaler.update()
    assert scaler.get_scale() == 256.0
    w.grad = None
    scaler.scale((w * 2.0).sum()).backward()
    scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 512.0                 # grown after growth_interval clean steps


def test_torch_cuda_amp_spellings_are_the_cuda_amp():
    # nanoGPT: scaler = torch.cuda.amp.GradScaler(enabled=(dtype == 'float16'))
    from tinynet.cuda.amp import GradScaler, autocast
    assert GradScaler is tn.cuda.amp.GradScaler and issubclass(GradScaler, tn.amp.GradScaler)
    off = tn.cuda.amp.GradScaler(enabled=(tn.float32 == 'float16'))
    assert off.device == "cuda" and not off.enabled
    assert GradScaler(2.0**12).get_scale() == 4096.0   # init_scale first, as in torch.cuda.amp
    w = tn.ones(2, requires_grad=True)
    loss = (w * 3.0).sum()
    assert off.scale(loss) is loss                    # disabled: the loss as it is
    ac = autocast(enabled=False, dtype=tn.float16, cache_enabled=True)
    assert ac.device_type == "cuda" and not ac.enabled
    with ac:
        assert (w @ w).dtype == tn.float32


def test_grad_scaler_skips_overflowed_step_and_backs_off():
    w = tn.randn(3, requires_grad=True)
    opt = _FakeOptimizer([w])
    scaler = tn.amp.GradScaler(init_scale=1024.0)
    scaler.scale((w * 2.0).sum()).backward()
    w.grad.data[1] = np.inf
    assert scaler.step(opt) is None
    assert opt.steps == 0
    scaler.update()
    assert scaler.get_scale() == 512.0
    with pytest.raises(RuntimeError, match="already"):
        scaler.unscale_(opt)
        scaler.unscale_(opt)


def test_grad_scaler_update_without_a_step_raises_instead_of_growing_the_scale():
    w = tn.randn(3, requires_grad=True)
    opt = _FakeOptimizer([w])
    scaler = tn.amp.GradScaler(init_scale=1024.0, growth_interval=1)
    scaler.scale((w * 2.0).sum()).backward()
    with pytest.raises(RuntimeError, match="GradScaler.update: no step.*once per step"):
        scaler.update()                  # e.g. once per micro-batch of gradient accumulation
    assert scaler.get_scale() == 1024.0
    scaler.unscale_(opt)
    scaler.update()                      # an inf check was recorded: as in torch
    assert scaler.get_scale() == 2048.0
    scaler.update(new_scale=8.0)         # an explicit scale needs no check
    assert scaler.get_scale() == 8.0


def test_grad_scaler_state_dict_round_trip():
    a = tn.amp.GradScaler(init_scale=8.0, growth_interval=3)
    a._growth_tracker = 2
    b = tn.amp.GradScaler()
    b.load_state_dict(a.state_dict())
    assert b.get_scale() == 8.0 and b._growth_tracker == 2 and b.growth_interval == 3


def test_autocast_keeps_losses_and_norms_in_float32_through_a_gpt(device_type):
    from tinynet.models import GPT, GPTConfig
    tn.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=32, block_size=8, n_layer=1, n_head=2, n_embd=16))
    idx = tn.randint(0, 32, (2, 8))
    with tn.amp.autocast(device_type):
        logits, loss = model(idx, targets=idx)
        assert F.layer_norm(tn.randn(2, 16).to(dtype=tn.float16), (16,)).dtype == tn.float32
    assert loss.dtype == tn.float32 and np.isfinite(loss.item())
    loss.backward()
    assert all(p.grad is not None and p.grad.dtype == tn.float32 for p in model.parameters())


def test_autocast_is_per_thread_and_one_object_may_be_shared(device_type):
    # PyTorch's rule: an autocast block in one thread leaves another thread's ops alone
    import threading
    w = tn.randn(3, 3)
    inside, release, seen = threading.Event(), threading.Event(), {}
    shared = tn.autocast(device_type)

    def half_precision():
        with shared:
            inside.set()
            seen["worker"] = (w @ w).dtype
            release.wait(10)
        seen["after"] = tn.amp.is_autocast_enabled()

    worker = threading.Thread(target=half_precision)
    worker.start()
    assert inside.wait(10)
    try:
        assert not tn.amp.is_autocast_enabled() and (w @ w).dtype == tn.float32
        with shared:                               # the same object, entered here too
            assert (w @ w).dtype == tn.float16
    finally:
        release.set()
        worker.join()
    assert seen == {"worker": tn.float16, "after": False}
    assert not tn.amp.is_autocast_enabled()


def test_grad_scaler_scales_a_float16_loss_in_float32_as_torch():
    # 65536 x 1.5 overflows float16 (max 65504); torch's float32 scale tensor promotes a 0-d
    # loss to float32, so the scaled loss is finite there, and here
    scaled = tn.amp.GradScaler("cpu").scale(tn.tensor(1.5, dtype=tn.float16))
    assert scaled.dtype == tn.float32 and scaled.item() == 98304.0
    assert tn.amp.GradScaler("cpu").scale([tn.tensor(2.0, dtype=tn.float16)])[0].item() == 131072
    big = tn.amp.GradScaler("cpu").scale(tn.ones(2, dtype=tn.float16))
    assert big.dtype == tn.float16        # not 0-d: stays float16 (and inf), as in torch
