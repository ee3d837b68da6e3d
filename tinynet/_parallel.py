"""CPU threads owned by tinynet: one slice of an op's work per core.

NumPy runs each ufunc, copy and reduction on one core but releases the GIL
inside it, so an op can cut its rows into one slice per core and run the
slices on a small thread pool:

    parallel_slices(work, n)  ->  [work(slice(0, k)), work(slice(k, 2k)), ...]

The calling thread starts on the slices at once and pool threads claim the
rest as they wake up. Waking one costs 0.1-0.4 ms on a 2-core virtual
machine, and so does each later wait for the GIL, so only coarse work pays:
a few NumPy calls of a millisecond or more per slice. Used for the big
GEMMs (:func:`gemm`), attention's batch of small GEMMs,
GELU, cross-entropy, im2col copies and the optimizer step. Between such
calls the pool threads run *deferred* work: the weight gradients that
backward queues with :func:`deferred_gemm` (see "deferred work" below). Memory-bound
passes (ReLU, adds, BatchNorm, LayerNorm) stay on one thread: on two they
were measured no faster inside a training step, and BatchNorm slower
(its many short NumPy calls wait for each other's GIL).
``TINYNET_NUM_THREADS=1`` turns all of it off.

While these threads run, BLAS must stay on one thread (see
:class:`single_threaded_blas`); that needs the optional ``threadpoolctl``
(in the ``examples`` and ``dev`` extras). Without it, GEMMs go to BLAS's own
threads and attention runs as one slice.
"""
from __future__ import annotations

import collections
import itertools
import os
import queue
import threading

import numpy as np

_pool = None                 # the _Workers of this process
_local = threading.local()   # .inside: True on a pool thread while it runs a slice
_blas = False                # False: not looked up yet; None: threadpoolctl unavailable
_cores = 0                   # cores this process may run on; 0: not looked up yet


def _forget_cores():
    global _cores
    _cores = 0


if hasattr(os, "register_at_fork"):  # a forked child (a DataLoader worker) may be pinned elsewhere
    os.register_at_fork(after_in_child=_forget_cores)


def num_threads() -> int:
    """Threads an op may use: ``TINYNET_NUM_THREADS`` if set, else the cores this process may run on."""
    global _cores
    env = os.environ.get("TINYNET_NUM_THREADS")
    if env:
        return max(1, int(env))
    if not _cores:  # a system call (~3 us here), and ops ask many times a step
        try:
            _cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            _cores = os.cpu_count() or 1
    return _cores


class _Workers:
    """Persistent pool threads, each with its own inbox of :class:`_Call` s to help with.

    A queue put wakes a sleeping thread in 0.1-0.4 ms on a 2-core virtual
    machine (the OS wake-up of an idle virtual core); ``concurrent.futures``
    added ~0.1 ms more per call.
    """

    def __init__(self, n: int):
        self.pid = os.getpid()
        self.inboxes = [queue.SimpleQueue() for _ in range(n)]
        for i, box in enumerate(self.inboxes):
            threading.Thread(target=self._serve, args=(box,), name=f"tinynet-{i}",
                             daemon=True).start()

    @staticmethod
    def _serve(box):
        while True:
            call = box.get()
            if call is None:     # replaced by a bigger pool
                return
            if call is not _WAKE:
                call.run(on_pool=True)
            del call             # (it holds the op's closure, and with it the op, until then)
            while box.empty() and _run_deferred_piece():   # idle: deferred work, if any
                pass

    def close(self):
        for box in self.inboxes:
            box.put(None)


class _Call:
    """One :func:`parallel_slices` call: its slices go to whichever thread asks first.

    The calling thread starts on them at once and pool threads join as they
    wake up, so a pool thread that wakes late does not hold the caller up:
    when the caller has claimed every slice, it returns without waiting for
    it (the late thread then finds nothing left and goes back to sleep).
    """

    def __init__(self, work, slices):
        self.work, self.slices = work, slices
        self.claim = itertools.count().__next__   # one index per call, atomic under the GIL
        self.results = [None] * len(slices)
        self.errors = []                           # (slice index, exception)
        self.finished = queue.SimpleQueue()        # one token per slice run on a pool thread

    def run(self, on_pool: bool) -> int:
        """Claim and run slices until none is left; return how many this thread ran."""
        ran = 0
        while True:
            i = self.claim()
            if i >= len(self.slices):
                return ran
            try:
                self.results[i] = _run_inside(self.work, self.slices[i])
            except BaseException as e:  # re-raised by the caller once every slice is done
                self.errors.append((i, e))
            ran += 1
            if on_pool:
                self.finished.put(i)


def _get_workers(n):
    """The process's pool of at least ``n`` threads (a new one after fork: a child
    inherits no threads)."""
    global _pool
    if _pool is None or _pool.pid != os.getpid() or len(_pool.inboxes) < n:
        if _pool is not None and _pool.pid == os.getpid():
            _pool.close()
        _pool = _Workers(n)
    return _pool


def _blas_libs():
    """threadpoolctl's controllers of the loaded BLAS libraries ([] without threadpoolctl)."""
    global _blas
    if _blas is False:
        try:
            from threadpoolctl import ThreadpoolController
            _blas = ThreadpoolController().select(user_api="blas").lib_controllers
        except Exception:  # not installed, or no BLAS found
            _blas = None
    return _blas or []


class single_threaded_blas:
    """Context manager: BLAS runs on the calling thread only, restored on exit.

    tinynet splits its GEMMs across its own threads instead. This matters
    beyond the split itself: after each multithreaded call, OpenBLAS's idle
    workers busy-wait for ~0.1 s, taking a core from whatever runs next.
    On 2 cores, mixing the two made attention and GELU 1.5x slower inside a
    training step than alone, and split GEMMs run right after a
    multithreaded one 30-40% slower. So while tinynet's threads run, BLAS's
    stay asleep. Reentrant and safe to enter from several threads (the BLAS
    setting is process-wide, so the outermost exit restores it); a no-op
    without threadpoolctl.
    """

    _lock = threading.Lock()
    _depth = 0
    _saved: list = []

    def __enter__(self):
        cls = single_threaded_blas
        with cls._lock:
            if cls._depth == 0:
                libs = _blas_libs()
                cls._saved = [lib.get_num_threads() for lib in libs]
                for lib in libs:
                    lib.set_num_threads(1)
            cls._depth += 1
        return self

    def __exit__(self, *exc):
        cls = single_threaded_blas
        with cls._lock:
            cls._depth -= 1
            if cls._depth == 0:
                for lib, n in zip(_blas_libs(), cls._saved):
                    lib.set_num_threads(n)
        return False


def _run_inside(work, sl):
    _local.inside = True
    try:
        return work(sl)
    finally:
        _local.inside = False


def parallel_slices(work, n: int, min_size: int = 1, single_thread_blas: bool = False,
                    per_thread: int = 1, finer_when_busy: bool = True) -> list:
    """Call ``work(slice)`` on consecutive slices covering ``range(n)``; return the results in order.

    About ``per_thread`` slices per thread and at most ``n // min_size``, of
    equal length but for a shorter last one; a single slice runs as
    ``[work(slice(0, n))]`` on the calling thread. Threads claim slices as
    they become free (see :class:`_Call`), so which thread runs which slice,
    and how many, varies. ``work`` must only write to its own slice's part of
    any shared output. If a slice raises, every other slice still finishes
    before the exception (of the first failing slice) reaches the caller.

    While deferred work runs (see :func:`defer`), at least :data:`BUSY_SLICES`
    slices per thread, unless ``finer_when_busy`` is False (where the cuts
    change the result's rounding, as in a split GEMM, and runs must repeat bit
    for bit). A pool thread then joins late, when it finishes its
    piece, and with half the work per slice the caller would wait for it for
    up to half the call. (Inside a GPT or ResNet-18 backward that wait was
    ~30-40 ms a step; with 4 slices per thread ~10 ms, and the steps ran
    4-5% faster, although smaller GEMMs run a little slower.)
    """
    workers = min(num_threads(), n // max(min_size, 1))
    if workers < 2 or getattr(_local, "inside", False):
        return [work(slice(0, n))]
    if finer_when_busy and (_backlog or _running[0]):
        per_thread = max(per_thread, BUSY_SLICES)
    if single_thread_blas and not _blas_libs():
        return [work(slice(0, n))]   # threads x multithreaded BLAS would oversubscribe
    count = min(workers * max(per_thread, 1), n // max(min_size, 1))
    step = -(-n // count)
    call = _Call(work, [slice(i, min(i + step, n)) for i in range(0, n, step)])
    pool = _get_workers(workers - 1)

    def run_all():
        for box in pool.inboxes[:workers - 1]:
            box.put(call)
        mine = call.run(on_pool=False)
        for _ in range(len(call.slices) - mine):   # wait for slices still running elsewhere
            call.finished.get()
        if call.errors:
            raise min(call.errors, key=lambda e: e[0])[1]
        return call.results

    if not single_thread_blas:
        return run_all()
    with single_threaded_blas():
        return run_all()


def balanced_runs(sizes, min_size: int = 1) -> list:
    """Cut items of the given sizes into consecutive (lo, hi) index runs of about equal total.

    One run per thread at most, each holding at least ``min_size`` in total
    (so small jobs stay one run). Used to share a list of arrays (an
    optimizer's parameters) between threads.
    """
    total = sum(sizes)
    parts = max(1, min(num_threads(), len(sizes), total // max(min_size, 1)))
    runs, lo, acc = [], 0, 0
    for i, size in enumerate(sizes):
        acc += size
        if len(runs) < parts - 1 and acc >= total * (len(runs) + 1) / parts:
            runs.append((lo, i + 1))
            lo = i + 1
    runs.append((lo, len(sizes)))
    return [r for r in runs if r[0] < r[1]]


SPLIT_FROM = 1 << 24       # multiply-adds from which a GEMM is split across the cores
TWO_PIECES_FROM = 1 << 26  # ...and from which, inside backward, it takes two pieces a thread


class backward_pass:
    """Context manager around an autograd backward pass (``engine.run_backward``).

    Inside one, pool threads may be busy with deferred work when a GEMM is
    split, so the big GEMMs the pass's own thread calls take two pieces per
    thread (see :func:`gemm`). The count is per thread: the pieces depend only
    on where a GEMM is called from, never on timing or on other threads.
    """

    def __enter__(self):
        _local.backward_passes = getattr(_local, "backward_passes", 0) + 1
        return self

    def __exit__(self, *exc):
        _local.backward_passes -= 1
        return False


def gemm(a, b, bias=None, out=None):
    """a @ b (+ bias) for 2-D float arrays, rows or columns split across the cores.

    ``bias`` is a row vector (N,) or a column (M, 1), added to each piece while it is
    in cache. ``out``, if given, is the (M, N) array to write (its rows may lie further
    apart than N); otherwise a new one is returned.

    Products of ``2**24`` multiply-adds and more are split into pieces for
    the cores, each on single-threaded BLAS (see :class:`single_threaded_blas`
    for why BLAS's own threads must stay asleep while tinynet's run): along
    the longer of M and N, or along K when K dwarfs both (a
    weight gradient, (C·kh·kw, H·W·N) @ (H·W·N, O)), whose partial products
    are then added. Inside backward (:class:`backward_pass`), from
    :data:`TWO_PIECES_FROM` multiply-adds there are two pieces per core, so
    that a thread that joins late, from deferred work, holds the caller up for
    a quarter of the call instead of half (a GPT step 1.5% faster, a ResNet-18
    step 3%); smaller products ran 1-2% slower in four pieces (the MLP
    benchmark's). Outside backward no deferred work runs, pool threads join
    within ~0.1 ms, and one piece per core packs each operand half as often
    (GPT's forward 2-3 ms faster, 119.4 against 122.2 ms).
    Handing work to a pool thread costs 0.1-0.5 ms, so smaller products
    (under ~0.4 ms) run whole on the calling thread, also on single-threaded
    BLAS: even one multithreaded call leaves BLAS threads busy-waiting into
    tinynet's threaded work (a ResNet-18 step ran 1.3x slower when its small
    GEMMs were left to BLAS; an MLP step too, 8.3-9.6 ms against 6.9-7.0).
    Below ``2**18`` OpenBLAS stays on one thread by itself. Without
    threadpoolctl this is plain ``a @ b``.
    """
    M, K = a.shape
    N = b.shape[1]
    size = M * N * K
    if size < SPLIT_FROM or not _blas_libs() or getattr(_local, "inside", False):
        if size < 1 << 18 or not _blas_libs():
            out = np.matmul(a, b, out=out)
        else:
            with single_threaded_blas():
                out = np.matmul(a, b, out=out)
        if bias is not None:
            out += bias
        return out
    if K >= 4 * max(M, N):
        # a long contraction into a small result (a weight gradient): split K, add the parts
        with single_threaded_blas():
            # (as many parts whatever the timing: the sum's rounding depends on them)
            parts = parallel_slices(lambda sl: a[:, sl] @ b[sl], K, 32, finer_when_busy=False)
        if out is None:
            out = parts[0]
        else:
            out[...] = parts[0]
        for part in parts[1:]:
            out += part
        if bias is not None:
            out += bias
        return out
    if out is None:
        out = np.empty((M, N), np.result_type(a, b))
    column_bias = bias is not None and bias.ndim == 2

    def rows(sl):   # the bias is added to each piece while it is still in cache
        np.matmul(a[sl], b, out=out[sl])
        if bias is not None:
            out[sl] += bias[sl] if column_bias else bias

    def cols(sl):   # BLAS takes the strided out columns as they are
        np.matmul(a, b[:, sl], out=out[:, sl])
        if bias is not None:
            out[:, sl] += bias if column_bias else bias[sl]
    with single_threaded_blas():   # split the longer side
        # the same pieces whatever the timing: OpenBLAS's result for an element depends on
        # where the pieces are cut, and a seeded run must give the same numbers every time
        work, length = (cols, N) if N >= M else (rows, M)
        two = size >= TWO_PIECES_FROM and getattr(_local, "backward_passes", 0) > 0
        parallel_slices(work, length, 32, per_thread=2 if two else 1, finer_when_busy=False)
    return out


BLOCK = 1 << 18  # elements per cache block: 1 MB of float32
MIN_SLICE = 1 << 20  # elements of a memory-bound pass worth a thread handoff (~0.5 ms of work)


def blocks(sl: slice, row_size: int = 1):
    """Consecutive sub-slices of ``sl`` of about :data:`BLOCK` elements (rows of ``row_size``).

    Doing every pass of a memory-bound op on one cache-sized block before
    moving to the next reads main memory once instead of once per pass.
    Blocks much smaller than this cost more in per-call overhead (and in
    threads waiting for the GIL) than they save.
    """
    size = max(1, BLOCK // max(row_size, 1))
    for i in range(sl.start, sl.stop, size):
        yield slice(i, min(i + size, sl.stop))


def parallel_blocks(work, n: int, row_size: int, min_size: int, per_thread: int = 1) -> None:
    """``work(block)`` over cache-sized row blocks (:func:`blocks`) covering ``range(n)``,
    the blocks of each :func:`parallel_slices` slice run one after another."""
    def run(sl):
        for b in blocks(sl, row_size):
            work(b)
    parallel_slices(run, n, min_size=min_size, per_thread=per_thread)


# ---------------------------------------------------------------- deferred work
#
# A layer's weight gradient (dL/dW = gᵀ x) is not needed until backward ends,
# but the input gradient (dL/dx = g W) is, at once, by the layer below. So
# backward computes dL/dx on all cores, then queues dL/dW in pieces that pool
# threads run whenever they would otherwise wait: while the calling thread
# runs the one-thread passes (BatchNorm, ReLU, LayerNorm) of the layers below.
# The autograd engine waits for a pending gradient before it reads it
# (:func:`wait`) and for all of them before backward returns (:func:`drain`).
# Inside a GPT or ResNet-18 backward the pool thread then idles ~0 instead of
# ~20-30% of the time, and the steps ran 5-7% faster.

BUSY_SLICES = 4                   # slices per thread while deferred work runs
_running = [0]                   # deferred pieces running now (on any thread)
_running_lock = threading.Lock()
DEFERRED_PIECES = 2               # pieces per deferred GEMM (see deferred_gemm)
DEFERRED_PIECE_LOG2 = 28          # ...or more, of at most ~2**28 multiply-adds each
_WAKE = object()               # inbox token: deferred work was queued
_backlog = collections.deque()   # (_Deferred, piece) not started yet, oldest first
_pending: dict = {}              # id(output array) -> its _Deferred, until done
_failed: list = []               # finished _Deferreds whose error is not reported yet


class _Deferred:
    """The pieces of one deferred result; done when the last piece has run."""

    def __init__(self, out, count):
        self.out, self.count = out, count
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.error = None
        self.callbacks = []      # run (on the finishing thread) once done

    def then(self, fn) -> None:
        """Call ``fn()`` when the last piece has run (now, if it has)."""
        with self.lock:
            if self.count > 0:
                self.callbacks.append(fn)
                return
        fn()

    def piece_finished(self):
        with self.lock:
            self.count -= 1
            last = self.count == 0
        if last:
            _pending.pop(id(self.out), None)
            self.out = None      # no reference left behind (see autograd._private)
            for fn in self.callbacks:
                try:
                    fn()
                except BaseException as e:  # reported by wait() / drain(), as a piece's
                    self.error = self.error or e
            self.callbacks = None
            if self.error is not None:
                _failed.append(self)
            self.done.set()


def _run_deferred_piece() -> bool:
    """Run the oldest queued deferred piece on this thread; False when none is queued."""
    try:
        deferred, piece = _backlog.popleft()
    except IndexError:
        return False
    inside = getattr(_local, "inside", False)
    _local.inside = True
    with _running_lock:
        _running[0] += 1
    try:
        with single_threaded_blas():
            piece()
    except BaseException as e:  # reported by wait() / drain() on the calling thread
        deferred.error = e
    finally:
        with _running_lock:
            _running[0] -= 1
        _local.inside = inside
        del piece
        deferred.piece_finished()
    return True


def _can_defer() -> bool:
    return num_threads() >= 2 and bool(_blas_libs()) and not getattr(_local, "inside", False)


def defer(out, pieces) -> None:
    """Queue ``pieces`` (callables that each fill a part of ``out``) for idle pool threads.

    ``out`` is then pending (:func:`is_pending`, :func:`wait`) until the last
    piece has run. Run them here instead where there are no pool threads.
    """
    if not _can_defer():
        with single_threaded_blas():
            for piece in pieces:
                piece()
        return
    deferred = _Deferred(out, len(pieces))
    _pending[id(out)] = deferred
    _backlog.extend((deferred, p) for p in pieces)
    for box in _get_workers(num_threads() - 1).inboxes[:num_threads() - 1]:
        box.put(_WAKE)


def work_for(array):
    """The deferred work still writing ``array`` (or the array it views), else None.

    Its ``then(fn)`` calls ``fn()`` once that work is done (at once if it is).
    """
    return _pending.get(id(owner(array))) if _pending else None


def owner(a):
    """The array that owns ``a``'s memory (``a`` itself unless it is a view)."""
    while getattr(a, "base", None) is not None:
        a = a.base
    return a


def is_pending(array) -> bool:
    """Whether deferred work is still writing ``array`` (or the array it is a view of)."""
    return work_for(array) is not None


def wait(array) -> None:
    """Return once ``array`` is written: run queued pieces here until its work is done."""
    deferred = work_for(array)
    if deferred is None:
        return
    while not deferred.done.is_set():
        if not _run_deferred_piece():
            deferred.done.wait()
    if deferred.error is not None:
        if deferred in _failed:
            _failed.remove(deferred)
        raise deferred.error


def drain() -> None:
    """Finish all deferred work (helping with it on this thread); re-raise a piece's error."""
    while _run_deferred_piece():
        pass
    for deferred in list(_pending.values()):
        deferred.done.wait()
    if _failed:
        errors = [d.error for d in _failed]
        _failed.clear()
        raise errors[0]


def deferred_gemm(a, b):
    """a @ b for 2-D float arrays, computed later by idle pool threads (:func:`defer`).

    Returns the (M, N) output array at once, before it is written: read it only
    after :func:`wait`. Products under ``2**24`` multiply-adds are computed now.
    Bigger ones are cut into :data:`DEFERRED_PIECES` pieces along the longer of M
    and N, so that a thread busy with one is soon free for urgent work (more,
    smaller pieces made the GEMMs themselves 10-40% slower), and products over
    ``2**29`` into pieces of about ``2**28`` (~4 ms on one core; GPT-2's tied
    50257 x 768 head would otherwise hold a thread for 120 ms). When the contraction
    is over 16x N, each piece runs as (b[:, sl]ᵀ aᵀ)ᵀ, the orientation that
    OpenBLAS runs faster there (a convolution's weight gradient).
    """
    M, K = a.shape
    N = b.shape[1]
    if M * N * K < SPLIT_FROM or not _can_defer():
        return gemm(a, b)
    out = np.empty((M, N), np.result_type(a, b))
    flip = K > 16 * N
    along_rows = M >= N
    length = M if along_rows else N
    count = max(1, min(length // 32, max(min((M * N * K) >> 26, DEFERRED_PIECES),
                                         (M * N * K) >> DEFERRED_PIECE_LOG2)))
    step = -(-length // count)

    def piece(sl):
        if along_rows:
            if flip:
                out[sl] = (b.T @ a[sl].T).T
            else:
                np.matmul(a[sl], b, out=out[sl])
        elif flip:
            out[:, sl] = (b[:, sl].T @ a.T).T
        else:
            np.matmul(a, b[:, sl], out=out[:, sl])
    defer(out, [lambda sl=slice(i, min(i + step, length)): piece(sl)
                for i in range(0, length, step)])
    return out
