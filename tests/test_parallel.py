"""The CPU thread helpers: slices cover the range in order, split GEMMs equal whole ones."""
import os
import threading
import time

import numpy as np
import pytest

from tinynet import _parallel as P


@pytest.mark.parametrize("n, threads, min_size", [(0, 2, 1), (1, 2, 1), (7, 2, 1), (7, 3, 1),
                                                  (100, 4, 30), (100, 2, 60)])
def test_slices_cover_the_range_in_order(monkeypatch, n, threads, min_size):
    monkeypatch.setenv("TINYNET_NUM_THREADS", str(threads))
    got = P.parallel_slices(lambda sl: list(range(n))[sl], n, min_size=min_size)
    assert [i for part in got for i in part] == list(range(n))
    assert len(got) <= max(1, min(threads, n // min_size))
    assert all(len(part) >= min(min_size, n) for part in got)


def test_slices_run_on_several_threads_and_not_nested(monkeypatch):
    monkeypatch.setenv("TINYNET_NUM_THREADS", "2")
    seen = []

    def work(sl):
        inner = P.parallel_slices(lambda s: threading.get_ident(), 10)  # nested: one slice
        seen.append((threading.get_ident(), inner))
        time.sleep(0.05)   # long enough for the pool thread to wake and claim the other slice
        return sl

    P.parallel_slices(work, 10)
    assert len({t for t, _ in seen}) == 2
    assert all(len(inner) == 1 for _, inner in seen)


def test_one_thread_runs_inline(monkeypatch):
    monkeypatch.setenv("TINYNET_NUM_THREADS", "1")
    main = threading.get_ident()
    assert P.parallel_slices(lambda sl: threading.get_ident(), 1000) == [main]


def test_worker_exceptions_reach_the_caller(monkeypatch):
    monkeypatch.setenv("TINYNET_NUM_THREADS", "2")

    def work(sl):
        if sl.start > 0:
            raise ValueError("boom in the second slice")
        return sl
    with pytest.raises(ValueError, match="second slice"):
        P.parallel_slices(work, 10)


# above 2**26 multiply-adds gemm splits rows (M > N), columns, or K (K >= 4 max(M, N))
@pytest.mark.parametrize("shape", [(3, 5, 4), (1024, 300, 300), (300, 300, 1024), (0, 5, 4),
                                   (27, 100000, 32), (64, 9000, 300),
                                   (1000, 64, 700)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_split_gemm_equals_numpy(shape, dtype):
    M, K, N = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    eps = np.finfo(dtype).eps * max(K, 1) ** 0.5 * 10     # rounding grows like sqrt(K)
    for aa, bb in ((a, b), (np.asfortranarray(a), b), (a, np.asfortranarray(b)),
                   (np.ascontiguousarray(a.T).T, np.ascontiguousarray(b.T).T)):
        got = P.gemm(aa, bb)
        assert got.dtype == dtype and got.shape == (M, N)
        np.testing.assert_allclose(got, exact, rtol=0, atol=eps * max(K, 1) ** 0.5)


def test_single_threaded_blas_restores_the_thread_count():
    libs = P._blas_libs()
    if not libs:
        pytest.skip("threadpoolctl is not installed")
    before = [lib.get_num_threads() for lib in libs]
    with P.single_threaded_blas():
        with P.single_threaded_blas():
            assert all(lib.get_num_threads() == 1 for lib in libs)
        assert all(lib.get_num_threads() == 1 for lib in libs)
    assert [lib.get_num_threads() for lib in libs] == before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_pool_works_in_a_forked_child(monkeypatch):
    """A child process inherits no threads: it must make its own pool, not hang."""
    monkeypatch.setenv("TINYNET_NUM_THREADS", "2")
    P.parallel_slices(lambda sl: sl, 10)     # the parent's pool exists now
    pid = os.fork()
    if pid == 0:
        try:
            ok = [x for p in P.parallel_slices(lambda sl: list(range(10))[sl], 10) for x in p]
            os._exit(0 if ok == list(range(10)) else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("sizes", [[5], [1, 1, 1, 1], [100, 1, 1, 1], [1, 1, 1, 100], [3, 3, 3, 3, 3],
                                   [0, 0], []])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_balanced_runs_partition_the_items(monkeypatch, sizes, threads):
    monkeypatch.setenv("TINYNET_NUM_THREADS", str(threads))
    runs = P.balanced_runs(sizes)
    covered = [i for lo, hi in runs for i in range(lo, hi)]
    assert covered == list(range(len(sizes)))
    assert all(lo < hi for lo, hi in runs)
    assert len(runs) <= max(1, threads)


def test_balanced_runs_balance_the_totals(monkeypatch):
    monkeypatch.setenv("TINYNET_NUM_THREADS", "2")
    runs = P.balanced_runs([10] * 10)
    assert [sum(10 for _ in range(lo, hi)) for lo, hi in runs] == [50, 50]
    assert P.balanced_runs([10] * 10, min_size=60) == [(0, 10)]   # too small to split


@pytest.mark.parametrize("shape", [(3, 5, 4), (1024, 300, 300), (300, 300, 1024), (27, 100000, 32)])
def test_split_gemm_adds_the_bias(shape):
    M, K, N = shape
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((M, K)), rng.standard_normal((K, N))
    bias = rng.standard_normal(N)
    np.testing.assert_allclose(P.gemm(a, b, bias), a @ b + bias, rtol=1e-12, atol=1e-10)


def test_a_failing_slice_waits_for_the_others(monkeypatch):
    """When one slice raises, no other slice may still be writing after the caller sees it."""
    monkeypatch.setenv("TINYNET_NUM_THREADS", "4")
    out = np.zeros(4)

    def work(sl):
        if sl.start == 0:
            raise RuntimeError("first slice fails")
        time.sleep(0.2)
        out[sl] = 1
    with pytest.raises(RuntimeError, match="first slice"):
        P.parallel_slices(work, 4)
    assert out.tolist() == [0, 1, 1, 1]


@pytest.fixture
def slice_counts(monkeypatch):
    """The ``n`` of every parallel_slices call made while the test runs (skips without
    threadpoolctl: then GEMMs never split)."""
    if not P._blas_libs():
        pytest.skip("threadpoolctl is not installed: GEMMs never split")
    seen = []
    real = P.parallel_slices

    def spy(work, n, *args, **kwargs):
        seen.append(n)
        return real(work, n, *args, **kwargs)
    monkeypatch.setattr(P, "parallel_slices", spy)
    return seen


def test_gemm_shapes_in_the_tests_take_every_split(monkeypatch, slice_counts):
    """The shapes above do reach the row, column and K splits (not only the whole-product path)."""
    monkeypatch.setenv("TINYNET_NUM_THREADS", "2")
    for M, K, N in [(1024, 300, 300), (300, 300, 1024), (27, 100000, 32)]:
        P.gemm(np.ones((M, K), np.float32), np.ones((K, N), np.float32))
    assert slice_counts == [1024, 1024, 100000]


def test_a_late_pool_thread_does_not_hold_up_the_caller(busy_pool):
    """Slices go to whichever thread is free: when the pool thread is busy, the caller runs
    every slice itself and returns without waiting for it."""
    main = threading.get_ident()
    ran = P.parallel_slices(lambda sl: (threading.get_ident(), sl), 8, per_thread=4)
    assert [sl for _, sl in ran] == [slice(i, i + 1) for i in range(8)]
    assert {t for t, _ in ran} == {main}


@pytest.mark.parametrize("per_thread", [1, 3, 4])
def test_per_thread_cuts_more_slices(monkeypatch, per_thread):
    monkeypatch.setenv("TINYNET_NUM_THREADS", "2")
    got = P.parallel_slices(lambda sl: sl, 100, per_thread=per_thread)
    assert len(got) == 2 * per_thread
    assert [i for sl in got for i in range(sl.start, sl.stop)] == list(range(100))


# ---------------------------------------------------------------- deferred work


@pytest.mark.parametrize("threads", ["1", "2", "4"])
@pytest.mark.parametrize("M, K, N", [(3, 5, 4), (768, 2048, 256), (256, 2048, 1024),
                                     (64, 16384, 576),     # a conv's dW: computed flipped
                                     (4608, 256, 512), (0, 5, 4)])
def test_deferred_gemm_equals_the_product(monkeypatch, threads, M, K, N):
    monkeypatch.setenv("TINYNET_NUM_THREADS", threads)
    rng = np.random.default_rng(4)
    a = rng.standard_normal((K, M)).astype(np.float32).T    # transposed, like gᵀ
    b = rng.standard_normal((K, N)).astype(np.float32)
    c = P.deferred_gemm(a, b)
    P.drain()
    assert not P.is_pending(c) and c.dtype == np.float32 and c.shape == (M, N)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c, exact, rtol=0, atol=1e-5 * K)


def test_deferred_work_is_pending_until_waited_for(busy_pool):
    a, b = np.ones((768, 2048), np.float32), np.ones((2048, 256), np.float32)
    c = P.deferred_gemm(a, b)
    finished = []
    P.work_for(c).then(lambda: finished.append(True))
    assert P.is_pending(c) and P.is_pending(c[:10].T) and not finished
    P.wait(c[5:])                                 # a view waits for its array
    assert not P.is_pending(c) and finished == [True] and P.work_for(c) is None
    np.testing.assert_array_equal(c, np.full((768, 256), 2048.0, np.float32))


def test_a_failing_deferred_piece_reaches_drain(busy_pool):
    out = np.empty(4)

    def piece():
        raise ValueError("boom in a deferred piece")
    P.defer(out, [piece])
    with pytest.raises(ValueError, match="deferred piece"):
        P.drain()
    assert not P.is_pending(out)


def test_slices_are_cut_finer_while_deferred_work_runs(monkeypatch):
    """A pool thread inside a deferred piece joins a call late: the caller then cuts
    BUSY_SLICES slices per thread (and here runs them all, the pool thread being busy)."""
    if not P._blas_libs():
        pytest.skip("threadpoolctl is not installed: nothing is deferred")
    monkeypatch.setenv("TINYNET_NUM_THREADS", "2")
    started, release = threading.Event(), threading.Event()

    def piece():
        started.set()
        release.wait(10)
    P.defer(np.empty(1), [piece])
    assert started.wait(10)
    try:
        main = threading.get_ident()
        ran = P.parallel_slices(lambda sl: (threading.get_ident(), sl), 100)
        assert len(ran) == 2 * P.BUSY_SLICES and {t for t, _ in ran} == {main}
        # a split contraction keeps its parts (and so its rounding) whatever the timing
        assert len(P.parallel_slices(lambda sl: sl, 100, finer_when_busy=False)) == 2
    finally:
        release.set()
        P.drain()
    assert len(P.parallel_slices(lambda sl: sl, 100)) == 2
