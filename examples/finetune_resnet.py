"""Transfer learning: load pretrained ResNet weights, replace the head, fine-tune.

The classic recipe, offline:

    python examples/finetune_resnet.py
        1. pretrains a ResNet-18 on digits 0-4 with train_resnet.py (or reuses
           runs/finetune/pretrain/resnet18.safetensors),
        2. fine-tunes it on digits 5-9 for a few epochs with a new 5-way head,
        3. trains the same network from scratch for the same steps, and reports
           test accuracy before fine-tuning, after it, and from scratch.

With real weights (torchvision's or timm's .pth as downloaded, a ResNet exported to
safetensors, or the ``model.safetensors`` of a Hugging Face ResNet such as
microsoft/resnet-50) on your own ``DIR/train/<class>/`` + ``DIR/test/<class>/``:

    python examples/finetune_resnet.py --weights resnet50.safetensors --arch resnet50 \\
        --data cats_vs_dogs/ --image-size 224 --freeze-backbone --epochs 3

The architecture is read from the weights' layers (``--arch`` is only checked
against it). ``--freeze-backbone`` trains only the new ``fc`` (the backbone's BatchNorm
layers stay in eval mode, so their running statistics are kept too).
"""
from __future__ import annotations

import argparse
import os
import time

import tinynet as tn
from tinynet.nn.linear import Linear

import train_resnet as tr


def describe_checkpoint(path, arch=None):
    """(arch, num_classes, cifar_stem, image_size or None) of a checkpoint (safetensors or .pth).

    The architecture is read from the checkpoint's layers (torchvision exports
    carry no metadata); ``arch`` (``--arch``), when given, must agree with it.
    Exits with a message naming the file when it is missing, not a safetensors
    file, not a ResNet in torchvision names, or another architecture.
    """
    try:
        meta = tn.load_metadata(path)
        sd = tr.resnets.torchvision_names(tn.load(path))   # Hugging Face names too
    except (OSError, ValueError) as e:
        raise SystemExit(f"--weights {path}: {e}") from e
    if "fc.weight" not in sd or "conv1.weight" not in sd:
        hint = (" (it is a training state: pass the <arch>.safetensors that train_resnet.py "
                "writes at the end)" if "tinynet.training_state" in meta else "")
        raise SystemExit(f"--weights {path}: not a ResNet checkpoint in torchvision names "
                         f"(no conv1.weight / fc.weight){hint}")
    found = tr.checkpoint_arch(sd) or meta.get("arch")
    if arch is not None and found is not None and arch != found:
        raise SystemExit(f"--weights {path} holds a {found}, not the --arch {arch} asked for "
                         f"(leave out --arch to use the checkpoint's)")
    num_classes = sd["fc.weight"].shape[0]
    cifar_stem = sd["conv1.weight"].shape[-1] == 3
    size = int(meta["image_size"]) if "image_size" in meta else None
    return found or arch or "resnet18", num_classes, cifar_stem, size


def frozen_backbone_mode(model):
    """Train mode for the new head only: the frozen backbone's BatchNorms keep their statistics."""
    def mode():
        model.eval()
        model.fc.train()
    return mode


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="pretrained weights: safetensors or a PyTorch "
                    ".pth (torchvision, timm or Hugging Face transformers ResNet names); "
                    "default: pretrain on digits 0-4 first")
    ap.add_argument("--arch", choices=tr.ARCHS, default=None,
                    help="default: the --weights' own (read from its layers), else resnet18")
    ap.add_argument("--data", default=None, help="DIR with train/ and test/ (or val/), or "
                    "only class folders (20%% held out); default: digits 5-9")
    ap.add_argument("--image-size", type=int, default=None)
    ap.add_argument("--freeze-backbone", action="store_true")
    ap.add_argument("--skip-corrupt", action="store_true", help="--data: leave unreadable "
                    "images out with a warning instead of stopping at the first")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--pretrain-epochs", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.03)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-scratch", action="store_true", help="skip the from-scratch baseline")
    ap.add_argument("--out", default="runs/finetune")
    args = ap.parse_args(argv)
    tr.require_positive(ap, args, ("epochs", "pretrain_epochs", "batch_size"))
    tr.make_out_dir(ap, args.out)

    weights = args.weights
    if weights is None:
        args.arch = args.arch or "resnet18"
        weights = os.path.join(args.out, "pretrain", f"{args.arch}.safetensors")
        if os.path.exists(weights):
            print(f"reusing pretrained checkpoint {weights}")
        else:
            print("step 1: pretraining on digits 0-4 with train_resnet.py")
            # lr 0.05: the 5-class subset (721 images) trains more stably than at the default 0.1
            pre = ["--arch", args.arch, "--classes", "0-4", "--epochs", str(args.pretrain_epochs),
                   "--lr", "0.05",
                   "--device", args.device, "--out", os.path.dirname(weights),
                   "--seed", str(args.seed)]
            if args.image_size:
                pre += ["--image-size", str(args.image_size)]
            tr.main(pre)
    arch, old_classes, cifar_stem, ckpt_size = describe_checkpoint(weights, args.arch)
    size = args.image_size or ckpt_size or (8 if args.data is None else 224)
    new = None if args.data else [5, 6, 7, 8, 9]
    train_set, test_set, names, (mean, std) = tr.load_datasets(args.data, size, new,
                                                                  args.skip_corrupt)
    train_loader = tn.data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                                      drop_last=len(train_set) > args.batch_size,
                                      num_workers=args.workers, seed=args.seed)
    test_loader = tn.data.DataLoader(test_set, batch_size=256, num_workers=args.workers)
    print(f"\nfine-tuning {arch} ({old_classes}-class checkpoint {weights}) on "
          f"{args.data or 'digits 5-9'}: {len(train_set)} train / {len(test_set)} test images, "
          f"{len(names)} classes, {size}x{size}, "
          f"{'frozen backbone' if args.freeze_backbone else 'all layers'}, {args.epochs} epochs")

    # the classic recipe: pretrained backbone, new head
    tn.manual_seed(args.seed)
    model = tr.build_model(arch, old_classes, cifar_stem, weights=weights).to(args.device)
    if args.freeze_backbone:
        model.requires_grad_(False)
    model.fc = Linear(model.fc.in_features, len(names)).to(args.device)
    _, preds, targets = tr.evaluate(model, test_loader, args.device)
    before = float((preds == targets).mean())
    start = time.perf_counter()
    tr.train(model, train_loader, test_loader, args.epochs, args.lr, args.weight_decay,
             args.device, label_smoothing=args.label_smoothing, desc="fine-tune",
             params=[p for p in model.parameters() if p.requires_grad],
             train_mode=frozen_backbone_mode(model) if args.freeze_backbone else None)
    t_ft = time.perf_counter() - start
    _, preds, targets = tr.evaluate(model, test_loader, args.device)
    after = float((preds == targets).mean())
    ckpt = os.path.join(args.out, f"{arch}_finetuned.safetensors")
    tn.save(model.state_dict(), ckpt, metadata=tr.checkpoint_metadata(
        arch, names, size, cifar_stem, mean, std, args.data, after))

    scratch = None
    if not args.no_scratch:
        tn.manual_seed(args.seed)
        fresh = tr.build_model(arch, len(names), cifar_stem).to(args.device)
        tr.train(fresh, train_loader, test_loader, args.epochs, args.lr, args.weight_decay,
                 args.device, label_smoothing=args.label_smoothing, desc="from scratch")
        _, p2, t2 = tr.evaluate(fresh, test_loader, args.device)
        scratch = float((p2 == t2).mean())

    print(f"\ntest accuracy on {args.data or 'digits 5-9'} ({len(test_set)} images):")
    print(f"  pretrained backbone + new head, before fine-tuning: {before:.4f}")
    print(f"  after fine-tuning {args.epochs} epochs ({t_ft:.0f} s):            {after:.4f}")
    if scratch is not None:
        print(f"  from scratch, same {args.epochs} epochs:                  {scratch:.4f}")
        verdict = "beats" if after > scratch else "does not beat"
        print(f"fine-tuning {verdict} training from scratch "
              f"({100 * (after - scratch):+.1f} points)")
    print(f"checkpoint: {ckpt}")
    return before, after, scratch


if __name__ == "__main__":
    main()
