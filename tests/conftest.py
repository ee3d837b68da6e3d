"""Test configuration: the ``--backend`` option and hypothesis profiles.

``pytest --backend=cupy`` runs the whole suite with CUDA as the default
device. Without CuPy or a GPU every test is reported as skipped, with the
reason, never as passed.
"""
import os

import pytest
from hypothesis import HealthCheck, Phase, settings

import tinynet as tn

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


@pytest.fixture
def device():
    """The device the suite runs on ('cpu' or 'cuda:0')."""
    return tn.get_default_device()
