"""Where does the ResNet look? Gradient saliency and Grad-CAM heatmaps as PNGs.

    python examples/train_resnet.py --out runs/resnet       # a trained digits model
    python examples/saliency.py --weights runs/resnet/resnet18.safetensors --out runs/saliency

For each of ``--num`` test images it writes ``<i>_saliency.png`` (|∂ score /
∂ pixel|) and ``<i>_gradcam.png`` (Grad-CAM of ``--layer``) overlaid on the
image, plus ``grid.png`` with all of them side by side. Both maps come out of
the same autograd that trains the model: saliency is the input gradient of the
class score, Grad-CAM weights a feature map by its gradient. Without
``--weights`` (and no checkpoint at the default path) it first trains one with
train_resnet.py's defaults.
"""
from __future__ import annotations

import argparse
import os

import numpy as np

import tinynet as tn
from tinynet.viz import grad_cam, saliency, saliency_overlay

import train_resnet as tr


DEFAULT_WEIGHTS = "runs/resnet/resnet18.safetensors"


def load_model(path, device):
    """(model in eval mode, metadata) from a train_resnet.py checkpoint."""
    meta = tn.load_metadata(path)
    sd = tn.load(path)
    if not isinstance(sd, dict) or "conv1.weight" not in sd or "fc.weight" not in sd:
        raise SystemExit(f"{path}: not a ResNet's weights (pass the <arch>.safetensors that "
                         "train_resnet.py or finetune_resnet.py writes)")
    arch = meta.get("arch") or tr.checkpoint_arch(sd) or "resnet18"
    cifar_stem = sd["conv1.weight"].shape[-1] == 3
    model = tr.build_model(arch, sd["fc.weight"].shape[0], cifar_stem)
    model.load_state_dict(sd)
    return model.to(device).eval(), meta


def default_layer(size, cifar_stem):
    """The last stage whose feature map is at least 4x4 for ``size`` px inputs (else layer1).

    The CIFAR stem keeps the input's size into layer1, the ImageNet stem quarters
    it; each later stage halves it.
    """
    side = size if cifar_stem else size // 4
    name = "layer1"
    for k in (2, 3, 4):
        side //= 2
        if side >= 4:
            name = f"layer{k}"
    return name


def dataset_for(meta, data, size):
    """(test set, class names, folder or None for digits) to explain: ``data`` or the
    folder the checkpoint was trained on.

    Exits when the folder's classes are not the checkpoint's: the model's class
    indices would be read as the wrong names.
    """
    classes = tr.checkpoint_classes(meta)
    if data is None and meta.get("data", "digits") != "digits":
        data = meta["data"]
        if not os.path.isdir(data):
            raise SystemExit(f"the checkpoint was trained on '{data}', which is not a folder "
                             "here: point --data at the folder with its train/ + test/ (or val/) "
                             "folders or its class folders")
    digit_classes = [int(c) for c in classes] if classes and data is None else None
    _, test_set, names, _ = tr.load_datasets(data, size, digit_classes,
                                             skip_corrupt=True)   # explain what loads
    if classes is not None and list(names) != classes:
        raise SystemExit(f"--data {data or 'digits'}: classes {names} are not the checkpoint's "
                         f"{classes}")
    return test_set, names, data


def denormalize(x, meta):
    """Undo Normalize with the checkpoint's mean/std: (C, H, W) -> values in [0, 1]."""
    if "mean" not in meta:
        return x
    mean = np.array([float(v) for v in meta["mean"].split(",")]).reshape(-1, 1, 1)
    std = np.array([float(v) for v in meta["std"].split(",")]).reshape(-1, 1, 1)
    return np.clip(x * std + mean, 0, 1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=DEFAULT_WEIGHTS)
    ap.add_argument("--data", default=None, help="image folders as for train_resnet.py "
                    "(default: the checkpoint's, digits or the --data it was trained on)")
    ap.add_argument("--layer", default=None, help="Grad-CAM layer (default: the last stage "
                    "whose map is at least 4x4: layer2 for 8 px digits, layer4 for 128 px)")
    ap.add_argument("--num", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="runs/saliency")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    if args.num < 1:
        raise SystemExit(f"--num must be >= 1, got {args.num}")
    if not os.path.exists(args.weights):
        if args.weights != DEFAULT_WEIGHTS:   # a typo must not start a training run
            raise SystemExit(f"--weights {args.weights}: not found")
        print(f"{args.weights} not found: training one with train_resnet.py first")
        tr.main(["--out", os.path.dirname(args.weights) or ".", "--device", args.device])
    model, meta = load_model(args.weights, args.device)
    size = int(meta.get("image_size", 8))
    test_set, names, data = dataset_for(meta, args.data, size)
    if model.fc.out_features != len(names):
        raise SystemExit(f"{args.weights}: a {model.fc.out_features}-class model, but "
                         f"{data or 'digits'} has {len(names)} classes {names}")
    idx = np.linspace(0, len(test_set) - 1, args.num).astype(int)
    x = np.stack([np.asarray(test_set[i][0]) for i in idx])               # (n, 3, H, W)
    y = np.array([int(test_set[i][1]) for i in idx])
    xt = tn.tensor(x, device=args.device)

    layer_name = args.layer or default_layer(size, model.conv1.kernel_size[-1] == 3)
    sal, pred = saliency(model, xt)                                       # (n, H, W)
    cam, _ = grad_cam(model, xt, layer=model.get_submodule(layer_name))   # (n, h, w)
    rows = []
    for k in range(len(idx)):
        img = denormalize(x[k], meta)
        a = saliency_overlay(img, sal[k], os.path.join(args.out, f"{k}_saliency.png"))
        b = saliency_overlay(img, cam[k], os.path.join(args.out, f"{k}_gradcam.png"))
        rows.append((img, a, b, names[y[k]], names[pred[k]]))
    print(f"{len(rows)} images, Grad-CAM on {layer_name} ({cam.shape[1]}x{cam.shape[2]} map); "
          f"predicted {[r[4] for r in rows]}, true {[r[3] for r in rows]}")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        fig = Figure(figsize=(2 * len(rows), 6), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(3, len(rows), squeeze=False)
        for k, (img, a, b, true, pred_name) in enumerate(rows):
            for r, (im, title) in enumerate([(img.transpose(1, 2, 0), f"true {true}"),
                                             (a, f"saliency (pred {pred_name})"),
                                             (b, f"Grad-CAM {layer_name}")]):
                axes[r, k].imshow(im, interpolation="nearest")
                axes[r, k].set_title(title, fontsize=8)
                axes[r, k].axis("off")
        fig.savefig(os.path.join(args.out, "grid.png"), dpi=100)
        print(f"grid: {os.path.join(args.out, 'grid.png')}")
    except ImportError as e:
        print(f"(no grid: {e})")
    print(f"overlays: {args.out}/<i>_saliency.png, {args.out}/<i>_gradcam.png")


if __name__ == "__main__":
    main()
