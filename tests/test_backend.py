"""tinynet.backend: devices, the one NumPy/CuPy seam, the CuPy-missing error and seeding."""
import copy
import sys
import types

import numpy as np
import pytest

import tinynet as tn
from tinynet import backend


@pytest.mark.parametrize("given, want", [("cpu", "cpu"), ("cuda", "cuda:0"), ("cuda:0", "cuda:0"),
                                         ("cuda:3", "cuda:3")])
def test_normalize_device(given, want):
    assert backend.normalize_device(given) == want


def test_normalize_device_none_is_the_default():
    assert backend.normalize_device(None) == backend.get_default_device()


@pytest.mark.parametrize("bad", ["gpu", "cuda:", "cuda:x", "cuda:-1", "CPU", "cpu:0"])
def test_normalize_device_rejects_unknown_names(bad):
    with pytest.raises(ValueError, match="unknown device"):
        backend.normalize_device(bad)


def test_device_is_torch_device_shaped_and_a_device_string():
    # device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    d = tn.device("cuda" if tn.cuda.is_available() else "cpu")
    assert isinstance(d, str) and tn.zeros(2, device=d).to(d).device == d
    cpu = tn.device("cpu")
    assert cpu == "cpu" and cpu.type == "cpu" and cpu.index is None and str(cpu) == "cpu"
    for gpu in (tn.device("cuda", 1), tn.device("cuda:1"), tn.device(1)):
        assert gpu == "cuda:1" and gpu.type == "cuda" and gpu.index == 1
    assert tn.device("cuda") == "cuda:0" and tn.device(tn.device("cpu")) == "cpu"
    t = tn.ones(1, device="cpu")
    assert t.device.type == "cpu" and t.device == "cpu" and {t.device: 1}["cpu"] == 1
    with pytest.raises(ValueError, match="unknown device"):
        tn.device("gpu")


@pytest.fixture
def no_cupy(monkeypatch):
    """Pretend CuPy is not installed (None in sys.modules makes `import cupy` fail)."""
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setitem(sys.modules, "cupy", None)


@pytest.mark.cpu_only
def test_cuda_without_cupy_says_cupy_is_missing(no_cupy):
    for call in (lambda: backend.xp_for("cuda"), lambda: tn.zeros(2, device="cuda"),
                 lambda: tn.ones(2).to("cuda"), lambda: tn.tensor([1.0], device="cuda:0"),
                 lambda: backend.set_default_device("cuda")):
        with pytest.raises(RuntimeError, match="CuPy, which is not installed"):
            call()
    assert not tn.cuda_is_available()
    assert backend.get_default_device() == "cpu"


def _fake_cupy(device_count=None, error=None):
    def count():
        if error:
            raise error
        return device_count
    cupy = types.ModuleType("cupy")
    cupy.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=count))
    return cupy


@pytest.mark.cpu_only
@pytest.mark.parametrize("fake", [_fake_cupy(error=RuntimeError("no CUDA driver")),
                                  _fake_cupy(device_count=0)])
def test_cuda_with_cupy_but_no_gpu_says_the_gpu_is_missing(monkeypatch, fake):
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(RuntimeError, match="needs an NVIDIA GPU"):
        backend.xp_for("cuda")
    assert not tn.cuda_is_available()
    assert backend._cupy is None


def test_get_array_module_and_cpu_helpers():
    a = np.ones(2)
    assert backend.get_array_module(a) is np
    assert backend.get_array_module(1.0, a) is np
    assert backend.get_array_module() is np
    assert backend.xp_for("cpu") is np
    assert backend.device_of(a) == "cpu"
    assert backend.to_numpy(a) is a
    assert backend.to_device(a, "cpu") is a
    assert backend.to_numpy([1, 2]).tolist() == [1, 2]


def test_tensor_data_module_matches_its_device(device):
    x = tn.ones(2, device=device)
    xp = backend.get_array_module(x.data)
    assert xp is backend.xp_for(device)
    assert backend.device_of(x.data) == backend.normalize_device(device)
    assert isinstance(backend.to_numpy(x.data), np.ndarray)


@pytest.mark.parametrize("make", [lambda: tn.randn(3, 4), lambda: tn.rand(5),
                                  lambda: tn.randint(0, 100, (6,)), lambda: tn.randperm(7),
                                  lambda: tn.randn(2, 2, dtype=tn.float64)])
def test_manual_seed_makes_random_tensors_bit_reproducible(make):
    tn.manual_seed(123)
    a, a2 = make().numpy(), make().numpy()
    tn.manual_seed(123)
    b, b2 = make().numpy(), make().numpy()
    assert a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a, a2)  # the stream moves on
    tn.manual_seed(124)
    assert not np.array_equal(make().numpy(), a)


def test_manual_seed_also_seeds_legacy_numpy_rng():
    tn.manual_seed(5)
    a = np.random.rand(3)
    tn.manual_seed(5)
    np.testing.assert_array_equal(np.random.rand(3), a)


def test_rng_state_round_trip():
    tn.manual_seed(7)
    tn.randn(3)
    state = tn.get_rng_state()
    a = tn.randn(4).numpy()
    tn.randn(10)
    tn.set_rng_state(state)
    np.testing.assert_array_equal(tn.randn(4).numpy(), a)


def test_rng_state_of_another_gpu_is_refused_or_not_needed():
    """A GPU generator's saved cuRAND states go back only into a GPU with as many threads;
    on a machine without that GPU they are not needed and are passed over."""
    tn.manual_seed(3)
    tn.randn(2, device="cpu")
    state = dict(tn.get_rng_state(), **{"cuda:0": np.zeros(8, np.int8)})
    a = tn.randn(3, device="cpu").numpy()
    if tn.cuda_is_available():
        with pytest.raises(ValueError, match="another GPU model"):
            tn.set_rng_state(state)
    else:
        tn.set_rng_state(state)
        np.testing.assert_array_equal(tn.randn(3, device="cpu").numpy(), a)


def test_get_generator_is_a_numpy_generator_for_cpu():
    assert isinstance(backend.get_generator("cpu"), np.random.Generator)


def test_torch_style_generator_seeds_random_split_and_the_data_loader():
    # torch: random_split(ds, [n - k, k], generator=torch.Generator().manual_seed(42))
    g = tn.Generator()
    assert isinstance(g, np.random.Generator) and g.device == "cpu"
    assert g.initial_seed() == tn.Generator.default_seed
    assert g.manual_seed(42) is g and g.initial_seed() == 42
    split, again = ([p.indices.tolist() for p in tn.utils.data.random_split(
        range(10), [7, 3], generator=tn.Generator().manual_seed(42))] for _ in range(2))
    assert split == again and sorted(split[0] + split[1]) == list(range(10))
    loader = tn.utils.data.DataLoader(list(range(8)), batch_size=8, shuffle=True,
                                      generator=tn.Generator().manual_seed(1))
    order = next(iter(loader)).tolist()
    assert sorted(order) == list(range(8))
    state = g.get_state()
    a = g.permutation(6).tolist()
    assert g.set_state(state) is g and g.permutation(6).tolist() == a
    c = copy.deepcopy(g)          # a copy stays a tn.Generator, at the same point
    assert type(c) is tn.Generator and c.initial_seed() == 42
    assert c.permutation(6).tolist() == g.permutation(6).tolist()
    assert g.seed() == g.initial_seed() != 42
    with pytest.raises(ValueError, match="only the CPU generator"):
        tn.Generator(device="cuda")


class _WorkerSeeds(tn.data.Dataset):
    """Item i: (the worker's seed, tn.initial_seed() there, a draw of numpy's legacy RNG)."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return tn.data.get_worker_info().seed, tn.initial_seed(), np.random.randint(2**31)


def _seed_worker(worker_id):
    worker_seed = tn.initial_seed() % 2**32
    np.random.seed(worker_seed)


def test_the_reproducibility_notes_seeding_lines_run():
    # random.seed(s); np.random.seed(s); torch.manual_seed(s); torch.cuda.manual_seed_all(s)
    # torch.backends.cudnn.deterministic = True; torch.use_deterministic_algorithms(True)
    tn.manual_seed(123)
    assert tn.initial_seed() == 123
    a = tn.randn(5)
    tn.manual_seed(123)
    tn.cuda.manual_seed_all(123)
    tn.cuda.manual_seed(7)         # the GPUs only: the CPU stream is untouched
    assert tn.equal(tn.randn(5), a) and tn.initial_seed() == 123
    assert not tn.are_deterministic_algorithms_enabled()
    tn.use_deterministic_algorithms(True, warn_only=True)
    try:
        assert tn.are_deterministic_algorithms_enabled()
    finally:
        tn.use_deterministic_algorithms(False)
    # the seed_worker idiom: each worker's initial_seed() is its own seed
    loader = tn.utils.data.DataLoader(_WorkerSeeds(), batch_size=1, num_workers=2,
                                      worker_init_fn=_seed_worker,
                                      generator=tn.Generator().manual_seed(0))
    rows = [tuple(int(v) for v in (s[0], i[0], d[0])) for s, i, d in loader]
    assert all(seed == initial for seed, initial, _ in rows)
    assert len({seed for seed, _, _ in rows}) == 2                  # one seed per worker
    again = [tuple(int(v) for v in (s[0], i[0], d[0])) for s, i, d in
             tn.utils.data.DataLoader(_WorkerSeeds(), batch_size=1, num_workers=2,
                                      worker_init_fn=_seed_worker,
                                      generator=tn.Generator().manual_seed(0))]
    assert again == rows                                             # numpy draws repeat


def test_cuda_manual_seed_seeds_the_gpu_generators_only(monkeypatch):
    made = []
    monkeypatch.setattr(backend, "new_generator", lambda device, seed: made.append(
        (device, seed)) or np.random.default_rng(seed))
    tn.manual_seed(3)
    backend.get_generator("cuda:1")
    tn.cuda.manual_seed(11)
    backend.get_generator("cuda:1")
    backend.get_generator("cpu")
    tn.manual_seed(4)               # manual_seed seeds every device again
    backend.get_generator("cuda:1")
    assert made == [("cuda:1", 3), ("cuda:1", 11), ("cpu", 3), ("cuda:1", 4)]


def test_deferred_checks_raise_at_the_next_read_and_then_clear():
    backend.check_later(np.bool_(False), lambda: ValueError("never"))
    backend.check_later(np.bool_(True), lambda: ValueError("bad input, found later"))
    with pytest.raises(ValueError, match="found later"):
        backend.raise_deferred_errors()
    backend.raise_deferred_errors()   # the queue is empty again


def test_gpu_range_errors_surface_at_item():
    if not tn.cuda.is_available():
        pytest.skip("needs CuPy and a GPU")
    x = tn.randn(3, 4, device="cuda")
    loss = tn.functional.cross_entropy(x, tn.tensor([0, 1, 7], device="cuda"))  # no stall here
    with pytest.raises(ValueError, match="target value 7 is out of range for 4 classes"):
        loss.item()
    assert np.isfinite(tn.functional.cross_entropy(x, tn.tensor([0, 1, 2], device="cuda")).item())


def test_torch_backends_switches_are_accepted_settings(monkeypatch):
    # nanoGPT: torch.backends.cuda.matmul.allow_tf32 = True; torch.backends.cudnn.allow_tf32 = True
    # the transfer-learning tutorial: import torch.backends.cudnn as cudnn; cudnn.benchmark = True
    import tinynet.backends.cudnn as cudnn
    assert cudnn is tn.backends.cudnn and not cudnn.is_available()
    for obj, name in ((cudnn, "benchmark"), (cudnn, "deterministic"), (cudnn, "allow_tf32"),
                      (tn.backends.cuda.matmul, "allow_tf32")):
        monkeypatch.setattr(obj, name, True)   # set, and restored after the test
        assert getattr(obj, name) is True
    assert not tn.backends.mps.is_available() and not tn.backends.mps.is_built()
