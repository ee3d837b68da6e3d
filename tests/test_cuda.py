"""tn.cuda: availability and memory statistics through CuPy's pool."""
import warnings

import numpy as np
import pytest

import tinynet as tn


def test_without_gpu_memory_calls_raise_clear_error():
    if tn.cuda.is_available():
        pytest.skip("a GPU is present")
    assert tn.cuda.device_count() == 0
    for fn in (tn.cuda.memory_allocated, tn.cuda.max_memory_allocated, tn.cuda.empty_cache):
        with pytest.raises(RuntimeError, match="CuPy|GPU"):
            fn()


def test_memory_stats_track_allocations():
    if not tn.cuda.is_available():
        pytest.skip("needs CuPy and a GPU")
    tn.cuda.reset_peak_memory_stats()
    before = tn.cuda.memory_allocated()
    x = tn.zeros(1024, 1024, device="cuda")  # 4 MiB
    assert tn.cuda.memory_allocated() >= before + 4 * 2**20
    peak = tn.cuda.max_memory_allocated()
    del x
    assert tn.cuda.max_memory_allocated() == peak >= before + 4 * 2**20
    tn.cuda.empty_cache()


# ------------------------------------------------ no host round trips in a training step


def _gpt_step():
    from tinynet.models.gpt import GPT, GPTConfig
    tn.manual_seed(0)
    cfg = GPTConfig(vocab_size=64, block_size=16, n_layer=2, n_head=2, n_embd=32, dropout=0.1)
    model = GPT(cfg).to("cuda")
    opt = model.configure_optimizers(weight_decay=0.1, learning_rate=1e-3)
    x = tn.randint(0, 64, (4, 16), device="cuda")
    y = tn.randint(0, 64, (4, 16), device="cuda")

    def step():
        opt.zero_grad()
        _, loss = model(x, y)
        loss.backward()
        opt.step()
        return loss
    return step


def _resnet_step():
    from tinynet.models.resnet import resnet18
    tn.manual_seed(0)
    model = resnet18(num_classes=10, cifar_stem=True).to("cuda")
    opt = tn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = tn.randn(2, 3, 16, 16, device="cuda")
    y = tn.randint(0, 10, (2,), device="cuda")

    def step():
        opt.zero_grad()
        loss = tn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


@pytest.mark.parametrize("make_step", [_gpt_step, _resnet_step], ids=["gpt", "resnet18"])
def test_training_step_makes_no_host_round_trip(make_step):
    """A whole GPT / ResNet training step (zero_grad, forward, backward, optimizer
    step) runs under ``cupyx.allow_synchronize(False)``, which raises on any CuPy
    call that waits for the device: a copy to the host, ``int()``/``bool()`` of
    a device array, a stream synchronize. Only the loss is read afterwards.

    (A CUDA-graph capture of the step would be a stricter check, but CuPy
    refuses cuBLAS calls during capture.)
    """
    if not tn.cuda.is_available():
        pytest.skip("needs CuPy and a GPU")
    cupyx = pytest.importorskip("cupyx")
    if not hasattr(cupyx, "allow_synchronize"):
        pytest.skip("this CuPy has no cupyx.allow_synchronize")
    step = make_step()
    step()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the API is marked experimental/deprecated
        with cupyx.allow_synchronize(False):
            loss = step()
    assert np.isfinite(loss.item())
