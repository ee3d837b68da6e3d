"""benchmarks/bench_gpt.py: the per-op timer (--ops) names each op and leaves the classes as it
found them; the ratio's interval brackets what paired turns show."""
import pathlib
import sys

import numpy as np
import pytest

import tinynet as tn
from tinynet.functional.linalg import Linear as LinearOp

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_gpt  # noqa: E402
from _timing import ratio_interval  # noqa: E402


def test_op_times_name_each_op_and_restore_the_classes():
    tn.manual_seed(0)
    model = tn.nn.Sequential(tn.nn.Linear(4, 3), tn.nn.ReLU(), tn.nn.Linear(3, 2))
    opt = tn.optim.SGD(model.parameters(), lr=0.1)
    x = tn.randn(5, 4)

    def step():
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
    forward, backward, sgd_step = LinearOp.forward, LinearOp.backward, tn.optim.SGD.step
    times = bench_gpt.tinynet_op_times(step, steps=2)
    assert times["Linear forward"] > 0 and times["Linear backward"] > 0
    assert times["Relu forward"] > 0 and times["optimizer step"] > 0
    assert (LinearOp.forward, LinearOp.backward, tn.optim.SGD.step) == (forward, backward,
                                                                        sgd_step)
    assert "optimizer step" not in bench_gpt.tinynet_op_times(lambda: None, steps=1)
    table = bench_gpt.op_table(times, {"aten::_scaled_dot_product_flash_attention_for_cpu_"
                                       "backward": 2.5, "aten::mm": 7.0})
    lines = table.splitlines()
    assert "Linear forward" in table and "mm" in lines[1]       # biggest first, "aten::" off
    assert "..on_for_cpu_backward" in table                      # a long name keeps its end


def test_ratio_interval_brackets_the_median_ratio_of_paired_turns():
    rng = np.random.default_rng(1)
    load = rng.uniform(1.0, 1.3, 40)                  # drift that hits both sides of a turn
    ours, theirs = 0.30 * load * rng.uniform(0.98, 1.02, 40), 0.30 * load
    low, high = ratio_interval(ours, theirs)
    assert low < 1.0 < high and high - low < 0.05
    low, high = ratio_interval(2 * theirs * rng.uniform(0.98, 1.02, 40), theirs)
    assert 1.9 < low < 2.0 < high < 2.1
    assert ratio_interval(ours, theirs) == ratio_interval(ours, theirs)   # seeded
    with pytest.raises(ValueError, match="ratio_interval.*shapes"):
        ratio_interval(ours, theirs[:-1])
