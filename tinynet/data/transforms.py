"""Image transforms (Pillow-based), torchvision-shaped.

Transforms work on ``PIL.Image`` objects until :class:`ToTensor`, which turns an
image into a float32 CHW ``tn.Tensor`` in [0, 1] on the CPU, as torchvision's does
(``transform(img).unsqueeze(0).to(device)`` works; in DataLoader workers the collate
step stacks the samples' arrays, so only numpy arrays travel back).
:class:`Normalize` and the flips work on CHW (or NCHW) Tensors and numpy arrays.

Randomness: every random transform draws from one module-level numpy
Generator, :func:`get_transform_rng`. By default that is
``tinynet.backend.get_generator()`` (reproducible after ``tn.manual_seed``);
:func:`set_transform_rng` replaces it. The DataLoader installs a generator
derived from its own seed for every batch it fetches (in the main process and
in workers alike), so a seeded DataLoader gives the same augmentations on
every run, whatever ``num_workers`` is.
"""
from __future__ import annotations

import contextlib
import math
import numbers

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from .. import backend
from ..tensor import Tensor

_rng = None  # the Generator set by set_transform_rng, or None for the backend's


def set_transform_rng(generator) -> None:
    """Make random transforms draw from ``generator`` (a numpy Generator or int seed).

    ``None`` goes back to the default, ``tinynet.backend.get_generator()``.
    """
    global _rng
    if generator is not None and not isinstance(generator, np.random.Generator):
        generator = np.random.default_rng(generator)
    _rng = generator


def get_transform_rng() -> np.random.Generator:
    """The numpy Generator random transforms draw from now."""
    return _rng if _rng is not None else backend.get_generator("cpu")


@contextlib.contextmanager
def transform_rng(generator):
    """Context manager: random transforms use ``generator`` inside the block."""
    global _rng
    saved = _rng
    set_transform_rng(generator)
    try:
        yield
    finally:
        _rng = saved


# ------------------------------------------------------------------ helpers
_RESAMPLE = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
             "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS,
             "box": Image.Resampling.BOX, "hamming": Image.Resampling.HAMMING}


def _resample(interpolation):
    if isinstance(interpolation, str):
        try:
            return _RESAMPLE[interpolation.lower()]
        except KeyError:
            raise ValueError(f"unknown interpolation {interpolation!r}: expected one of "
                             f"{sorted(_RESAMPLE)}") from None
    return interpolation


def _size_hw(size, name) -> tuple[int, int]:
    """(h, w) from an int (square) or a (h, w) pair."""
    if isinstance(size, numbers.Integral):
        return int(size), int(size)
    if not isinstance(size, (tuple, list)) or not all(isinstance(s, numbers.Integral)
                                                      for s in size):
        raise TypeError(f"{name}: size must be an int or a sequence of ints, got {size!r}")
    if len(size) == 1:
        return int(size[0]), int(size[0])
    if len(size) != 2:
        raise ValueError(f"{name}: size must be an int or (h, w), got {size!r}")
    return int(size[0]), int(size[1])


def _check_pil(img, name):
    if not isinstance(img, Image.Image):
        raise TypeError(f"{name} works on PIL images, got {type(img).__name__} "
                        "(put it before ToTensor)")


def _fill_for(img, fill):
    """A fill value in the shape Pillow wants for ``img``'s mode."""
    if isinstance(fill, numbers.Number) and len(img.getbands()) > 1:
        return (int(fill),) * len(img.getbands())
    return tuple(fill) if isinstance(fill, (list, tuple)) else fill


def _pad(img, ltrb, fill=0, padding_mode="constant"):
    """Pad a PIL image by (left, top, right, bottom) pixels."""
    left, top, right, bottom = ltrb
    if padding_mode == "constant":
        return ImageOps.expand(img, border=(left, top, right, bottom), fill=_fill_for(img, fill))
    if padding_mode not in ("edge", "reflect", "symmetric"):
        raise ValueError(f"Pad: unknown padding_mode {padding_mode!r}: expected 'constant', "
                         "'edge', 'reflect' or 'symmetric'")
    a = np.asarray(img)
    widths = ((top, bottom), (left, right)) + ((0, 0),) * (a.ndim - 2)
    out = Image.fromarray(np.pad(a, widths, mode=padding_mode))
    if img.mode == "P":  # the array held palette indices: give them their palette back
        out.putpalette(img.getpalette())
    return out


def _padding_ltrb(padding) -> tuple[int, int, int, int]:
    """torchvision's padding forms: int (all sides), (lr, tb) or (l, t, r, b)."""
    if isinstance(padding, numbers.Integral):
        return (int(padding),) * 4
    padding = tuple(int(p) for p in padding)
    if len(padding) == 2:
        return padding[0], padding[1], padding[0], padding[1]
    if len(padding) == 4:
        return padding
    raise ValueError(f"padding must be an int, (lr, tb) or (l, t, r, b), got {padding!r}")


class _Transform:
    """Base class: a readable repr from the constructor's stored arguments."""

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


# --------------------------------------------------------------- composition
class Compose(_Transform):
    """Apply ``transforms`` one after another."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class Lambda(_Transform):
    """Apply a user function ``fn(x)`` (under 'spawn' workers it must be picklable)."""

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"Lambda needs a callable, got {type(fn).__name__}")
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)


# ---------------------------------------------------------------- geometry
class Resize(_Transform):
    """Resize a PIL image.

    ``size`` int (or a one-element sequence ``[size]``, as in torchvision): the
    smaller edge becomes ``size``, keeping the aspect ratio (the other edge is
    truncated, as torchvision does); ``(h, w)``: exactly that. ``max_size`` (with
    an int size only): if the longer edge would exceed it, the image is scaled so
    that the longer edge is ``max_size`` instead (the smaller edge then comes out
    under ``size``). Pillow always antialiases when it shrinks, so ``antialias`` is
    accepted for torchvision's signature and has no effect (as torchvision's on
    PIL images).
    """

    def __init__(self, size, interpolation="bilinear", max_size=None, antialias=True):
        _size_hw(size, "Resize")   # checks the type now rather than at the first image
        self.size = size
        self.interpolation = interpolation
        self.smaller_edge = (size if isinstance(size, numbers.Integral)
                             else size[0] if len(size) == 1 else None)
        if max_size is not None and (self.smaller_edge is None or max_size <= self.smaller_edge):
            raise ValueError(f"Resize: max_size={max_size} needs an int size smaller than it, "
                             f"got size={size!r}")
        self.max_size, self.antialias = max_size, antialias

    def __call__(self, img):
        _check_pil(img, "Resize")
        w, h = img.size
        if self.smaller_edge is not None:
            short, long = (w, h) if w <= h else (h, w)
            new_short, new_long = int(self.smaller_edge), int(self.smaller_edge * long / short)
            if self.max_size is not None and new_long > self.max_size:
                new_short, new_long = int(self.max_size * new_short / new_long), self.max_size
            new_h, new_w = (new_long, new_short) if w <= h else (new_short, new_long)
        else:
            new_h, new_w = _size_hw(self.size, "Resize")
        if (new_w, new_h) == (w, h):
            return img
        return img.resize((new_w, new_h), _resample(self.interpolation))


class CenterCrop(_Transform):
    """Crop the center ``size`` (int or (h, w)); an image smaller than that is zero-padded.

    As in torchvision, a side shorter than the crop gets ``(crop - side) // 2``
    zeros before it and the rest after it; a longer side is cropped from
    ``round((side - crop) / 2)``.
    """

    def __init__(self, size):
        self.size = size

    def __call__(self, img):
        _check_pil(img, "CenterCrop")
        th, tw = _size_hw(self.size, "CenterCrop")
        w, h = img.size
        # not round() for a short side: it takes -1.5 to -2, one pixel more before than torchvision
        left = -((tw - w) // 2) if tw > w else int(round((w - tw) / 2.0))
        top = -((th - h) // 2) if th > h else int(round((h - th) / 2.0))
        return img.crop((left, top, left + tw, top + th))  # Pillow fills outside with 0


class Pad(_Transform):
    """Pad a PIL image: ``padding`` int, (lr, tb) or (l, t, r, b); mode constant/edge/reflect/symmetric."""

    def __init__(self, padding, fill=0, padding_mode="constant"):
        self.padding = padding
        self.fill = fill
        self.padding_mode = padding_mode

    def __call__(self, img):
        _check_pil(img, "Pad")
        return _pad(img, _padding_ltrb(self.padding), self.fill, self.padding_mode)


class RandomCrop(_Transform):
    """Crop a random ``size`` window, after optional ``padding`` (CIFAR-style augmentation).

    Args:
        size: int or (h, w) of the crop.
        padding: None, int, (lr, tb) or (l, t, r, b) pixels added first.
        pad_if_needed: pad an image smaller than ``size`` instead of raising.
        fill, padding_mode: as in :class:`Pad`.
    """

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size = size
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    def __call__(self, img):
        _check_pil(img, "RandomCrop")
        th, tw = _size_hw(self.size, "RandomCrop")
        if self.padding is not None:
            img = _pad(img, _padding_ltrb(self.padding), self.fill, self.padding_mode)
        w, h = img.size
        if self.pad_if_needed and (w < tw or h < th):
            dw, dh = max(tw - w, 0), max(th - h, 0)
            img = _pad(img, (dw, dh, dw, dh), self.fill, self.padding_mode)
            w, h = img.size
        if w < tw or h < th:
            raise ValueError(f"RandomCrop: crop size {(th, tw)} is larger than the (padded) "
                             f"image size {(h, w)}")
        rng = get_transform_rng()
        top = int(rng.integers(0, h - th + 1))
        left = int(rng.integers(0, w - tw + 1))
        return img.crop((left, top, left + tw, top + th))


class RandomResizedCrop(_Transform):
    """Crop a random area/aspect-ratio window and resize it to ``size`` (ImageNet-style).

    The window covers a fraction of the area drawn uniformly from ``scale`` with
    an aspect ratio drawn log-uniformly from ``ratio``; after 10 failed draws it
    falls back to the central crop with the ratio clamped (torchvision's rule).
    """

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), interpolation="bilinear"):
        self.size = size
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.interpolation = interpolation

    def _window(self, w, h, rng):
        """(left, top, width, height) of the crop window."""
        area = w * h
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = area * rng.uniform(self.scale[0], self.scale[1])
            aspect = math.exp(rng.uniform(*log_ratio))
            cw = int(round(math.sqrt(target * aspect)))
            ch = int(round(math.sqrt(target / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                top = int(rng.integers(0, h - ch + 1))
                left = int(rng.integers(0, w - cw + 1))
                return left, top, cw, ch
        in_ratio = w / h
        if in_ratio < min(self.ratio):
            cw, ch = w, int(round(w / min(self.ratio)))
        elif in_ratio > max(self.ratio):
            ch, cw = h, int(round(h * max(self.ratio)))
        else:
            cw, ch = w, h
        return (w - cw) // 2, (h - ch) // 2, cw, ch

    def __call__(self, img):
        _check_pil(img, "RandomResizedCrop")
        th, tw = _size_hw(self.size, "RandomResizedCrop")
        left, top, cw, ch = self._window(*img.size, get_transform_rng())
        return img.resize((tw, th), _resample(self.interpolation),
                          box=(left, top, left + cw, top + ch))


def _flip(x, horizontal: bool, name: str):
    if isinstance(x, Image.Image):
        return x.transpose(Image.Transpose.FLIP_LEFT_RIGHT if horizontal
                           else Image.Transpose.FLIP_TOP_BOTTOM)
    if isinstance(x, np.ndarray):  # an (..., H, W) array
        if x.ndim == 3 and x.shape[-1] in (1, 3, 4) and x.shape[0] > 4:
            # (H, W, C), as ToTensor reads arrays: flipping its last axis would swap colours
            raise ValueError(f"{name}: a numpy array of shape {x.shape} looks like an "
                             "(H, W, C) image, but flips read arrays as (..., H, W); pass a "
                             "PIL image, or flip after ToTensor()")
        return np.ascontiguousarray(x[..., ::-1] if horizontal else x[..., ::-1, :])
    if isinstance(x, Tensor):  # an (..., H, W) tensor, e.g. after ToTensor
        return x.flip(-1 if horizontal else -2)
    raise TypeError(f"{name} works on PIL images or (..., H, W) tensors or numpy arrays, "
                    f"got {type(x).__name__}")


class RandomHorizontalFlip(_Transform):
    """Mirror left-right with probability ``p`` (PIL image, or (..., H, W) tensor/array)."""

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, x):
        if get_transform_rng().random() < self.p:
            return _flip(x, True, "RandomHorizontalFlip")
        return x


class RandomVerticalFlip(_Transform):
    """Mirror top-bottom with probability ``p`` (PIL image, or (..., H, W) tensor/array)."""

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, x):
        if get_transform_rng().random() < self.p:
            return _flip(x, False, "RandomVerticalFlip")
        return x


class RandomRotation(_Transform):
    """Rotate by an angle drawn uniformly from ``degrees`` (d -> (-d, d)), counter-clockwise.

    ``expand`` grows the output to hold the whole rotated image; uncovered
    pixels get ``fill``.
    """

    def __init__(self, degrees, interpolation="nearest", expand=False, center=None, fill=0):
        if isinstance(degrees, numbers.Number):
            if degrees < 0:
                raise ValueError(f"RandomRotation: degrees must be >= 0, got {degrees}")
            degrees = (-degrees, degrees)
        self.degrees = tuple(float(d) for d in degrees)
        self.interpolation = interpolation
        self.expand = expand
        self.center = center
        self.fill = fill

    def __call__(self, img):
        _check_pil(img, "RandomRotation")
        angle = float(get_transform_rng().uniform(*self.degrees))
        return img.rotate(angle, _resample(self.interpolation), expand=self.expand,
                          center=self.center, fillcolor=_fill_for(img, self.fill))


# ------------------------------------------------------------------- color
def _jitter_range(value, name, center=1.0, bound=(0.0, float("inf"))):
    if value is None:
        return None
    if isinstance(value, numbers.Number):
        if value < 0:
            raise ValueError(f"ColorJitter: {name} must be >= 0, got {value}")
        lo, hi = center - value, center + value
        lo = max(lo, bound[0]) if center == 1.0 else lo
    else:
        lo, hi = float(value[0]), float(value[1])
    if not bound[0] <= lo <= hi <= bound[1]:
        raise ValueError(f"ColorJitter: {name} range {(lo, hi)} must lie within {bound}")
    return None if lo == hi == center else (lo, hi)


def _adjust_hue(img, shift):
    """Rotate the hue channel by ``shift`` (fraction of a turn, in [-0.5, 0.5])."""
    if img.mode in ("L", "1", "I", "F"):
        return img
    alpha = img.getchannel("A") if img.mode == "RGBA" else None
    h, s, v = img.convert("RGB").convert("HSV").split()
    hue = (np.asarray(h, dtype=np.int16) + int(round(shift * 255))) % 256  # wraps around
    out = Image.merge("HSV", (Image.fromarray(hue.astype(np.uint8)), s, v)).convert("RGB")
    if alpha is not None:
        out.putalpha(alpha)
    return out


class ColorJitter(_Transform):
    """Randomly change brightness, contrast, saturation and hue, in a random order.

    A number ``b`` means a factor drawn from [max(0, 1 - b), 1 + b] (hue: a shift
    drawn from [-h, h], h <= 0.5); a pair gives the range directly. Factor 1
    (shift 0) leaves the image unchanged.
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0):
        self.brightness = _jitter_range(brightness, "brightness")
        self.contrast = _jitter_range(contrast, "contrast")
        self.saturation = _jitter_range(saturation, "saturation")
        self.hue = _jitter_range(hue, "hue", center=0.0, bound=(-0.5, 0.5))

    def __call__(self, img):
        _check_pil(img, "ColorJitter")
        rng = get_transform_rng()
        order = rng.permutation(4)
        ranges = (self.brightness, self.contrast, self.saturation, self.hue)
        factors = [None if r is None else float(rng.uniform(*r)) for r in ranges]
        for i in order:
            f = factors[i]
            if f is None:
                continue
            if i == 0:
                img = ImageEnhance.Brightness(img).enhance(f)
            elif i == 1:
                img = ImageEnhance.Contrast(img).enhance(f)
            elif i == 2:
                img = ImageEnhance.Color(img).enhance(f)
            else:
                img = _adjust_hue(img, f)
        return img


class Grayscale(_Transform):
    """Convert to grayscale with 1 or 3 (equal) output channels."""

    def __init__(self, num_output_channels=1):
        if num_output_channels not in (1, 3):
            raise ValueError(f"Grayscale: num_output_channels must be 1 or 3, got {num_output_channels}")
        self.num_output_channels = num_output_channels

    def __call__(self, img):
        _check_pil(img, "Grayscale")
        img = img.convert("L")
        return img.convert("RGB") if self.num_output_channels == 3 else img


# --------------------------------------------------------------- to arrays
class ToTensor(_Transform):
    """PIL image or HWC numpy array -> float32 CHW ``tn.Tensor`` on the CPU, as torchvision.

    uint8 values are divided by 255 (to [0, 1]), uint16 by 65535; float inputs
    are only cast to float32; a 2-D (grayscale) input gets a channel axis (1, H, W).
    The tensor wraps a new array (no further copy); the DataLoader's collate stacks
    those arrays into the batch.
    """

    def __call__(self, pic):
        if isinstance(pic, Image.Image):
            a = np.asarray(pic.convert("L") if pic.mode == "1" else pic)
        elif isinstance(pic, np.ndarray):
            a = pic
        else:
            raise TypeError(f"ToTensor: expected a PIL image or numpy array, got {type(pic).__name__}")
        if a.ndim == 2:
            a = a[:, :, None]
        if a.ndim != 3:
            raise ValueError(f"ToTensor: expected an (H, W) or (H, W, C) image, got shape {a.shape}")
        chw = a.transpose(2, 0, 1)
        if a.dtype.kind == "u" and a.dtype.itemsize == 1:
            return Tensor(np.divide(chw, np.float32(255), dtype=np.float32))
        if a.dtype.kind == "u" and a.dtype.itemsize == 2:  # either byte order (I;16, I;16B)
            return Tensor(np.divide(chw, np.float32(65535), dtype=np.float32))
        return Tensor(np.ascontiguousarray(chw, dtype=np.float32))


class Normalize(_Transform):
    """``(x - mean[c]) / std[c]`` per channel of a (..., C, H, W) array or Tensor.

    ``mean`` and ``std`` hold C values each, or one value for all channels; one
    value on either side goes with every value on the other (torchvision
    broadcasts them the same way).

    numpy arrays give float32 arrays; Tensors give Tensors through differentiable
    Tensor ops, on the input's device. ``inplace=True`` writes into the input (a
    Tensor through ``sub_``/``div_``, as torchvision). The input must be floating
    (as in torchvision): integer pixels mean ``ToTensor`` was left out, and would be
    normalized from [0, 255].
    """

    def __init__(self, mean, std, inplace=False):
        self.mean = tuple(float(m) for m in np.atleast_1d(mean))
        self.std = tuple(float(s) for s in np.atleast_1d(std))
        if len(self.mean) == 1 and len(self.std) > 1:
            self.mean *= len(self.std)
        elif len(self.std) == 1 and len(self.mean) > 1:
            self.std *= len(self.mean)
        if len(self.mean) != len(self.std):
            raise ValueError(f"Normalize: mean has {len(self.mean)} values but std has {len(self.std)}")
        if any(s == 0 for s in self.std):
            raise ValueError(f"Normalize: std {self.std} contains a zero (division by zero)")
        self.inplace = inplace

    def _stats(self, shape):
        if len(shape) < 3:
            raise ValueError(f"Normalize: expected a (..., C, H, W) input, got shape {tuple(shape)}")
        c = shape[-3]
        if len(self.mean) not in (1, c):
            hint = ("; an (H, W, C) image? ToTensor() makes it (C, H, W)"
                    if shape[-1] == len(self.mean) else "")
            raise ValueError(f"Normalize: {len(self.mean)} mean/std values for an input with "
                             f"{c} channels (shape {tuple(shape)}){hint}")
        m = np.asarray(self.mean, dtype=np.float32).reshape(-1, 1, 1)
        s = np.asarray(self.std, dtype=np.float32).reshape(-1, 1, 1)
        return m, s

    def __call__(self, x):
        if not isinstance(x, Tensor):
            x = np.asarray(x)
        if x.dtype.kind != "f":
            raise TypeError(f"Normalize: expected a floating input, got dtype {x.dtype} "
                            f"(shape {tuple(x.shape)}); put ToTensor() before Normalize")
        if isinstance(x, Tensor):
            m, s = self._stats(x.shape)
            m = Tensor(backend.to_device(m.astype(x.dtype), x.device))
            s = Tensor(backend.to_device(s.astype(x.dtype), x.device))
            return x.sub_(m).div_(s) if self.inplace else (x - m) / s
        m, s = self._stats(x.shape)
        if self.inplace:
            x -= m.astype(x.dtype)
            x /= s.astype(x.dtype)
            return x
        out = np.subtract(x, m, dtype=np.float32)
        out /= s
        return out
