"""The ResNet example scripts on a user's own tiny image folder: resuming with
other flags, fine-tuning torchvision-named weights of another architecture,
and saliency maps of a folder-trained checkpoint."""
import os
import sys

import numpy as np
import pytest
from PIL import Image

import tinynet as tn
from tinynet.models import resnet

pytest.importorskip("tqdm")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "examples"))
import finetune_resnet  # noqa: E402
import saliency  # noqa: E402
import train_resnet  # noqa: E402


@pytest.fixture
def pets(tmp_path):
    """pets/{train,val}/{cat,dog}/*.png: 4 and 2 small images a class, cats red, dogs blue."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("val", 2)):
        for c, cls in enumerate(("cat", "dog")):
            os.makedirs(tmp_path / "pets" / split / cls)
            for i in range(n):
                a = rng.integers(0, 60, (10, 12, 3), dtype=np.uint8)
                a[..., 2 * c] += 150
                Image.fromarray(a).save(tmp_path / "pets" / split / cls / f"{i}.png")
    return tmp_path / "pets"


def run_flags(pets, out, *extra):
    return ["--data", str(pets), "--image-size", "8", "--batch-size", "4", "--out", str(out),
            *extra]


def test_resume_with_other_flags_exits_naming_them(pets, tmp_path):
    train_resnet.main(run_flags(pets, tmp_path / "a", "--epochs", "1"))
    last = tmp_path / "a" / "last.safetensors"
    with pytest.raises(SystemExit, match=r"--epochs 1 \(this run: 2\)"):
        train_resnet.main(run_flags(pets, tmp_path / "b", "--epochs", "2", "--resume", str(last)))
    with pytest.raises(SystemExit, match=r"--batch-size 4 \(this run: 2\).*steps per epoch"):
        train_resnet.main(run_flags(pets, tmp_path / "b", "--epochs", "1", "--batch-size", "2",
                                    "--resume", str(last)))
    # a state from before the settings were saved: the schedule is still checked
    state = tn.io.load_training_state(last)
    del state["config"]
    tn.io.save_training_state(last, **state)
    with pytest.raises(SystemExit, match="schedule spans no steps, this run's 4"):
        train_resnet.main(run_flags(pets, tmp_path / "b", "--epochs", "2", "--resume", str(last)))


def test_finetune_reads_the_arch_from_torchvision_weights(pets, tmp_path):
    weights = tmp_path / "resnet34.safetensors"   # as exported from torchvision: no metadata
    tn.save(resnet.resnet34(num_classes=10).state_dict(), weights)
    flags = ["--weights", str(weights), "--data", str(pets), "--image-size", "8",
             "--epochs", "1", "--batch-size", "4", "--freeze-backbone", "--no-scratch",
             "--out", str(tmp_path / "ft")]
    finetune_resnet.main(flags)
    out = tmp_path / "ft" / "resnet34_finetuned.safetensors"
    assert tn.load_metadata(out)["arch"] == "resnet34"
    assert tn.load(out)["fc.weight"].shape == (2, 512)
    with pytest.raises(SystemExit, match="holds a resnet34, not the --arch resnet18"):
        finetune_resnet.main(flags + ["--arch", "resnet18"])


def test_finetune_takes_a_torchvision_pth_as_downloaded(pets, tmp_path):
    # torchvision's weights come as .pth (torch.save); read without unpickling or torch
    torch = pytest.importorskip("torch")
    sd = resnet.resnet18(num_classes=10).state_dict()
    weights = tmp_path / "resnet18-f37072fd.pth"
    torch.save({k: torch.from_numpy(v.numpy().copy()) for k, v in sd.items()}, weights)
    finetune_resnet.main(["--weights", str(weights), "--data", str(pets), "--image-size", "8",
                          "--epochs", "1", "--batch-size", "4", "--freeze-backbone",
                          "--no-scratch", "--out", str(tmp_path / "ft")])
    out = tn.load(tmp_path / "ft" / "resnet18_finetuned.safetensors")
    assert out["fc.weight"].shape == (2, 512)
    np.testing.assert_array_equal(out["conv1.weight"].numpy(), sd["conv1.weight"].numpy())


def test_finetune_bad_weights_files_exit_naming_the_file(pets, tmp_path):
    flags = ["--data", str(pets), "--out", str(tmp_path / "ft")]
    with pytest.raises(SystemExit, match="--weights .*missing.safetensors"):
        finetune_resnet.main(["--weights", str(tmp_path / "missing.safetensors")] + flags)
    image = pets / "train" / "cat" / "0.png"
    with pytest.raises(SystemExit, match="--weights .*0.png"):
        finetune_resnet.main(["--weights", str(image)] + flags)


def folder_checkpoint(path, data, classes):
    """A resnet18 checkpoint with train_resnet.py's metadata, as if trained on ``data``."""
    model = resnet.resnet18(num_classes=len(classes), cifar_stem=True)
    tn.save(model.state_dict(), path, metadata=train_resnet.checkpoint_metadata(
        "resnet18", classes, 8, True, train_resnet.IMAGENET_MEAN, train_resnet.IMAGENET_STD,
        str(data), 0.5))


def test_saliency_uses_the_checkpoints_folder_and_checks_its_classes(pets, tmp_path):
    ckpt = tmp_path / "pets.safetensors"
    folder_checkpoint(ckpt, pets, ["cat", "dog"])
    saliency.main(["--weights", str(ckpt), "--num", "2", "--out", str(tmp_path / "s")])  # no --data
    assert (tmp_path / "s" / "1_gradcam.png").exists()

    other = tmp_path / "other.safetensors"
    folder_checkpoint(other, pets, ["bird", "cat", "dog"])
    with pytest.raises(SystemExit, match=r"classes \['cat', 'dog'\] are not the checkpoint's"):
        saliency.main(["--weights", str(other), "--data", str(pets), "--out", str(tmp_path / "s")])


def test_saliency_default_layer_keeps_a_4x4_map_for_either_stem():
    assert saliency.default_layer(8, cifar_stem=True) == "layer2"     # digits
    assert saliency.default_layer(32, cifar_stem=True) == "layer4"
    assert saliency.default_layer(32, cifar_stem=False) == "layer2"   # 8x8 after the stem
    assert saliency.default_layer(96, cifar_stem=False) == "layer3"   # layer4 would be 3x3
    assert saliency.default_layer(224, cifar_stem=False) == "layer4"


def test_skip_corrupt_leaves_a_broken_download_out(pets):
    (pets / "train" / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 half a jpeg")
    with pytest.warns(UserWarning, match="skipping unreadable image .*broken.jpg"):
        train, test, names, _ = train_resnet.load_datasets(str(pets), 8, skip_corrupt=True)
    assert len(train) == 8 and len(test) == 4 and names == ["cat", "dog"]
    train, _, _, _ = train_resnet.load_datasets(str(pets), 8)   # default: the run stops there
    broken = [os.path.basename(path) for path, _ in train.samples].index("broken.jpg")
    with pytest.raises(OSError, match="broken.jpg"):
        train[broken]


def test_a_folder_of_class_folders_alone_is_split_the_same_way_every_time(tmp_path, capsys):
    # photos/<class>/*.png with no train/ or test/: 20% of each class is held out, by a
    # fixed seed, so training, saliency and fine-tuning all test on the same images
    rng = np.random.default_rng(1)
    for c, (cls, n) in enumerate((("cat", 10), ("dog", 6), ("fox", 1))):
        os.makedirs(tmp_path / "photos" / cls)
        for i in range(n):
            a = rng.integers(0, 60, (10, 12, 3), dtype=np.uint8)
            a[..., c] += 150
            Image.fromarray(a).save(tmp_path / "photos" / cls / f"{i}.png")
    photos = str(tmp_path / "photos")
    train, test, names, _ = train_resnet.load_datasets(photos, 8)
    assert names == ["cat", "dog", "fox"]
    assert (len(train), len(test)) == (17 - 2 - 1, 2 + 1)    # 20% of 10, of 6; fox has 1
    held = {train.dataset.samples[i][0] for i in test.indices}
    assert not held & {train.dataset.samples[i][0] for i in train.indices}
    assert sorted(t for _, t in (test[i] for i in range(len(test)))) == [0, 0, 1]
    _, again, _, _ = train_resnet.load_datasets(photos, 8)
    assert {again.dataset.samples[i][0] for i in again.indices} == held
    assert "testing on 3 of its 17 images" in capsys.readouterr().out
    train_resnet.main(run_flags(photos, tmp_path / "run", "--epochs", "1"))
    ckpt = tmp_path / "run" / "resnet18.safetensors"
    saliency.main(["--weights", str(ckpt), "--num", "2", "--out", str(tmp_path / "s")])
    assert len(os.listdir(tmp_path / "s")) >= 1
    # an image that goes missing (or is skipped as corrupt, as saliency.py always does)
    # moves at most one other image between the splits: the split goes by file
    train_files = {train.dataset.samples[i][0] for i in train.indices}
    gone = sorted(f for f in train_files if "/cat/" in f)[:3]
    for f in gone:
        os.remove(f)
    _, fewer, _, _ = train_resnet.load_datasets(photos, 8)
    assert len(held ^ {fewer.dataset.samples[i][0] for i in fewer.indices}) <= 2
    os.makedirs(tmp_path / "lone" / "cat")
    Image.fromarray(a).save(tmp_path / "lone" / "cat" / "0.png")
    with pytest.raises(SystemExit, match="only the class"):
        train_resnet.load_datasets(str(tmp_path / "lone"), 8)
