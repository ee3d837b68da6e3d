"""Train a ResNet image classifier: digits by default, or your own image folders.

    python examples/train_resnet.py                                  # ResNet-18 on digits
    python examples/train_resnet.py --data pets/ --arch resnet50 --image-size 128 --epochs 10
    python examples/train_resnet.py --classes 0-4 --out runs/digits04  # a subset of digits
    python examples/train_resnet.py --data pets/ --resume runs/resnet/last.safetensors

``--data DIR`` expects the classic layout ``DIR/train/<class>/*.jpg`` and
``DIR/test/<class>/*.jpg`` (or ``DIR/val/...``); the test split may lack some of
train's classes (their report rows show no support), but not have others. A
folder of class folders alone (``DIR/<class>/*.jpg``) is split: a fixed 20% of
each class (chosen by a hash of each file's path, the same in every run and
script) is held out as the test set.
Without it the model trains on scikit-learn's 8x8 digits (``tn.data.Digits``,
bundled, no download), at their own size unless ``--image-size`` upsamples them, fed as 3 equal channels so the
checkpoint has the usual RGB ResNet shape. The defaults reach about 99% test
accuracy in about a minute on 2 CPU cores. Small images get the CIFAR stem (3x3 stride-1 conv, no
max-pool) unless ``--imagenet-stem``.

Output in ``--out``: ``<arch>.safetensors`` (torchvision parameter names; the
metadata records arch, classes, image size and normalization), ``curves.png``,
and a final report: accuracy, per-class precision/recall/F1, confusion matrix.
After every epoch ``last.safetensors`` holds the whole training state (weights,
optimizer, schedule, history, random generators), written atomically;
``--resume`` continues an interrupted run from it with the same flags (it exits
naming any flag that differs). ``--skip-corrupt`` leaves unreadable images out
of ``--data`` with a warning each, instead of stopping at the first.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from tqdm import tqdm

import tinynet as tn
import tinynet.optim as optim
from tinynet.data import transforms as T
from tinynet.functional.loss import cross_entropy
from tinynet.metrics import classification_report
from tinynet.models import resnet as resnets
from train_gpt import require_positive

ARCHS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
DIGITS_MEAN, DIGITS_STD = (0.25, 0.25, 0.25), (0.35, 0.35, 0.35)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def parse_classes(text):
    """'0-4' -> [0, 1, 2, 3, 4]; '1,3,5' -> [1, 3, 5]; None -> None."""
    if not text:
        return None
    out = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            out += list(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def digits_transforms(size):
    """Train (random shift by up to size/8 px) and test transforms for 8x8 digits at ``size``."""
    base = [T.Resize(size)] if size != 8 else []
    tail = [T.Grayscale(3), T.ToTensor(), T.Normalize(DIGITS_MEAN, DIGITS_STD)]
    train = T.Compose(base + [T.RandomCrop(size, padding=max(1, size // 8))] + tail)
    return train, T.Compose(base + tail)


def folder_transforms(size):
    """ImageNet-style train augmentation and center-crop evaluation at ``size``."""
    norm = [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    train = T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip()] + norm)
    test = T.Compose([T.Resize(int(round(size * 8 / 7))), T.CenterCrop(size)] + norm)
    return train, test


def checkpoint_metadata(arch, names, size, cifar_stem, mean, std, data, accuracy) -> dict:
    """The strings a checkpoint carries (``saliency.py`` and ``finetune_resnet.py`` read them).

    ``data`` is stored as an absolute path, so the folder is found from any
    working directory.
    """
    return {"arch": arch, "classes": json.dumps(names), "image_size": str(size),
            "cifar_stem": str(cifar_stem), "mean": ",".join(map(str, mean)),
            "std": ",".join(map(str, std)), "data": os.path.abspath(data) if data else "digits",
            "test_accuracy": f"{accuracy:.4f}"}


def checkpoint_classes(meta):
    """The class names saved in a checkpoint's metadata (a JSON list; older files: comma-joined)."""
    text = meta.get("classes")
    if not text:
        return None
    try:
        return [str(c) for c in json.loads(text)]
    except ValueError:
        return text.split(",")


# blocks per stage (layer1..layer4) and block type of each architecture, as torchvision builds them
ARCH_LAYOUTS = {("basic", (2, 2, 2, 2)): "resnet18", ("basic", (3, 4, 6, 3)): "resnet34",
                ("bottleneck", (3, 4, 6, 3)): "resnet50",
                ("bottleneck", (3, 4, 23, 3)): "resnet101",
                ("bottleneck", (3, 8, 36, 3)): "resnet152"}


def checkpoint_arch(state_dict):
    """The architecture a ResNet state dict (torchvision names) was saved from, or None.

    Read from its layers: bottleneck blocks have a ``conv3``, and the block
    indices of ``layer1``..``layer4`` give the blocks per stage.
    """
    blocks = [{int(k.split(".")[1]) for k in state_dict
               if k.startswith(f"layer{i}.") and k.split(".")[1].isdigit()} for i in range(1, 5)]
    kind = "bottleneck" if "layer1.0.conv3.weight" in state_dict else "basic"
    return ARCH_LAYOUTS.get((kind, tuple(len(b) for b in blocks)))


def load_datasets(data, image_size, classes=None, skip_corrupt=False):
    """(train set, test set, class names, normalization) from ``--data`` or digits.

    ``skip_corrupt``: leave unreadable images out of the folders with a warning
    naming each (``ImageFolder(skip_corrupt=True)``) instead of stopping the run
    at the first one.
    """
    if data is None:
        train_tf, test_tf = digits_transforms(image_size)
        train = tn.data.Digits(train=True, transform=train_tf, classes=classes)
        test = tn.data.Digits(train=False, transform=test_tf, classes=classes)
        return train, test, [str(c) for c in train.classes], (DIGITS_MEAN, DIGITS_STD)
    test_dir = next((os.path.join(data, d) for d in ("test", "val")
                     if os.path.isdir(os.path.join(data, d))), None)
    train_tf, test_tf = folder_transforms(image_size)
    has_train = os.path.isdir(os.path.join(data, "train"))
    if not has_train and test_dir is None and os.path.isdir(data):
        train, test, names, stats = split_class_folders(data, train_tf, test_tf, skip_corrupt)
        if len(test) == 0:
            raise SystemExit(f"--data {data}: no image is held out for testing (a class needs "
                             "at least 2 images; or give train/ and test/ folders)")
        return train, test, names, stats
    if not has_train or test_dir is None:
        raise SystemExit(f"--data {data}: expected {data}/train/<class>/ and "
                         f"{data}/test/<class>/ (or val/) image folders, or only "
                         f"{data}/<class>/ folders (20% held out for testing)")
    train = tn.data.ImageFolder(os.path.join(data, "train"), transform=train_tf,
                                skip_corrupt=skip_corrupt)
    test = tn.data.ImageFolder(test_dir, transform=test_tf, skip_corrupt=skip_corrupt,
                               allow_empty=True)
    split = os.path.basename(test_dir)
    unknown = sorted(set(test.classes) - set(train.classes))
    if unknown or not len(test):
        raise SystemExit(f"--data {data}: train classes {train.classes}, {split} classes "
                         f"{test.classes}: " + (f"{unknown} not among the train classes"
                                                if unknown else f"no images in {split}/"))
    if len(train.classes) < 2:
        raise SystemExit(f"--data {data}: found only the class {train.classes}; a classifier "
                         "needs at least two class folders under train/")
    missing = sorted(set(train.classes) - {test.classes[t] for t in test.targets})
    if missing:
        print(f"note: {split}/ has no images of the classes {missing}")
    if test.classes != train.classes:   # class folders missing there: keep train's indices
        index_by_class_names(test, train.classes)
    return train, test, list(train.classes), (IMAGENET_MEAN, IMAGENET_STD)


HELD_OUT = 0.2   # fraction of each class a folder without train/ and test/ keeps for testing


def split_class_folders(data, train_tf, test_tf, skip_corrupt=False):
    """(train set, test set, class names, normalization) from ``data/<class>/*`` alone.

    Within each class the images are ordered by a hash of their path relative to
    ``data`` and the first ``HELD_OUT`` of them (at least one where a class has two
    or more) become the test set. So every run, ``--resume`` and the other scripts
    see the same split, and an image skipped as corrupt or added later moves at
    most one other image between the splits (a shuffle by position would reshuffle
    the whole class).
    """
    import copy
    import zlib
    train = tn.data.ImageFolder(data, transform=train_tf, skip_corrupt=skip_corrupt)
    if len(train.classes) < 2:
        raise SystemExit(f"--data {data}: found only the class {train.classes}; a classifier "
                         "needs at least two class folders")
    test = copy.copy(train)        # the same files, read with the test transform
    test.transform = test_tf
    targets = np.asarray(train.targets)
    rank = np.array([zlib.crc32(os.path.relpath(path, data).replace(os.sep, "/").encode())
                     for path, _ in train.samples], dtype=np.int64)
    is_test = np.zeros(len(targets), dtype=bool)
    for c in range(len(train.classes)):
        idx = np.flatnonzero(targets == c)
        idx = idx[np.lexsort((idx, rank[idx]))]       # by hash (ties: folder order)
        n = len(idx)
        is_test[idx[:max(1, round(n * HELD_OUT)) if n >= 2 else 0]] = True
    print(f"note: {data} has no train/ and test/ folders; testing on {is_test.sum()} of its "
          f"{len(targets)} images ({HELD_OUT:.0%} of each class, the same every run)")
    return (tn.data.Subset(train, np.flatnonzero(~is_test)),
            tn.data.Subset(test, np.flatnonzero(is_test)), list(train.classes),
            (IMAGENET_MEAN, IMAGENET_STD))


def index_by_class_names(folder, classes):
    """Re-label an ImageFolder whose classes are a subset of ``classes`` by their index there.

    (A split without some class folder would otherwise number its classes
    differently from the train split.)
    """
    to_idx = {c: i for i, c in enumerate(classes)}
    folder.samples = folder.imgs = [(p, to_idx[folder.classes[t]]) for p, t in folder.samples]
    folder.targets = [t for _, t in folder.samples]
    folder.classes, folder.class_to_idx = list(classes), to_idx


def make_out_dir(ap, path, flag="--out"):
    """Create the output folder ``path`` (parents too); ``ap.error`` when a file is there."""
    if os.path.exists(path) and not os.path.isdir(path):
        ap.error(f"{flag} {path} is a file; {flag} names the folder the outputs are written "
                 "to (it is created when missing)")
    os.makedirs(path, exist_ok=True)


def build_model(arch, num_classes, cifar_stem, weights=None):
    """A torchvision-layout ResNet, optionally loading a safetensors checkpoint."""
    return getattr(resnets, arch)(num_classes=num_classes, cifar_stem=cifar_stem, weights=weights)


def evaluate(model, loader, device):
    """(mean loss, predictions, targets) over ``loader`` in eval mode."""
    was_training = model.training
    model.eval()
    total, preds, targets = 0.0, [], []
    with tn.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            total += cross_entropy(logits, y, reduction="sum").item()
            preds.append(logits.argmax(1).numpy())
            targets.append(y.numpy())
    model.train(was_training)
    preds, targets = np.concatenate(preds), np.concatenate(targets)
    return total / len(targets), preds, targets


def train(model, train_loader, test_loader, epochs, lr, weight_decay, device, label_smoothing=0.0,
          params=None, desc="train", train_mode=None, state_path=None, resume=None, config=None):
    """SGD (Nesterov momentum 0.9) with a one-cycle schedule; returns the history dict.

    ``params``: the parameters to train (default all that require grad);
    ``train_mode``: called at each epoch start instead of ``model.train()``;
    ``state_path``: where the training state goes after every epoch (see
    :func:`save_state`), with ``config`` (see :func:`run_config`) in it;
    ``resume``: such a state (from :func:`load_state`) to continue from, its
    weights already in ``model``.
    """
    params = [p for p in (params or model.parameters()) if p.requires_grad]
    opt = optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    total = epochs * len(train_loader)
    sched = None
    if total >= 4:  # one-cycle: warm up over a quarter of the steps (at least 2), then anneal
        sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total,
                                              pct_start=min(0.5, max(0.25, 2 / total)))
    history = {"train_loss": [], "val_loss": [], "train_acc": [], "val_acc": [], "lr": []}
    first = 1
    if resume is not None:
        saved_steps = (resume["scheduler"] or {}).get("total_steps")
        if saved_steps != (None if sched is None else total):
            # a state from before run_config was saved: at least the schedule must fit
            raise SystemExit(f"--resume: the saved one-cycle schedule spans {saved_steps or 'no'} "
                             f"steps, this run's {total if sched else 'no'} steps (--epochs x "
                             "steps per epoch); resume with the flags and data it started with")
        opt.load_state_dict(resume["optimizer"])
        if sched is not None:
            sched.load_state_dict(resume["scheduler"])
        history = resume["history"]
        first = resume["epoch"] + 1
    for epoch in range(first, epochs + 1):
        train_mode() if train_mode else model.train()
        seen, correct, total = 0, 0, 0.0
        bar = tqdm(train_loader, desc=f"{desc} {epoch}/{epochs}", leave=False, dynamic_ncols=True)
        for x, y in bar:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss = cross_entropy(logits, y, label_smoothing=label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            n = len(y)
            seen += n
            total += loss.item() * n
            correct += int((logits.argmax(1).numpy() == y.numpy()).sum())
            bar.set_postfix(loss=f"{total / seen:.3f}", acc=f"{correct / seen:.3f}")
        val_loss, preds, targets = evaluate(model, test_loader, device)
        history["train_loss"].append(total / seen)
        history["train_acc"].append(correct / seen)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(float((preds == targets).mean()))
        history["lr"].append(opt.param_groups[0]["lr"])
        tqdm.write(f"{desc} epoch {epoch:3d}  train loss {total / seen:.4f} "
                   f"acc {correct / seen:.4f}  |  test loss {val_loss:.4f} acc {history['val_acc'][-1]:.4f}")
        if state_path is not None:
            save_state(state_path, model, opt, sched, history, epoch, train_loader, config=config)
    return history


def save_state(path, model, opt, sched, history, epoch, loader, config=None):
    """Everything a run needs to continue after ``epoch``, in one atomic safetensors file.

    ``config`` (see :func:`run_config`) lets :func:`load_state` check that the
    resuming run has the same settings.
    """
    tn.io.save_training_state(
        path, model=model.state_dict(), optimizer=opt.state_dict(),
        scheduler=None if sched is None else sched.state_dict(), history=history, epoch=epoch,
        rng=tn.backend.get_rng_state(),
        loader_rng=None if loader.generator is None else loader.generator.bit_generator.state,
        config=config)


def run_config(args, size, names, train_set, train_loader) -> dict:
    """The settings a resumed run must share with the run it continues.

    Keys starting with ``--`` are flags; the others describe the data. The
    one-cycle schedule is laid out over ``--epochs`` x steps per epoch, so
    neither can change halfway; the rest decide the weights an uninterrupted
    run would reach. (``--device``, ``--workers`` and ``--out`` may change.)
    """
    return {"--arch": args.arch, "--image-size": size, "--imagenet-stem": args.imagenet_stem,
            "--classes": args.classes, "--epochs": args.epochs, "--batch-size": args.batch_size,
            "--lr": args.lr, "--weight-decay": args.weight_decay,
            "--label-smoothing": args.label_smoothing, "--seed": args.seed,
            "class names": list(names), "train images": len(train_set),
            "steps per epoch": len(train_loader)}


def _config_differences(saved, current) -> list[str]:
    """'--epochs 2 (this run: 3)' for each setting in which ``current`` differs from ``saved``."""
    out = []
    for key, value in current.items():
        if key in saved and saved[key] != value:
            out.append(f"{key} {saved[key]} (this run: {value})" if key.startswith("--")
                       else f"{key}: {saved[key]} (this run: {value})")
    return out


def load_state(path, model, loader, device, config=None):
    """Load :func:`save_state`'s file: weights into ``model``, generators restored; returns it.

    With ``config`` (see :func:`run_config`), a state saved under other settings
    exits with the settings that differ, before anything is loaded.
    """
    try:
        state = tn.io.load_training_state(path, device=device)
    except (OSError, ValueError) as e:
        raise SystemExit(f"--resume {path}: {e}") from e
    differences = _config_differences(state.get("config") or {}, config or {})
    if differences:
        raise SystemExit(f"--resume {path}: that run had " + "; ".join(differences)
                         + ". Resume with the flags and data it started with.")
    try:
        model.load_state_dict(state["model"])
    except (KeyError, tn.nn.StateDictError) as e:
        raise SystemExit(f"--resume {path}: {e}") from e
    tn.backend.set_rng_state(state["rng"])
    if loader.generator is not None and state["loader_rng"] is not None:
        loader.generator.bit_generator.state = state["loader_rng"]
    return state


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=ARCHS, default="resnet18")
    ap.add_argument("--data", default=None, help="folder with train/ and test/ (or val/) "
                    "image folders, or only class folders (20%% of each held out for "
                    "testing); default: the bundled digits")
    ap.add_argument("--classes", default=None, help="digits only: e.g. 0-4 or 1,3,5")
    ap.add_argument("--image-size", type=int, default=None,
                    help="input side (default: 8, the digits' own size; 128 for --data)")
    ap.add_argument("--skip-corrupt", action="store_true", help="--data: leave unreadable "
                    "images out with a warning instead of stopping at the first")
    ap.add_argument("--imagenet-stem", action="store_true",
                    help="7x7/2 conv + max-pool stem even for small images")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/resnet")
    ap.add_argument("--resume", default=None, help="continue from a last.safetensors written "
                    "by an earlier run with the same flags")
    args = ap.parse_args(argv)
    require_positive(ap, args, ("epochs", "batch_size"))

    tn.manual_seed(args.seed)
    make_out_dir(ap, args.out)
    size = args.image_size or (8 if args.data is None else 128)
    classes = parse_classes(args.classes)
    if classes is not None and args.data is not None:
        raise SystemExit("--classes selects digits; with --data, arrange the folders instead")
    train_set, test_set, names, (mean, std) = load_datasets(args.data, size, classes,
                                                               args.skip_corrupt)
    train_loader = tn.data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                                      drop_last=len(train_set) > args.batch_size,
                                      num_workers=args.workers, seed=args.seed)
    test_loader = tn.data.DataLoader(test_set, batch_size=256, num_workers=args.workers)
    cifar_stem = size <= 64 and not args.imagenet_stem
    model = build_model(args.arch, len(names), cifar_stem).to(args.device)
    nparams = sum(p.data.size for p in model.parameters())
    print(f"{args.arch} ({'CIFAR' if cifar_stem else 'ImageNet'} stem, {nparams:,} parameters) "
          f"on {'digits' if args.data is None else args.data} at {size}x{size}: "
          f"{len(train_set)} train / {len(test_set)} test images, {len(names)} classes, "
          f"device {args.device}")

    config = run_config(args, size, names, train_set, train_loader)
    resume = None
    if args.resume:
        resume = load_state(args.resume, model, train_loader, args.device, config)
        print(f"resuming after epoch {resume['epoch']} of {args.epochs} from {args.resume}")
    start = time.perf_counter()
    history = train(model, train_loader, test_loader, args.epochs, args.lr, args.weight_decay,
                    args.device, args.label_smoothing,
                    state_path=os.path.join(args.out, "last.safetensors"), resume=resume,
                    config=config)
    elapsed = time.perf_counter() - start

    _, preds, targets = evaluate(model, test_loader, args.device)
    acc = float((preds == targets).mean())
    done = resume["epoch"] if resume else 0   # epochs of the run this one resumed
    ran = args.epochs - done
    print(f"\ntrained {ran} epoch{'s' if ran != 1 else ''} in {elapsed:.1f} s"
          + (f" (epochs {done + 1}-{args.epochs}, resumed)" if done else ""))
    if str(args.device).startswith("cuda"):
        print(f"peak GPU memory: {tn.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    print(classification_report(preds, targets, class_names=names))
    ckpt = os.path.join(args.out, f"{args.arch}.safetensors")
    tn.save(model.state_dict(), ckpt, metadata=checkpoint_metadata(
        args.arch, names, size, cifar_stem, mean, std, args.data, acc))
    print(f"checkpoint: {ckpt}")
    try:
        png = os.path.join(args.out, "curves.png")
        tn.viz.plot_history(history, png, title=f"{args.arch} on {args.data or 'digits'}")
        print(f"curves: {png}")
    except ImportError as e:
        print(f"(no curves: {e})")
    print(f"final test accuracy: {acc:.4f}")
    return acc


if __name__ == "__main__":
    main()
