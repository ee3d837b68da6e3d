"""ResNet-18 and small conv-net training steps, tinynet vs PyTorch CPU in the same run.

    python benchmarks/bench_resnet.py                 # both models, CPU
    python benchmarks/bench_resnet.py --profile       # + a cProfile of tinynet's ResNet step
    python benchmarks/bench_resnet.py --device cuda   # both on the GPU
    python benchmarks/bench_resnet.py --device cuda --amp   # + float16 autocast steps

* ResNet-18 with the CIFAR stem, batch 16 of 3x32x32, cross-entropy, SGD momentum 0.9.
* Small conv net, batch 32 of 3x32x32: conv3x3 3->32, conv3x3 32->64 stride 2,
  conv3x3 64->128 stride 2 (ReLU after each, padding 1), global average pool,
  linear 128->10.
* With ``--only resnet50`` (not in the default run): ResNet-50, ImageNet stem,
  batch 8 of 3x224x224, the size of a real fine-tuning run.

One step = zero_grad, forward, backward, optimizer step. tinynet and PyTorch
(on the same device) steps alternate and the medians are compared; on a GPU
each step ends with a device synchronize. ``--amp`` adds float16 autocast steps
with dynamic loss scaling for both frameworks. GFLOP/s counts the GEMM work of
the step (forward, weight gradients, input gradients where needed) divided by
the step time, next to NumPy's measured float32 GEMM rate on the same machine.
On the CPU a last line per model times the step's GEMMs alone in NumPy, at the
shapes im2col gives them: the floor of an engine built on them, next to
PyTorch's whole step.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats

import numpy as np

import tinynet as tn
import tinynet.nn as nn
from _timing import (best_matmul_times, cuda_gemm_tflops, gemm_gflops, interleaved,
                     machine_line, try_torch)
from tinynet.functional.loss import cross_entropy
from tinynet.functional.pooling import adaptive_avg_pool2d
from tinynet.models.resnet import resnet18, resnet50
from tinynet.nn.conv import Conv2d
from tinynet.optim import SGD

# ---------------------------------------------------------------- models


class SmallConvNet(nn.Module):
    """conv3x3 3->32, 32->64 /2, 64->128 /2 (ReLU each), global average pool, linear 128->10."""

    def __init__(self):
        super().__init__()
        self.c1 = Conv2d(3, 32, 3, padding=1)
        self.c2 = Conv2d(32, 64, 3, stride=2, padding=1)
        self.c3 = Conv2d(64, 128, 3, stride=2, padding=1)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):                                         # (N, 3, 32, 32)
        x = self.c1(x).relu()                                     # (N, 32, 32, 32)
        x = self.c2(x).relu()                                     # (N, 64, 16, 16)
        x = self.c3(x).relu()                                     # (N, 128, 8, 8)
        x = adaptive_avg_pool2d(x, 1).reshape(x.shape[0], -1)     # (N, 128)
        return self.fc(x)                                         # (N, 10)


def torch_resnet18(torch, num_classes=10):
    """torchvision's ResNet-18 layout with the CIFAR stem, in plain torch (no torchvision)."""
    tnn = torch.nn

    class Block(tnn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(cout)
            self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False),
                                                 tnn.BatchNorm2d(cout))

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return torch.relu(out + (x if self.downsample is None else self.downsample(x)))

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(3, 64, 3, 1, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(64)
            chans, cin, layers = [64, 128, 256, 512], 64, []
            for i, c in enumerate(chans):
                layers.append(tnn.Sequential(Block(cin, c, 1 if i == 0 else 2), Block(c, c, 1)))
                cin = c
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.fc = tnn.Linear(512, num_classes)

        def forward(self, x):
            x = torch.relu(self.bn1(self.conv1(x)))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(x.mean((2, 3)))

    return Net()


def torch_resnet50(torch, num_classes=1000):
    """torchvision's ResNet-50 (v1.5: the stride on the 3x3 conv), in plain torch."""
    tnn = torch.nn

    class Bottleneck(tnn.Module):
        def __init__(self, cin, width, stride):
            super().__init__()
            self.conv1, self.bn1 = tnn.Conv2d(cin, width, 1, bias=False), tnn.BatchNorm2d(width)
            self.conv2 = tnn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(width)
            self.conv3 = tnn.Conv2d(width, 4 * width, 1, bias=False)
            self.bn3 = tnn.BatchNorm2d(4 * width)
            self.downsample = None
            if stride != 1 or cin != 4 * width:
                self.downsample = tnn.Sequential(
                    tnn.Conv2d(cin, 4 * width, 1, stride, bias=False), tnn.BatchNorm2d(4 * width))

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = torch.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return torch.relu(out + (x if self.downsample is None else self.downsample(x)))

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = tnn.BatchNorm2d(64)
            blocks, cin = [], 64
            for i, (width, n) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)]):
                for j in range(n):
                    blocks.append(Bottleneck(cin, width, 2 if i > 0 and j == 0 else 1))
                    cin = 4 * width
            self.blocks = tnn.Sequential(*blocks)
            self.fc = tnn.Linear(2048, num_classes)

        def forward(self, x):
            x = torch.nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 3, 2, 1)
            return self.fc(self.blocks(x).mean((2, 3)))

    return Net()


def torch_small(torch):
    tnn = torch.nn
    return tnn.Sequential(tnn.Conv2d(3, 32, 3, padding=1), tnn.ReLU(),
                          tnn.Conv2d(32, 64, 3, stride=2, padding=1), tnn.ReLU(),
                          tnn.Conv2d(64, 128, 3, stride=2, padding=1), tnn.ReLU(),
                          tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(128, 10))


# ---------------------------------------------------------------- steps


def _batch(batch, size=32):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((batch, 3, size, size), dtype=np.float32),
            rng.integers(0, 10, batch))


def tinynet_step(model, batch, device, amp=False, size=32):
    model.to(device)
    opt = SGD(model.parameters(), lr=0.01, momentum=0.9)
    xb, yb = _batch(batch, size)
    x, y = tn.tensor(xb, device=device), tn.tensor(yb, device=device)
    sync = tn.cuda.synchronize if device != "cpu" else (lambda: None)
    scaler = tn.amp.GradScaler(enabled=amp)

    def step():
        opt.zero_grad()
        with tn.amp.autocast(enabled=amp):
            loss = cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sync()
        return loss
    return step


def torch_step(torch, model, batch, device="cpu", amp=False, size=32):
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xb, yb = _batch(batch, size)
    x, y = torch.tensor(xb, device=device), torch.tensor(yb, device=device)
    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)
    scaler = torch.amp.GradScaler(enabled=amp)

    def step():
        opt.zero_grad()
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=amp):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sync()
        return loss
    return step


def step_gemms(model, batch, size=32):
    """The (M, K, N) GEMMs of one training step, as im2col computes them: per conv or
    linear layer the forward (O, K) @ (K, P), the weight gradient (O, P) @ (P, K) and,
    but for the first layer, the input gradient (K, O) @ (O, P), where K = C·kh·kw/groups
    and P = the output's pixels (times the batch). Grouped convs count one group's GEMM
    ``groups`` times."""
    shapes = []

    def hook(mod, args, out):
        shapes.append((mod, args[0].shape, out.shape))
    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (Conv2d, nn.Linear))]
    with tn.no_grad():
        model(tn.zeros(batch, 3, size, size))
    for h in handles:
        h.remove()
    gemms = []
    for i, (mod, xs, ys) in enumerate(shapes):
        if isinstance(mod, Conv2d):
            kh, kw = mod.kernel_size
            groups = mod.groups
            o, k, p = ys[1] // groups, xs[1] // groups * kh * kw, int(np.prod(ys)) // ys[1]
        else:
            groups, o, k, p = 1, ys[-1], xs[-1], int(np.prod(ys[:-1]))
        mine = [(o, k, p), (o, p, k)] + ([(k, o, p)] if i else [])  # fwd, dW, (dX)
        gemms += mine * groups
    return gemms


def step_gflop(model, batch, size=32):
    """GEMM FLOPs of one training step: per conv/linear forward, weight grad, input grad."""
    return sum(2 * m * k * n for m, k, n in step_gemms(model, batch, size)) / 1e9


def gemm_floor(model, batch, size=32):
    """Seconds that the step's GEMMs (:func:`step_gemms`) take on their own in NumPy,
    each at its best of 5 runs on BLAS's own threads: what an im2col engine would need
    if everything else cost nothing."""
    shapes = [(1, m, k, n) for m, k, n in step_gemms(model, batch, size)]
    best = best_matmul_times(shapes)
    return sum(best[s] for s in shapes)


def profile(step, n=3, top=18):
    """cProfile of ``n`` steps: the functions by own time, then tinynet's by cumulative time."""
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(n):
        step()
    pr.disable()
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(top)
    pstats.Stats(pr, stream=s).sort_stats("cumulative").print_stats("tinynet", top)
    return s.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=7, help="alternating timed turns per model")
    ap.add_argument("--amp", action="store_true",
                    help="also time float16 autocast steps (GPU only)")
    ap.add_argument("--only", choices=["resnet18", "small", "resnet50"], default=None,
                    help="one model (resnet50 runs only when asked for)")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the ResNet step")
    ap.add_argument("--framework", choices=["both", "tinynet", "torch"], default="both",
                    help="time one framework only (benchmarks/separate.py runs each in its "
                         "own process)")
    args = ap.parse_args()
    torch = try_torch() if args.framework != "tinynet" else None
    if args.amp and args.device == "cpu":
        ap.error("--amp needs --device cuda (float16 autocast is a GPU feature)")
    print(machine_line(), f"| device {args.device}")
    gemm = gemm_gflops()
    print(f"NumPy float32 GEMM (1024^3): {gemm:.0f} GFLOP/s")
    if args.device != "cpu":
        gemm = cuda_gemm_tflops() * 1e3
        print(f"CuPy float32 GEMM (8192^3): {gemm:.0f} GFLOP/s")
    if torch is not None and args.device == "cpu":
        a = torch.randn(1024, 1024)
        b = torch.randn(1024, 1024)
        tt = interleaved({"t": lambda: a @ b}, repeat=10)["t"]
        print(f"PyTorch float32 GEMM (1024^3): {2 * 1024 ** 3 / tt / 1e9:.0f} GFLOP/s, "
              f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    cases = [("resnet18", 16, 32), ("small", 32, 32), ("resnet50", 8, 224)]
    for name, batch, size in cases:
        if name not in ((args.only,) if args.only else ("resnet18", "small")):
            continue
        tn.manual_seed(0)
        model = {"resnet18": lambda: resnet18(num_classes=10, cifar_stem=True),
                 "small": SmallConvNet, "resnet50": lambda: resnet50(num_classes=1000)}[name]()
        gflop = step_gflop(model, batch, size)
        fns = {}
        for amp in ([False, True] if args.amp else [False]):
            tag = "-amp" if amp else ""
            if args.framework != "torch":
                fns["tinynet" + tag] = tinynet_step(model, batch, args.device, amp, size)
            if torch is not None:
                torch.manual_seed(0)
                tm = {"resnet18": torch_resnet18, "small": torch_small,
                      "resnet50": torch_resnet50}[name](torch)
                fns["torch" + tag] = torch_step(torch, tm, batch, args.device, amp, size)
        times = interleaved(fns, repeat=args.repeat, warmup=2 if name != "resnet50" else 1)
        for fw, t in times.items():
            print(f"RESULT {name} {fw} {t * 1e3:.2f}")
        if "tinynet" not in times:
            continue
        rate = gflop / times["tinynet"]
        line = (f"{name:9s} batch {batch}: {gflop:.1f} GFLOP/step | tinynet ({args.device}) "
                f"{times['tinynet'] * 1e3:7.1f} ms = {rate:5.1f} GFLOP/s "
                f"({100 * rate / gemm:.0f}% of the float32 GEMM rate)")
        if "torch" in times:
            line += (f" | torch {times['torch'] * 1e3:7.1f} ms = {gflop / times['torch']:5.1f} "
                     f"GFLOP/s | ratio tinynet/torch {times['tinynet'] / times['torch']:.2f}")
        print(line, flush=True)
        if args.device == "cpu":
            # the floor of any engine whose convolutions are these GEMMs in NumPy
            floor = gemm_floor(model, batch, size)
            line = (f"{name:9s} its GEMMs alone in NumPy (same shapes, each at its best): "
                    f"{floor * 1e3:.1f} ms = {gflop / floor:.0f} GFLOP/s")
            if "torch" in times:
                line += f" = {floor / times['torch']:.2f}x torch's whole step"
            print(line, flush=True)
        if "tinynet-amp" in times:
            line = (f"{name:9s} float16 autocast: tinynet {times['tinynet-amp'] * 1e3:7.1f} ms "
                    f"({times['tinynet'] / times['tinynet-amp']:.2f}x its float32 speed)")
            if "torch-amp" in times:
                line += (f" | torch {times['torch-amp'] * 1e3:7.1f} ms "
                         f"({times['torch'] / times['torch-amp']:.2f}x) | ratio tinynet/torch "
                         f"{times['tinynet-amp'] / times['torch-amp']:.2f}")
            print(line, flush=True)
        if args.device != "cpu":
            print(f"  peak GPU memory (tinynet's pool): "
                  f"{tn.cuda.max_memory_allocated() / 2**20:.0f} MiB", flush=True)
        if args.profile and name == "resnet18":
            print(profile(fns["tinynet"]))


if __name__ == "__main__":
    main()
