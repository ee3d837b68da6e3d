"""tn.cuda: availability and memory statistics through CuPy's pool."""
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
