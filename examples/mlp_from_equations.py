"""Backprop from the textbook equations, then the same network with tinynet autograd.

A 2-layer MLP (64 -> 64 sigmoid -> 10 softmax) is trained twice on the digits
data, from the same initial weights and on the same mini-batches:

1. in plain NumPy, with every gradient written by hand from the equations;
2. with tinynet, where ``loss.backward()`` derives the same gradients.

It prints the largest difference between the two sets of gradients on the
first batch (float32 rounding only) and each model's test accuracy.

    python examples/mlp_from_equations.py --epochs 30
    python examples/mlp_from_equations.py --device cuda   # the tinynet half on the GPU
"""
from __future__ import annotations

import argparse

import numpy as np

import tinynet as tn
import tinynet.functional as F


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def numpy_forward_backward(params, x, y_onehot):
    """Loss and gradients of the MLP, straight from the equations.

    Shapes: x (N, 64), W1 (64, 64), b1 (64,), W2 (10, 64), b2 (10,). Rows are
    examples, so Wx + b is written x Wᵀ + b.
    """
    W1, b1, W2, b2 = params
    n = x.shape[0]
    # forward
    z1 = x @ W1.T + b1                       # z¹ = W¹x + b¹           (N, 64)
    a1 = sigmoid(z1)                         # a¹ = σ(z¹)               (N, 64)
    z2 = a1 @ W2.T + b2                      # z² = W²a¹ + b²           (N, 10)
    z2 = z2 - z2.max(axis=1, keepdims=True)  # shift: softmax is unchanged, exp cannot overflow
    p = np.exp(z2) / np.exp(z2).sum(axis=1, keepdims=True)  # p = softmax(z²)
    loss = -(y_onehot * np.log(p)).sum() / n                # L = -(1/N) Σ y log p
    # backward
    d2 = (p - y_onehot) / n                  # δ² = ∂L/∂z² = (p - y)/N  (N, 10)
    gW2 = d2.T @ a1                          # ∂L/∂W² = δ² a¹ᵀ          (10, 64)
    gb2 = d2.sum(axis=0)                     # ∂L/∂b² = Σ δ²            (10,)
    d1 = (d2 @ W2) * a1 * (1 - a1)           # δ¹ = (W²ᵀδ²) ⊙ σ'(z¹), σ' = σ(1-σ)
    gW1 = d1.T @ x                           # ∂L/∂W¹ = δ¹ xᵀ           (64, 64)
    gb1 = d1.sum(axis=0)                     # ∂L/∂b¹ = Σ δ¹            (64,)
    return loss, [gW1, gb1, gW2, gb2]


def tinynet_forward(params, x):
    """The same network written with tinynet ops; autograd does the backward."""
    W1, b1, W2, b2 = params
    a1 = F.sigmoid(x @ W1.T + b1)
    return a1 @ W2.T + b2


def init_params(rng, n_in=64, n_hidden=64, n_out=10):
    """Uniform(-1/√fan_in, 1/√fan_in), as PyTorch's Linear."""
    def u(shape, fan_in):
        bound = 1 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, shape).astype(np.float32)
    return [u((n_hidden, n_in), n_in), u((n_hidden,), n_in),
            u((n_out, n_hidden), n_hidden), u((n_out,), n_hidden)]


def accuracy(logits, y):
    return float((logits.argmax(axis=1) == y).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="device of the tinynet model (cpu, cuda)")
    args = ap.parse_args()

    train, test = tn.data.Digits(train=True), tn.data.Digits(train=False)
    xtr, ytr = train.data.reshape(len(train), -1), train.targets     # (N, 64) in [0, 1], (N,)
    xte, yte = test.data.reshape(len(test), -1), test.targets
    onehot = np.eye(10, dtype=np.float32)

    rng = np.random.default_rng(args.seed)
    np_params = init_params(rng)
    dev = args.device
    tn_params = [tn.tensor(p.copy(), requires_grad=True, device=dev) for p in np_params]

    # 1. the same first batch through both: the gradients must agree
    xb, yb = xtr[:args.batch_size], ytr[:args.batch_size]
    np_loss, np_grads = numpy_forward_backward(np_params, xb, onehot[yb])
    loss = F.cross_entropy(tinynet_forward(tn_params, tn.tensor(xb, device=dev)),
                           tn.tensor(yb, device=dev))
    loss.backward()
    diffs = [float(np.abs(g - p.grad.numpy()).max()) for g, p in zip(np_grads, tn_params)]
    print(f"first batch: loss numpy {np_loss:.6f}  tinynet {loss.item():.6f}")
    for name, d in zip(["W1", "b1", "W2", "b2"], diffs):
        print(f"  max |grad_numpy - grad_tinynet| for {name}: {d:.2e}")
    print(f"largest gradient difference: {max(diffs):.2e} (float32 rounding)")

    # 2. train both with plain SGD on identical mini-batches
    order_rng = np.random.default_rng(args.seed + 1)
    for epoch in range(args.epochs):
        order = order_rng.permutation(len(xtr))
        for start in range(0, len(order), args.batch_size):
            idx = order[start:start + args.batch_size]
            xb, yb = xtr[idx], ytr[idx]
            _, grads = numpy_forward_backward(np_params, xb, onehot[yb])
            for p, g in zip(np_params, grads):
                p -= args.lr * g                           # W ← W - η ∂L/∂W
            for p in tn_params:
                p.grad = None
            F.cross_entropy(tinynet_forward(tn_params, tn.tensor(xb, device=dev)),
                            tn.tensor(yb, device=dev)).backward()
            with tn.no_grad():
                for p in tn_params:
                    p -= args.lr * p.grad
    z_np = sigmoid(xte @ np_params[0].T + np_params[1]) @ np_params[2].T + np_params[3]
    with tn.no_grad():
        z_tn = tinynet_forward(tn_params, tn.tensor(xte, device=dev)).numpy()
    print(f"test accuracy after {args.epochs} epochs: numpy (hand-written backprop) "
          f"{accuracy(z_np, yte):.4f}, tinynet (autograd) {accuracy(z_tn, yte):.4f}")
    drift = max(float(np.abs(a - b.numpy()).max()) for a, b in zip(np_params, tn_params))
    print(f"largest weight difference after training: {drift:.2e}")


if __name__ == "__main__":
    main()
