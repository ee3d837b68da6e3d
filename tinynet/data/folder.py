"""ImageFolder: a labelled image dataset laid out as ``root/<class>/<image>``."""
from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image, ImageOps

from .dataset import Dataset

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".pbm", ".bmp", ".gif",
                  ".tif", ".tiff", ".webp")


# 16-bit integer modes: Pillow's convert() to 8-bit modes clips them at 255 (a 16-bit
# photo turns white), so pil_loader rescales them to 8 bits first
_MODES_16BIT = ("I;16", "I;16L", "I;16B", "I;16N")


def _to_8bit(img):
    """A 16-bit grayscale image as 'L', its [0, 65535] range scaled to [0, 255].

    Also for mode 'I' (32-bit), in which older Pillow versions open 16-bit PNGs;
    values outside [0, 65535] there raise ValueError (no range to scale from).
    """
    a = np.asarray(img)
    if a.size and (a.min() < 0 or a.max() > 65535):
        raise ValueError(f"a 32-bit integer image with values in [{a.min()}, {a.max()}], "
                         "outside 16 bits: pass ImageFolder a loader= that scales it")
    return Image.fromarray(np.rint(a.astype(np.float32) / 257).astype(np.uint8), "L")


def pil_loader(path, mode="RGB", exif_transpose=True):
    """Open the image at ``path`` with Pillow, fully decoded and converted to ``mode``.

    ``exif_transpose``: turn the image upright by its EXIF orientation tag (how
    phones store portrait photos; image viewers apply it). 16-bit grayscale images
    ('I;16' PNG/TIFF) are scaled to 8 bits before converting to an 8-bit mode, not
    clipped; palette images with transparency go through RGBA (the same pixels,
    without Pillow's warning about it). (torchvision's loader is ``convert(mode)``
    alone: it leaves EXIF orientation unapplied and clips 16-bit images to white.)

    Raises OSError naming the file when it is missing, unreadable or corrupt.
    """
    try:
        with Image.open(path) as img:
            img.load()
            if exif_transpose:
                img = ImageOps.exif_transpose(img)
            if img.mode in _MODES_16BIT + ("I",) and mode not in (img.mode, "I", "F"):
                img = _to_8bit(img)
            elif img.mode == "P" and "transparency" in img.info and mode != "P":
                img = img.convert("RGBA")
            return img.convert(mode)  # a copy, decoded, that outlives the file
    except Exception as e:
        raise OSError(f"cannot read image '{path}': {type(e).__name__}: {e}") from e


def _verify_error(path):
    """The exception Pillow's cheap integrity check raises for ``path``, or None."""
    try:
        with Image.open(path) as img:
            img.verify()
        return None
    except Exception as e:
        return e


class ImageFolder(Dataset):
    """Images in ``root/<class>/<...>/<file>``; item ``i`` is ``(image, class_index)``.

    Args:
        root: folder holding one sub-folder per class (sub-folders are searched recursively).
        transform: applied to the PIL image (e.g. ``Compose([..., ToTensor()])``).
        target_transform: applied to the class index.
        extensions: file endings counted as images (case-insensitive); None with
            ``is_valid_file``.
        is_valid_file: ``fn(path) -> bool`` deciding which files are images, instead
            of ``extensions`` (torchvision's argument; pass one or the other).
        skip_corrupt: False: a bad image raises OSError naming the file when it is
            loaded. True: every file is checked when the dataset is built (with
            Pillow's ``verify()``, headers and checksums, no decoding; with a custom
            ``loader``, by loading it) and bad ones are left out with a
            ``warnings.warn`` naming each; a file that still fails at load time is
            warned about once and replaced by the next readable sample (with that
            sample's label).
        mode: Pillow mode images are converted to ('RGB', 'L', ...).
        loader: ``fn(path) -> image`` replacing the Pillow loader.
        exif_transpose: turn photos upright by their EXIF orientation (see
            :func:`pil_loader`; False gives torchvision's pixels).
        allow_empty: keep a class folder without any (readable) image as a
            class with no samples instead of raising FileNotFoundError
            (torchvision's ``allow_empty``; e.g. a validation split that has no
            image of a rare class).

    Hidden files and folders (names starting with ".", such as macOS's ``._x.jpg``
    and Jupyter's ``.ipynb_checkpoints``) are left out at every level. (torchvision
    leaves out only hidden class folders; its loader then fails on ``._x.jpg``.)

    Attributes: ``classes`` (sorted folder names), ``class_to_idx``, ``samples``
    (list of (path, class_index)), ``targets``, ``imgs`` (= samples).
    """

    def __init__(self, root, transform=None, target_transform=None, extensions=IMG_EXTENSIONS,
                 skip_corrupt=False, mode="RGB", loader=None, exif_transpose=True,
                 allow_empty=False, is_valid_file=None):
        self.root = os.path.expanduser(os.fspath(root))   # "~/photos" works, as in torchvision
        self.transform = transform
        self.target_transform = target_transform
        if is_valid_file is not None and extensions not in (None, IMG_EXTENSIONS):
            raise ValueError("ImageFolder: pass extensions or is_valid_file, not both")
        if is_valid_file is None and extensions is None:
            raise ValueError("ImageFolder: extensions=None needs is_valid_file")
        self.is_valid_file = is_valid_file
        self.extensions = () if is_valid_file is not None else tuple(
            e.lower() for e in ((extensions,) if isinstance(extensions, str) else extensions))
        self.skip_corrupt = skip_corrupt
        self.mode = mode
        self.loader = loader
        self.exif_transpose = exif_transpose
        self.allow_empty = allow_empty
        self.classes, self.class_to_idx = self.find_classes(self.root)
        samples = self._scan()
        if skip_corrupt:
            samples = self._drop_corrupt(samples)
        empty = sorted(set(self.classes) - {self.classes[t] for _, t in samples})
        if empty and not allow_empty:
            which = ("accepted by is_valid_file" if is_valid_file is not None
                     else f"with extension {self.extensions}")
            raise FileNotFoundError(
                f"ImageFolder: no readable image {which} for the classes {empty} in "
                f"'{self.root}' (allow_empty=True keeps them as classes without samples)")
        self.samples = samples
        self.imgs = samples
        self.targets = [t for _, t in samples]
        self._warned = set()

    @staticmethod
    def find_classes(root):
        """(sorted class folder names, {name: index}) of ``root``; errors name the root."""
        if not os.path.isdir(root):
            raise FileNotFoundError(f"ImageFolder: root '{root}' is not a directory")
        classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
        if not classes:
            raise FileNotFoundError(f"ImageFolder: no class folders in '{root}' "
                                    "(expected root/<class>/<image>)")
        return classes, {c: i for i, c in enumerate(classes)}

    def _scan(self):
        """(path, class index) of every image, in torchvision's order: classes sorted, and
        within a class ``sorted(os.walk(...))`` (folders by path), files sorted by name.

        Symbolic links are followed, but not into a folder already searched: a link back
        to the root, to a class folder or to a folder above it (a loop) is skipped with a
        warning, where following it would add other classes' images under this class.
        """
        samples = []
        class_dirs = {os.path.realpath(os.path.join(self.root, c)) for c in self.classes}
        for cls in self.classes:
            top = os.path.join(self.root, cls)
            seen = {os.path.realpath(self.root)} | class_dirs - {os.path.realpath(top)}
            found = []
            for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
                real = os.path.realpath(dirpath)
                if real in seen:
                    warnings.warn(f"ImageFolder: skipped '{dirpath}', a link to a folder "
                                  "already searched", stacklevel=3)
                    dirnames[:] = []
                    continue
                seen.add(real)
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                found.append((dirpath, filenames))
            for dirpath, filenames in sorted(found):
                for name in sorted(filenames):
                    path = os.path.join(dirpath, name)
                    if not name.startswith(".") and (
                            self.is_valid_file(path) if self.is_valid_file is not None
                            else name.lower().endswith(self.extensions)):
                        samples.append((path, self.class_to_idx[cls]))
        return samples

    def _check_error(self, path):
        """The exception checking ``path`` raises (see ``skip_corrupt``), or None."""
        if self.loader is None:
            return _verify_error(path)
        try:
            self.loader(path)
            return None
        except Exception as e:
            return e

    def _drop_corrupt(self, samples):
        kept = []
        for path, target in samples:
            err = self._check_error(path)
            if err is None:
                kept.append((path, target))
            else:
                warnings.warn(f"ImageFolder: skipping unreadable image '{path}': "
                              f"{type(err).__name__}: {err}", stacklevel=3)
        return kept

    def __len__(self):
        return len(self.samples)

    def _load(self, path):
        """The image at ``path``; any failure of a custom loader becomes OSError naming it."""
        if self.loader is None:
            return pil_loader(path, self.mode, self.exif_transpose)
        try:
            return self.loader(path)
        except OSError:
            raise
        except Exception as e:
            raise OSError(f"cannot read image '{path}': {type(e).__name__}: {e}") from e

    def __getitem__(self, index):
        n = len(self.samples)
        index = int(index)
        if not -n <= index < n:
            raise IndexError(f"ImageFolder: index {index} out of range for {n} images")
        index %= n
        for attempt in range(n if self.skip_corrupt else 1):
            path, target = self.samples[(index + attempt) % n]
            try:
                img = self._load(path)
                break
            except OSError as e:
                if not self.skip_corrupt:
                    raise
                if path not in self._warned:
                    self._warned.add(path)
                    warnings.warn(f"ImageFolder: skipping image that failed to load: {e}", stacklevel=2)
        else:
            raise OSError(f"ImageFolder: no image in '{self.root}' could be loaded")
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target
