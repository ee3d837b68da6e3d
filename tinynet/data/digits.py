"""Digits: scikit-learn's 8x8 handwritten digits (1797 images, 10 classes).

Small enough to train on in seconds on a CPU, shipped inside scikit-learn (no
download), so examples and tests can use a real image data set anywhere.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from .collate import collate_numpy
from .dataset import Dataset

_cache = None  # (images (N, 8, 8) uint8 in 0..16, labels (N,) int64), loaded once per process


def _load_digits():
    global _cache
    if _cache is None:
        try:
            from sklearn.datasets import load_digits
        except ImportError as e:
            raise ImportError("Digits needs scikit-learn, which is not installed: "
                              "pip install 'tinynet[examples]'") from e
        d = load_digits()
        _cache = (d.images.astype(np.uint8), d.target.astype(np.int64))
    return _cache


def _split(labels, test_fraction):
    """Stratified split with the fixed seed 0: (train indices, test indices), each sorted.

    Each class contributes round(count * test_fraction) of its images, chosen by
    one fixed random permutation, to the test set, so the split never changes.
    """
    perm = np.random.default_rng(0).permutation(len(labels))
    test = []
    for c in np.unique(labels):
        members = perm[labels[perm] == c]
        test.append(members[:int(round(len(members) * test_fraction))])
    test = np.sort(np.concatenate(test))
    train = np.setdiff1d(np.arange(len(labels)), test)
    return train, test


class Digits(Dataset):
    """The scikit-learn digits, split into a fixed, stratified train/test part.

    Args:
        train: the train part (else the test part).
        transform: None: items are ``(image, label)`` with image a float32 array
            (1, 8, 8) in [0, 1] (pixel / 16). Given: it receives a PIL 'L' image
            of the digit (uint8 0..255) and its result is the image.
        target_transform: applied to the label.
        test_fraction: share of each class held out for the test part (seed 0).
        classes: keep only these digits, relabelled by position
            (``classes=[5, 6, 7, 8, 9]`` gives labels 0..4 with 0 meaning digit 5).

    Attributes: ``classes`` (the digit of each label), ``indices`` (positions in
    scikit-learn's array), ``data`` (N, 1, 8, 8)
    float32, ``targets`` (N,) int64. Needs scikit-learn (imported on first use).
    """

    def __init__(self, train=True, transform=None, target_transform=None, test_fraction=0.2,
                 classes=None):
        if not 0 < test_fraction < 1:
            raise ValueError(f"Digits: test_fraction must be in (0, 1), got {test_fraction}")
        images, labels = _load_digits()
        train_idx, test_idx = _split(labels, test_fraction)
        idx = train_idx if train else test_idx
        if classes is None:
            classes = list(range(10))
        classes = [int(c) for c in classes]
        if len(set(classes)) != len(classes) or not all(0 <= c <= 9 for c in classes) or not classes:
            raise ValueError(f"Digits: classes must be distinct digits 0..9, got {classes}")
        remap = np.full(10, -1, dtype=np.int64)
        remap[classes] = np.arange(len(classes))
        idx = idx[remap[labels[idx]] >= 0]
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        self.classes = classes
        self.indices = idx                         # positions in sklearn's 1797 images
        self._pixels = images[idx]                                           # (N, 8, 8) 0..16
        self.data = (self._pixels[:, None] / np.float32(16)).astype(np.float32)  # (N, 1, 8, 8)
        self.targets = remap[labels[idx]]                                    # (N,) int64

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        label = int(self.targets[index])
        if self.target_transform is not None:
            label = self.target_transform(label)
        if self.transform is None:
            return self.data[index], label
        # 0..16 -> 0..255 (16 * 255 / 16 = 255 exactly)
        pixels = (self._pixels[index].astype(np.uint16) * 255 + 8) // 16
        return self.transform(Image.fromarray(pixels.astype(np.uint8))), label

    def __getitems__(self, indices):
        """A whole batch: (images (B, 1, 8, 8) float32, labels (B,) int64) with one fancy-index."""
        if self.transform is not None or self.target_transform is not None:
            return collate_numpy([self[int(i)] for i in indices])
        return self.data[indices], self.targets[indices]
