"""A user's own image folder through tinynet.data and the ResNet examples: the
cases where tinynet parted from torchvision's documented behaviour, or stopped a
run that torchvision-style code would carry through."""
import os
import sys

import numpy as np
import pytest
from PIL import Image

from tinynet.data import ImageFolder
from tinynet.data import transforms as T

pytest.importorskip("tqdm")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "examples"))
import train_resnet  # noqa: E402


def write_image(path, value, size=(12, 10)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, dtype=np.uint8)).save(path)


# ------------------------------------------------------------------ transforms
def test_resize_with_a_one_element_size_matches_the_smaller_edge():
    # torchvision: "a sequence of length 1: [size, ]" means the int (smaller edge), not a square
    img = Image.new("RGB", (40, 20))
    assert T.Resize([10])(img).size == (20, 10)
    assert T.Resize((10,))(Image.new("RGB", (20, 40))).size == (10, 20)
    assert T.Resize(10)(img).size == (20, 10)
    assert T.Resize((10, 10))(img).size == (10, 10)


@pytest.mark.parametrize("side", [1, 2, 3, 4, 5, 6, 7])
def test_center_crop_larger_than_the_image_pads_like_torchvision(side):
    # torchvision pads (crop - side) // 2 before and the rest after, then crops the middle
    img = Image.fromarray(np.full((side, 3 * side + 20, 3), 200, np.uint8))
    out = np.asarray(T.CenterCrop((8, 8))(img))[..., 0]
    rows = np.nonzero(out[:, 0])[0]
    before = (8 - side) // 2
    assert rows.tolist() == list(range(before, before + side))
    assert out.shape == (8, 8)


def test_pad_keeps_the_palette_of_a_P_image():
    gray = Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4) * 20)
    p = gray.convert("RGB").quantize(4)                    # palette indices 0..3
    rgb = np.asarray(p.convert("RGB"))
    for mode in ("edge", "reflect", "symmetric"):
        out = T.Pad(1, padding_mode=mode)(p)
        assert out.mode == "P"
        padded = np.asarray(out.convert("RGB"))
        assert np.array_equal(padded[1:-1, 1:-1], rgb)
    assert np.array_equal(padded[0, 0], rgb[0, 0])         # symmetric: the corner repeats


def test_normalize_broadcasts_one_std_over_the_means_as_torchvision_does():
    x = np.ones((3, 2, 2), np.float32)
    out = T.Normalize((0.5, 0.25, 0.0), 0.5)(x)
    assert np.allclose(out[:, 0, 0], [1.0, 1.5, 2.0])
    out = T.Normalize(0.5, (0.5, 0.25, 1.0))(x)
    assert np.allclose(out[:, 0, 0], [1.0, 2.0, 0.5])
    with pytest.raises(ValueError, match="mean has 3 values but std has 2"):
        T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5))


# ------------------------------------------------------------------ ImageFolder
def test_image_folder_allow_empty_keeps_an_empty_class_folder(tmp_path):
    write_image(tmp_path / "cat" / "a.png", 10)
    (tmp_path / "dog").mkdir()
    with pytest.raises(FileNotFoundError, match="dog"):
        ImageFolder(tmp_path)
    ds = ImageFolder(tmp_path, allow_empty=True)            # torchvision's allow_empty
    assert ds.classes == ["cat", "dog"] and ds.targets == [0] and len(ds) == 1


# ------------------------------------------------------------------ train_resnet --data
@pytest.fixture
def pets(tmp_path):
    """pets/train/{cat,dog,fox} and pets/val/{cat,fox}: the val split has no dog."""
    for split, classes in (("train", ("cat", "dog", "fox")), ("val", ("cat", "fox"))):
        for c, cls in enumerate(classes):
            for i in range(2):
                write_image(tmp_path / "pets" / split / cls / f"{i}.png", 40 * c + i)
    return tmp_path / "pets"


def test_a_val_split_without_images_of_a_class_is_indexed_by_the_train_classes(pets):
    for empty_folder in (False, True):
        if empty_folder:
            (pets / "val" / "dog").mkdir()
        train, test, names, _ = train_resnet.load_datasets(str(pets), 8)
        assert names == ["cat", "dog", "fox"] and test.classes == names
        assert test.class_to_idx == train.class_to_idx
        assert test.targets == [0, 0, 2, 2]                       # fox keeps the index 2
        assert [test[i][1] for i in range(len(test))] == [0, 0, 2, 2]


def test_a_val_class_the_train_split_lacks_still_exits(pets):
    write_image(pets / "val" / "wolf" / "0.png", 99)
    with pytest.raises(SystemExit, match=r"wolf"):
        train_resnet.load_datasets(str(pets), 8)


def test_train_resnet_runs_on_a_val_split_missing_a_class(pets, tmp_path):
    acc = train_resnet.main(["--data", str(pets), "--image-size", "8", "--batch-size", "4",
                             "--epochs", "1", "--out", str(tmp_path / "run")])
    assert 0.0 <= acc <= 1.0


def test_saliency_finds_the_training_folder_from_another_working_directory(pets, tmp_path,
                                                                           monkeypatch):
    import saliency
    monkeypatch.chdir(pets.parent)          # trained with a relative --data, as users type it
    train_resnet.main(["--data", "pets", "--image-size", "8", "--batch-size", "4",
                       "--epochs", "1", "--out", str(tmp_path / "run")])
    monkeypatch.chdir(tmp_path / "run")     # explained later from somewhere else
    saliency.main(["--weights", str(tmp_path / "run" / "resnet18.safetensors"), "--num", "2",
                   "--out", str(tmp_path / "sal")])
    assert (tmp_path / "sal" / "1_gradcam.png").exists()


def test_normalize_on_an_hwc_array_says_to_use_to_tensor():
    hwc = np.asarray(Image.new("RGB", (6, 4)), dtype=np.float32) / 255   # ToTensor left out
    with pytest.raises(ValueError, match=r"3 mean/std values .*4 channels .*\(4, 6, 3\).*ToTensor"):
        T.Normalize((0.5,) * 3, (0.5,) * 3)(hwc)


# ------------------------------------------------------------------ saliency / Grad-CAM
@pytest.mark.parametrize("fn", ["saliency", "grad_cam"])
def test_saliency_targets_out_of_range_or_of_the_wrong_count_name_the_function(fn):
    import tinynet as tn
    from tinynet import viz
    tn.manual_seed(0)
    model = tn.models.resnet18(num_classes=3, cifar_stem=True)
    x = tn.randn(2, 3, 8, 8)
    explain = getattr(viz, fn)
    for bad in (3, -1, [0, 5]):
        with pytest.raises(ValueError, match=fn + r": target classes .*\(2, 3\).*3 classes"):
            explain(model, x, target=bad)
    with pytest.raises(ValueError, match=fn + r": target must be one int .* or 2 of them"):
        explain(model, x, target=[0, 1, 2])
    _, cls = explain(model, x, target=[2, 0])
    assert cls.tolist() == [2, 0]
    assert explain(model, x, target=tn.tensor([1]))[1].tolist() == [1, 1]
