"""train_resnet.py end to end on two digit classes: a run resumed from its
per-epoch training state ends exactly where the uninterrupted run ends."""
import os
import shutil
import sys

import numpy as np
import pytest

import tinynet as tn

pytest.importorskip("sklearn")   # the bundled digits come from scikit-learn
pytest.importorskip("tqdm")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "examples"))
import train_resnet  # noqa: E402

FLAGS = ["--classes", "0-1", "--epochs", "2", "--batch-size", "32", "--seed", "3"]


def test_resume_continues_exactly_where_the_run_stopped(tmp_path, monkeypatch, capsys):
    saved = train_resnet.save_state

    def keep_epoch_1(path, *args, **kwargs):   # the state an interrupted run would have left
        saved(path, *args, **kwargs)
        if args[-2] == 1:
            shutil.copyfile(path, tmp_path / "after_epoch_1.safetensors")
    monkeypatch.setattr(train_resnet, "save_state", keep_epoch_1)
    acc = train_resnet.main(FLAGS + ["--out", str(tmp_path / "straight")])
    monkeypatch.setattr(train_resnet, "save_state", saved)
    resumed_acc = train_resnet.main(FLAGS + ["--out", str(tmp_path / "resumed"), "--resume",
                                             str(tmp_path / "after_epoch_1.safetensors")])
    assert resumed_acc == acc
    assert "trained 1 epoch in" in capsys.readouterr().out.split("resuming after epoch 1")[1]
    a = tn.load(tmp_path / "straight" / "resnet18.safetensors")
    b = tn.load(tmp_path / "resumed" / "resnet18.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k].numpy(), b[k].numpy(), err_msg=k)
    state = tn.io.load_training_state(tmp_path / "resumed" / "last.safetensors")
    assert state["epoch"] == 2 and len(state["history"]["val_acc"]) == 2


def test_resume_from_a_missing_or_foreign_file_exits_clearly(tmp_path):
    with pytest.raises(SystemExit, match="--resume"):
        train_resnet.main(FLAGS + ["--out", str(tmp_path), "--resume", str(tmp_path / "no")])
    tn.save({"w": tn.zeros(2)}, tmp_path / "plain.safetensors")
    with pytest.raises(SystemExit, match="not a training-state file"):
        train_resnet.main(FLAGS + ["--out", str(tmp_path), "--resume",
                                   str(tmp_path / "plain.safetensors")])


def test_too_few_images_or_epochs_exit_before_training(tmp_path, capsys):
    from PIL import Image
    for name in ("cat", "dog"):                           # one image a class: none held out
        (tmp_path / "single" / name).mkdir(parents=True)
        Image.new("RGB", (12, 12)).save(tmp_path / "single" / name / "0.png")
    with pytest.raises(SystemExit, match="no image is held out for testing"):
        train_resnet.main(["--data", str(tmp_path / "single"), "--out", str(tmp_path / "a")])
    with pytest.raises(SystemExit):
        train_resnet.main(["--epochs", "0", "--out", str(tmp_path / "b")])
    assert "--epochs must be at least 1, got 0" in capsys.readouterr().err


def test_saliency_with_a_mistyped_weights_path_trains_nothing(tmp_path, monkeypatch):
    import saliency
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="--weights typo/resnet18.safetensor: not found"):
        saliency.main(["--weights", "typo/resnet18.safetensor", "--out", str(tmp_path / "s")])
    assert not (tmp_path / "typo").exists()
    tn.save({"w": tn.zeros(2)}, tmp_path / "plain.safetensors")
    with pytest.raises(SystemExit, match="not a ResNet's weights"):
        saliency.main(["--weights", str(tmp_path / "plain.safetensors"),
                       "--out", str(tmp_path / "s")])
