"""benchmarks/bench_gpt.py --ops: the per-op timer names each op and leaves the classes as it found them."""
import pathlib
import sys

import tinynet as tn
from tinynet.functional.linalg import Linear as LinearOp

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_gpt  # noqa: E402


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
