"""Test configuration: the ``--backend`` option and hypothesis profiles.

``pytest --backend=cupy`` runs the whole suite with CUDA as the default
device. Without CuPy or a GPU every test is reported as skipped, with the
reason, never as passed.
"""
import os
import threading

import pytest
from hypothesis import HealthCheck, Phase, settings

import tinynet as tn
from tinynet import _parallel

settings.register_profile("ci", max_examples=15, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
# a first pass over a new backend: few examples, failures reported unshrunk
settings.register_profile("quick", max_examples=5, deadline=None, derandomize=True,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate],
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE",
                                     "ci" if os.environ.get("CI") == "true" else "dev"))


def pytest_addoption(parser):
    parser.addoption("--backend", default="numpy", choices=["numpy", "cupy"],
                     help="array backend to run the suite on (cupy = default device 'cuda')")


def pytest_configure(config):
    config.addinivalue_line("markers", "cpu_only: test that only makes sense on the CPU backend")
    if config.getoption("--backend") == "cupy" and tn.cuda_is_available():
        tn.set_default_device("cuda")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--backend") != "cupy":
        return
    try:
        tn.backend._import_cupy()
    except RuntimeError as e:
        skip = pytest.mark.skip(reason=f"--backend=cupy: {e}")
        for item in items:
            item.add_marker(skip)
        return
    skip_cpu = pytest.mark.skip(reason="CPU-only test (--backend=cupy)")
    for item in items:
        if "cpu_only" in item.keywords:
            item.add_marker(skip_cpu)


@pytest.fixture(autouse=True)
def _deferred_gpu_checks_stay_in_their_test():
    """A range check a test queues on the GPU (see ``backend.check_later``) and never
    reads back fails that test at teardown, not whichever test reads the host next."""
    yield
    tn.backend.raise_deferred_errors()


@pytest.fixture
def device():
    """The device the suite runs on ('cpu' or 'cuda:0')."""
    return tn.get_default_device()


class _Blocker:
    """A job that keeps a pool thread busy until ``gate`` is released."""

    def __init__(self, gate):
        self.gate = gate

    def run(self, on_pool):
        with self.gate:
            return 0


@pytest.fixture
def busy_pool(monkeypatch):
    """Two threads, the pool thread held busy until the test ends: deferred pieces then run
    only when the caller waits for them, so every wait in a test is exercised for sure."""
    if not _parallel._blas_libs():
        pytest.skip("threadpoolctl is not installed: nothing is deferred")
    monkeypatch.setenv("TINYNET_NUM_THREADS", "2")
    gate = threading.Lock()
    gate.acquire()
    _parallel._get_workers(1).inboxes[0].put(_Blocker(gate))
    yield
    gate.release()
    _parallel.drain()
