"""Array backends: NumPy for ``"cpu"``, CuPy for ``"cuda"``/``"cuda:N"``.

This is the only module that imports cupy, and it does so lazily, so tinynet
imports and runs on machines without CuPy or a GPU. Every op asks
:func:`get_array_module` for the array module of its inputs (``xp``) and writes
``xp.exp(x)`` instead of ``np.exp(x)``: that single seam is what lets the same
code run on both devices.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import sys

import numpy as np

_cupy = None           # the cupy module once imported
_default_device = "cpu"
_seed = 0
_cuda_seed = None      # set by cuda_manual_seed (until the next manual_seed): the GPUs' seed
_generators: dict[str, object] = {}   # device -> random Generator
_deterministic = False  # use_deterministic_algorithms' setting


def _import_cupy():
    """Import cupy on first use; raise one clear error saying what is missing."""
    global _cupy
    if _cupy is not None:
        return _cupy
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(
            "device 'cuda' needs CuPy, which is not installed: "
            "pip install 'tinynet[cuda]' (CuPy for CUDA 12)") from e
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # cupy present, driver or GPU absent
        raise RuntimeError(
            f"device 'cuda' needs an NVIDIA GPU: CuPy is installed but found none ({e})") from e
    if count == 0:
        raise RuntimeError("device 'cuda' needs an NVIDIA GPU: CuPy is installed but found none")
    _cupy = cupy
    return cupy


def cuda_is_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    try:
        _import_cupy()
        return True
    except RuntimeError:
        return False


def normalize_device(device) -> str:
    """Canonical device string: ``"cpu"`` or ``"cuda:N"``.

    Accepts ``None`` (the default device), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    """
    if device is None:
        return _default_device
    device = str(device)
    if device == "cpu":
        return "cpu"
    if device == "cuda":
        return "cuda:0"
    if device.startswith("cuda:") and device[5:].isdigit():
        return device
    raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'")


def set_default_device(device) -> None:
    """Device on which creation functions place new tensors when none is given."""
    global _default_device
    device = normalize_device(device)
    if device != "cpu":
        _import_cupy()
    _default_device = device


def get_default_device() -> str:
    """The current default device string."""
    return _default_device


def xp_for(device):
    """The array module (numpy or cupy) for a device string."""
    device = normalize_device(device)
    if device == "cpu":
        return np
    return _import_cupy()


def get_array_module(*arrays):
    """numpy or cupy, whichever owns the given arrays (numpy for plain scalars)."""
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


class device(str):
    """A device, as PyTorch's ``torch.device``: ``tn.device("cuda" if ok else "cpu")``,
    ``tn.device("cuda", 1)``, ``tn.device(0)`` (GPU 0).

    It *is* the canonical device string (``"cpu"``, ``"cuda:N"``), so it goes wherever
    a device string does and compares equal to one, with torch's ``.type`` (``"cpu"`` or
    ``"cuda"``) and ``.index`` (None on the CPU). ``Tensor.device`` is one. Unlike
    PyTorch, ``tn.device("cuda")`` is GPU 0 already (``"cuda:0"``, index 0).
    """

    __slots__ = ()

    def __new__(cls, type, index=None):
        if isinstance(type, int) and not isinstance(type, bool) and index is None:
            type, index = "cuda", type
        name = str(type) if index is None else f"{type}:{int(index)}"
        return super().__new__(cls, normalize_device(name))

    @property
    def type(self) -> str:
        return self.partition(":")[0]

    @property
    def index(self):
        return int(self[5:]) if self.startswith("cuda:") else None


_cpu = device("cpu")
_cuda_devices: dict[int, device] = {}


def device_of(array) -> device:
    """Device of a numpy or cupy array (a :class:`device`, hence a string)."""
    if isinstance(array, np.ndarray) or _cupy is None or not isinstance(array, _cupy.ndarray):
        return _cpu
    i = array.device.id
    if i not in _cuda_devices:
        _cuda_devices[i] = device(f"cuda:{i}")
    return _cuda_devices[i]


# ---------------------------------------------------------------- deferred GPU checks
#
# Checking an op's input on the GPU (an index out of range, say) needs the
# answer on the host, which would stall every step. As PyTorch's device-side
# asserts do, the check is queued instead, still on the device, and raised at
# the next read to the host (Tensor.item(), .numpy(), .tolist()) or
# tn.cuda.synchronize().

_pending_checks: list = []   # (device bool array: "input is bad", fn() -> exception)
_MAX_PENDING = 64            # past this many, check now (bounds the queue)


def check_later(bad, error) -> None:
    """Queue ``bad`` (a 0-d bool array on the GPU); if it is True at the next read
    to the host (or ``tn.cuda.synchronize()``), ``error()`` is raised. ``error``
    may read the offending values; it should hold no Tensor, or the autograd
    graph behind it stays alive while queued."""
    _pending_checks.append((bad, error))
    if len(_pending_checks) > _MAX_PENDING:
        raise_deferred_errors()


def raise_deferred_errors() -> None:
    """Run the queued GPU checks (see :func:`check_later`); raise the first that failed."""
    if not _pending_checks:
        return
    checks = _pending_checks[:]
    _pending_checks.clear()
    for bad, error in checks:
        if bool(bad):
            raise error()


def linalg_errors(xp):
    """Context manager under which a failed factorization (a singular matrix, one that is not
    positive-definite) raises ``numpy.linalg.LinAlgError`` on both backends.

    NumPy always raises. CuPy by default returns garbage silently and raises
    only inside ``cupyx.errstate(linalg="raise")``, which reads the solver's
    status back from the GPU (a synchronization, as in PyTorch's linalg ops).
    """
    if xp is np:
        return contextlib.nullcontext()
    import cupyx
    return cupyx.errstate(linalg="raise")


def to_device(array, device):
    """Copy ``array`` to ``device`` (no copy when it is already there)."""
    device = normalize_device(device)
    if device == "cpu":
        if _cupy is not None and isinstance(array, _cupy.ndarray):
            raise_deferred_errors()
            return _cupy.asnumpy(array)
        return np.asarray(array)
    cp = _import_cupy()
    with cp.cuda.Device(int(device[5:])):
        return cp.asarray(array)


def to_numpy(array) -> np.ndarray:
    """A numpy array of ``array``'s values (copying from the GPU if needed)."""
    return to_device(array, "cpu")


def manual_seed(seed: int) -> None:
    """Seed every backend's random generator so runs are reproducible.

    Each device gets its own generator derived from ``seed``; CPU runs are
    bit-reproducible after the same ``manual_seed``.
    """
    global _seed, _cuda_seed
    _seed, _cuda_seed = int(seed), None
    _generators.clear()
    np.random.seed(_seed % 2**32)  # for code that still uses the legacy global RNG
    if _cupy is not None:
        _cupy.random.seed(_seed % 2**32)


def cuda_manual_seed(seed: int) -> None:
    """Seed the GPU generators only; the CPU's stream goes on (PyTorch's
    ``torch.cuda.manual_seed`` and ``manual_seed_all``: here one seed serves every GPU, and
    ``manual_seed(s)`` then ``cuda_manual_seed(s)`` leaves the GPUs as ``manual_seed(s)``
    alone does). Without CuPy or a GPU there is nothing to seed, as in PyTorch."""
    global _cuda_seed
    _cuda_seed = int(seed)
    for device in [d for d in _generators if d != "cpu"]:
        del _generators[device]
    if _cupy is not None:
        _cupy.random.seed(_cuda_seed % 2**32)


def initial_seed() -> int:
    """The seed of the last :func:`manual_seed` (0 before any), as ``torch.initial_seed``.
    In a DataLoader worker it is that worker's seed, so the ``seed_worker`` function of
    PyTorch's reproducibility notes (``np.random.seed(tn.initial_seed() % 2**32)``) works."""
    return _seed


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """PyTorch's switch, kept as a setting (:func:`are_deterministic_algorithms_enabled`)
    that selects no other kernels: CPU runs are bit-reproducible after :func:`manual_seed`
    anyway, and the GPU kernels stay as they are (nothing raises for them either)."""
    global _deterministic
    _deterministic = bool(mode)


def are_deterministic_algorithms_enabled() -> bool:
    """The last :func:`use_deterministic_algorithms` setting (False by default)."""
    return _deterministic


def get_generator(device=None):
    """The random Generator of ``device`` (``numpy.random.Generator`` or cupy's)."""
    device = normalize_device(device)
    gen = _generators.get(device)
    if gen is None:
        seed = _seed if device == "cpu" or _cuda_seed is None else _cuda_seed
        gen = _generators[device] = new_generator(device, seed)
    return gen


def new_generator(device, seed: int):
    """A new random Generator on ``device`` seeded with ``seed`` (not made the device's own)."""
    device = normalize_device(device)
    if device == "cpu":
        return np.random.default_rng(seed)
    cp = _import_cupy()
    with cp.cuda.Device(int(device[5:])):
        return cp.random.default_rng(seed)


class Generator(np.random.Generator):
    """PyTorch's ``torch.Generator`` on the CPU: a ``numpy.random.Generator`` (PCG64), so it
    goes wherever tinynet takes a ``generator`` (``random_split``, ``DataLoader``, samplers,
    ``multinomial``, ``nn.init``), with torch's methods::

        g = tn.Generator().manual_seed(42)   # manual_seed returns the generator itself
        train, val = tn.utils.data.random_split(dataset, [0.8, 0.2], generator=g)

    Differences from PyTorch: CPU only (another ``device`` raises ValueError); the numbers
    drawn for a seed are NumPy's, not torch's; ``get_state``/``set_state`` take NumPy's
    bit-generator state (a dict), not a uint8 tensor.
    """

    default_seed = 67280421310721   # torch.Generator's seed before manual_seed

    def __init__(self, device="cpu"):
        if normalize_device(device) != "cpu":
            raise ValueError(f"Generator: only the CPU generator exists, got device {device!r} "
                             f"(GPU ops draw from tn.backend.get_generator('cuda'))")
        super().__init__(np.random.PCG64(self.default_seed))
        self.device = _cpu
        self._initial_seed = self.default_seed

    def manual_seed(self, seed: int) -> "Generator":
        """Restart the stream from ``seed`` (an int); returns ``self``."""
        self._initial_seed = int(seed)
        self.bit_generator.state = np.random.PCG64(self._initial_seed).state
        return self

    def seed(self) -> int:
        """Re-seed from fresh OS entropy; returns the new seed."""
        self.manual_seed(int(np.random.SeedSequence().entropy % 2**63))
        return self._initial_seed

    def initial_seed(self) -> int:
        """The seed the current stream started from."""
        return self._initial_seed

    def get_state(self) -> dict:
        """A snapshot of the stream (NumPy's bit-generator state)."""
        return self.bit_generator.state

    def set_state(self, state: dict) -> "Generator":
        """Continue from a :meth:`get_state` snapshot; returns ``self``."""
        self.bit_generator.state = state
        return self

    def __reduce__(self):
        # (NumPy's own would copy or pickle it back as a plain numpy Generator)
        return _restore_generator, (self._initial_seed, self.get_state())


def _restore_generator(initial_seed, state):
    gen = Generator().set_state(state)
    gen._initial_seed = initial_seed
    return gen


def generator_state(gen):
    """A snapshot of ``gen``'s state: NumPy's bit-generator state (a dict of Python values),
    or for a CuPy generator a copy, on its GPU, of the cuRAND states its bit generator
    draws from (CuPy offers no ``state`` to read back; the copy does not wait for the GPU)."""
    if isinstance(gen, np.random.Generator):
        return gen.bit_generator.state
    states = gen.bit_generator._state   # int8: the bytes of one cuRAND state per GPU thread
    with states.device:
        return states.copy()


def set_generator_state(gen, state) -> None:
    """Put a snapshot from :func:`generator_state` back into ``gen`` (a CuPy one in place:
    the generator keeps its memory; ``state`` may be a host copy)."""
    if isinstance(gen, np.random.Generator):
        gen.bit_generator.state = state
        return
    states = gen.bit_generator._state
    if states.shape != state.shape:
        raise ValueError(f"set_rng_state: a GPU generator state of {state.size} bytes for one "
                         f"of {states.size} (another GPU model: its thread count differs)")
    with states.device:
        states[...] = _cupy.asarray(state)


def get_rng_state() -> dict:
    """Picklable-free snapshot of the RNG state (for training checkpoints).

    Returns a dict: the seed, the CPU generator's state (plain Python values) and,
    for each GPU generator in use, its cuRAND states as an array on that GPU
    (``tn.io.save_training_state`` stores it as a tensor).
    """
    state = {"seed": _seed, "cpu": generator_state(get_generator("cpu"))}
    state.update((device, generator_state(gen)) for device, gen in _generators.items()
                 if device != "cpu")
    return state


def set_rng_state(state: dict) -> None:
    """Restore a snapshot from :func:`get_rng_state`. A GPU generator's state is restored
    where that GPU exists (from an array on any device); on a machine without it, it is
    not needed. A snapshot that has none re-seeds the GPU generators from the seed."""
    manual_seed(state["seed"])
    for device, saved in state.items():
        if device == "cpu" or device.startswith("cuda:") and int(device[5:]) < device_count():
            set_generator_state(get_generator(device), saved)


# ---------------------------------------------------------------- GPU memory (CuPy pool)

_peak_bytes = 0
_tracking = False


def _track_peak():
    """Route CuPy allocations through the default pool, recording the peak bytes in use."""
    global _tracking
    if _tracking:
        return
    cp = _import_cupy()
    pool = cp.get_default_memory_pool()

    def malloc(size):
        global _peak_bytes
        mem = pool.malloc(size)
        used = pool.used_bytes()
        if used > _peak_bytes:
            _peak_bytes = used
        return mem

    cp.cuda.set_allocator(malloc)
    _tracking = True


def memory_allocated() -> int:
    """Bytes currently held by tensors in CuPy's default memory pool."""
    cp = _import_cupy()
    _track_peak()
    return int(cp.get_default_memory_pool().used_bytes())


def max_memory_allocated() -> int:
    """Peak bytes in use since the first memory call or the last reset."""
    _track_peak()
    return max(_peak_bytes, memory_allocated())


def reset_peak_memory_stats() -> None:
    """Start peak tracking afresh from the current usage."""
    global _peak_bytes
    _track_peak()
    _peak_bytes = memory_allocated()


def empty_cache() -> None:
    """Return the pool's unused cached blocks to the GPU driver."""
    _import_cupy().get_default_memory_pool().free_all_blocks()


def synchronize() -> None:
    """Wait for all queued GPU work (for honest timings); raise any deferred GPU check."""
    _import_cupy().cuda.Device().synchronize()
    raise_deferred_errors()


def device_count() -> int:
    """Number of visible GPUs (0 without CuPy or a GPU)."""
    try:
        return int(_import_cupy().cuda.runtime.getDeviceCount())
    except RuntimeError:
        return 0


# ---------------------------------------------------------------- host allocator

def _tune_host_allocator() -> bool:
    """Keep freed activation buffers in the process instead of returning them to the OS.

    glibc serves large blocks (over 128 KiB, adaptively more) with mmap and
    gives them back on free, so every step's fresh activations and gradients
    are page-faulted in and zeroed by the kernel again: for a 4 MB array that
    costs more than the arithmetic on it (measured in benchmarks/bench_ops.py:
    a 1M-element mul forward+backward takes ~10 ms instead of ~1.3 ms). PyTorch
    avoids the same cost with its caching allocators. Here glibc is told to
    serve blocks up to 32 MiB from its heap and not to trim the heap, so
    freed buffers are reused. Glibc Linux only; set TINYNET_TUNE_MALLOC=0 to
    leave the allocator alone. Returns whether the settings were applied.
    """
    if os.environ.get("TINYNET_TUNE_MALLOC", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
    ok = mallopt(M_MMAP_THRESHOLD, 32 * 2**20)      # the largest value glibc accepts
    ok &= mallopt(M_TRIM_THRESHOLD, 2**30)
    ok &= mallopt(M_TOP_PAD, 64 * 2**20)
    return bool(ok)


host_allocator_tuned = _tune_host_allocator()
