"""Train an MLP classifier on the digits data (8x8 images, 10 classes).

The whole training toolkit in one short script: Dataset + DataLoader, an
nn.Sequential model, Adam (or SGD) with a cosine schedule, progress bars, a
final report (accuracy, per-class precision/recall/F1, confusion matrix), a
safetensors checkpoint and a PNG of the training curves.

    python examples/train_mlp.py --epochs 30 --out runs/mlp
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
from tqdm import tqdm

import tinynet as tn
import tinynet.functional as F
import tinynet.nn as nn
from tinynet.metrics import accuracy, classification_report
from train_gpt import require_positive


def make_model(hidden: int = 256, dropout: float = 0.1) -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),                          # (N, 1, 8, 8) -> (N, 64)
        nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, 10),                 # (N, 10) logits
    )


def evaluate(model, loader, device):
    """(mean loss, predictions, targets) over a loader, in eval mode."""
    model.eval()
    losses, preds, targets = [], [], []
    with tn.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            losses.append(F.cross_entropy(logits, y, reduction="sum").item())
            preds.append(logits.argmax(1).numpy())
            targets.append(y.numpy())
    model.train()
    preds, targets = np.concatenate(preds), np.concatenate(targets)
    return sum(losses) / len(targets), preds, targets


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/mlp")
    args = ap.parse_args()
    require_positive(ap, args, ("epochs", "batch_size", "hidden"))

    tn.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    train_set, test_set = tn.data.Digits(train=True), tn.data.Digits(train=False)
    train_loader = tn.data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                                      seed=args.seed)
    test_loader = tn.data.DataLoader(test_set, batch_size=256)

    model = make_model(args.hidden).to(args.device)
    if args.optimizer == "adam":
        opt = tn.optim.Adam(model.parameters(), lr=args.lr)
    else:
        opt = tn.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True)
    sched = tn.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs * len(train_loader))
    print(f"model: {nn.utils.count_parameters(model):,} parameters; "
          f"train {len(train_set)} / test {len(test_set)} images")

    history = {"train_loss": [], "val_loss": [], "train_acc": [], "val_acc": []}
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        seen = correct = 0
        total_loss = 0.0
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{args.epochs}", leave=False)
        for x, y in bar:
            x, y = x.to(args.device), y.to(args.device)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            n = len(y)
            seen += n
            total_loss += loss.item() * n
            correct += accuracy(logits, y) * n
            bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
        val_loss, preds, targets = evaluate(model, test_loader, args.device)
        history["train_loss"].append(total_loss / seen)
        history["train_acc"].append(correct / seen)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(float((preds == targets).mean()))
        tqdm.write(f"epoch {epoch:3d}  train loss {total_loss / seen:.4f} acc {correct / seen:.4f}"
                   f"  |  test loss {val_loss:.4f} acc {history['val_acc'][-1]:.4f}")
    elapsed = time.perf_counter() - start

    _, preds, targets = evaluate(model, test_loader, args.device)
    print(f"\ntrained in {elapsed:.1f} s")
    if str(args.device).startswith("cuda"):
        print(f"peak GPU memory: {tn.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    print(classification_report(preds, targets, class_names=[str(i) for i in range(10)]))
    ckpt = os.path.join(args.out, "mlp.safetensors")
    tn.save(model.state_dict(), ckpt)
    print(f"checkpoint: {ckpt}")
    try:
        png = os.path.join(args.out, "curves.png")
        tn.viz.plot_history(history, png, title="MLP on digits")
        print(f"curves: {png}")
    except ImportError as e:
        print(f"(no curves: {e})")
    print(f"final test accuracy: {float((preds == targets).mean()):.4f}")


if __name__ == "__main__":
    main()
