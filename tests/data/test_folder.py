"""ImageFolder on a temporary tree of images written with Pillow."""
import os

import numpy as np
import pytest
from PIL import Image

from tinynet.data import DataLoader, ImageFolder
from tinynet.data import transforms as T


def write_image(path, value, size=(6, 5), fmt=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, dtype=np.uint8)).save(path, fmt)


@pytest.fixture
def tree(tmp_path):
    """root/{zebra, ant, mole}/..., with a nested folder, a non-image and mixed extensions."""
    root = tmp_path / "root"
    write_image(root / "zebra" / "b.png", 10)
    write_image(root / "zebra" / "a.PNG", 20)
    write_image(root / "ant" / "x.jpg", 30)
    write_image(root / "ant" / "deep" / "y.bmp", 40)
    write_image(root / "mole" / "m.png", 50)
    (root / "mole" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    return root


def test_classes_sorted_and_samples(tree):
    ds = ImageFolder(tree)
    assert ds.classes == ["ant", "mole", "zebra"]
    assert ds.class_to_idx == {"ant": 0, "mole": 1, "zebra": 2}
    names = [(os.path.relpath(p, tree), t) for p, t in ds.samples]
    # a folder's own files come before its sub-folders' (as os.walk / torchvision order them)
    assert names == [("ant/x.jpg", 0), ("ant/deep/y.bmp", 0), ("mole/m.png", 1),
                     ("zebra/a.PNG", 2), ("zebra/b.png", 2)]
    assert ds.targets == [0, 0, 1, 2, 2] and len(ds) == 5 and ds.imgs == ds.samples


def test_items_are_rgb_or_mode_images_and_transforms_apply(tree):
    img, label = ImageFolder(tree)[2]
    assert img.mode == "RGB" and img.size == (6, 5) and label == 1
    assert np.asarray(img).max() == 50
    gray, _ = ImageFolder(tree, mode="L")[0]
    assert gray.mode == "L"
    ds = ImageFolder(tree, transform=T.Compose([T.Resize((4, 4)), T.ToTensor()]),
                     target_transform=lambda t: t * 10)
    x, y = ds[4]
    assert x.shape == (3, 4, 4) and x.dtype == np.float32 and y == 20
    xb, yb = next(iter(DataLoader(ds, batch_size=5)))
    assert xb.shape == (5, 3, 4, 4) and yb.numpy().tolist() == [0, 0, 10, 20, 20]


def test_corrupt_file_error_names_the_file(tree):
    bad = tree / "mole" / "broken.png"
    bad.write_bytes(b"definitely not a png")
    ds = ImageFolder(tree)
    i = [p for p, _ in ds.samples].index(str(bad))
    with pytest.raises(OSError, match="broken.png"):
        ds[i]


def test_skip_corrupt_warns_and_skips_at_index_time(tree):
    bad = tree / "mole" / "broken.png"
    bad.write_bytes(b"definitely not a png")
    with pytest.warns(UserWarning, match="broken.png"):
        ds = ImageFolder(tree, skip_corrupt=True)
    assert str(bad) not in [p for p, _ in ds.samples] and len(ds) == 5


def test_skip_corrupt_substitutes_a_file_broken_after_indexing(tree):
    ds = ImageFolder(tree, skip_corrupt=True)
    path, _ = ds.samples[2]
    with open(path, "wb") as f:
        f.write(b"\x89PNG garbage")
    with pytest.warns(UserWarning, match=os.path.basename(path)):
        img, label = ds[2]
    assert np.asarray(img).max() == 20 and label == 2  # the next sample took its place


def test_empty_or_missing_root_errors_name_the_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ImageFolder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no class folders.*empty"):
        ImageFolder(tmp_path / "empty")
    (tmp_path / "empty" / "cls").mkdir()
    (tmp_path / "empty" / "cls" / "readme.txt").write_text("hi")
    with pytest.raises(FileNotFoundError, match=r"\['cls'\].*empty"):
        ImageFolder(tmp_path / "empty")


def test_extensions_filter(tree):
    ds = ImageFolder(tree, extensions=(".png", ".jpg"))
    assert [os.path.basename(p) for p, _ in ds.samples] == ["x.jpg", "m.png", "a.PNG", "b.png"]
    with pytest.raises(FileNotFoundError, match=r"\['ant'\]"):  # a class left with no image
        ImageFolder(tree, extensions=".png")


def test_hidden_files_and_folders_inside_classes_are_left_out(tree):
    (tree / "mole" / "._m.png").write_bytes(b"\0\5\26\7" + b"\0" * 80)   # macOS AppleDouble
    write_image(tree / "mole" / ".ipynb_checkpoints" / "m-checkpoint.png", 50)
    ds = ImageFolder(tree)
    assert [os.path.relpath(p, tree) for p, t in ds.samples if t == 1] == ["mole/m.png"]
    assert all(np.asarray(ds[i][0]).size for i in range(len(ds)))


def test_skip_corrupt_checks_with_a_custom_loader(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        np.save(tmp_path / cls / "x.npy", np.zeros((2, 2), np.float32))
    (tmp_path / "b" / "bad.npy").write_bytes(b"not an array")
    with pytest.warns(UserWarning, match="bad.npy"):
        ds = ImageFolder(tmp_path, loader=np.load, extensions=".npy", skip_corrupt=True)
    assert [os.path.relpath(p, tmp_path) for p, _ in ds.samples] == ["a/x.npy", "b/x.npy"]
    # without skip_corrupt, the loader's own error (ValueError here) reaches the user
    # as an OSError naming the file
    plain = ImageFolder(tmp_path, loader=np.load, extensions=".npy")
    i = [os.path.basename(p) for p, _ in plain.samples].index("bad.npy")
    with pytest.raises(OSError, match="bad.npy.*ValueError"):
        plain[i]


def test_nested_folders_in_torchvisions_order_and_link_loops_skipped(tmp_path):
    root = tmp_path / "root"
    for rel in ("c/x.png", "c/a/1.png", "c/a/sub/2.png", "c/a-b/3.png", "c/a.b/4.png",
                "d/5.png"):
        write_image(root / rel, 10)
    ds = ImageFolder(root)
    # torchvision walks sorted(os.walk(class folder)): folders sorted by their whole path,
    # so "c/a/sub" ("/" sorts after "-" and ".") comes after "c/a-b" and "c/a.b"
    walk = [os.path.join(dirpath, f) for dirpath, _, files in sorted(os.walk(root / "c"))
            for f in sorted(files)]
    assert [p for p, t in ds.samples if t == 0] == walk
    assert [os.path.relpath(p, root) for p, _ in ds.samples] == [
        "c/x.png", "c/a/1.png", "c/a-b/3.png", "c/a.b/4.png", "c/a/sub/2.png", "d/5.png"]
    if not hasattr(os, "symlink"):
        return
    os.symlink("..", root / "d" / "loop")          # d/loop -> root: c's images are not d's
    os.symlink(".", root / "c" / "a" / "again")    # a loop inside a class
    with pytest.warns(UserWarning, match="skipped .*(loop|again).*already searched"):
        linked = ImageFolder(root)
    assert linked.samples == ds.samples


def test_is_valid_file_extensions_none_and_a_home_relative_root(tree, monkeypatch):
    only_png = ImageFolder(tree, extensions=None, is_valid_file=lambda p: p.endswith(".png"),
                           allow_empty=True)
    assert [os.path.relpath(p, tree) for p, _ in only_png.samples] == [
        "mole/m.png", "zebra/b.png"] and only_png.classes == ["ant", "mole", "zebra"]
    assert len(ImageFolder(tree, is_valid_file=lambda p: True)) == 6   # notes.txt too
    with pytest.raises(FileNotFoundError, match=r"accepted by is_valid_file .*\['ant'\]"):
        ImageFolder(tree, is_valid_file=lambda p: p.endswith(".png"))
    with pytest.raises(ValueError, match="extensions or is_valid_file, not both"):
        ImageFolder(tree, extensions=(".png",), is_valid_file=lambda p: True)
    with pytest.raises(ValueError, match="extensions=None needs is_valid_file"):
        ImageFolder(tree, extensions=None)
    monkeypatch.setenv("HOME", str(tree.parent))
    assert ImageFolder("~/root").samples == ImageFolder(tree).samples
