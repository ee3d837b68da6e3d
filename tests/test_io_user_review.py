"""Saving, loading and resuming as a user meets them: a disk that fills up or a process
killed mid-save, paths with '~', and the example scripts' checkpoint and output flags."""
import errno
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tinynet as tn
from tinynet import io as tio

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))


def _old_checkpoint(tmp_path):
    p = tmp_path / "ckpt.safetensors"
    tio.save({"w": np.arange(4, dtype=np.float32)}, p)
    return p, p.read_bytes()


def test_disk_full_during_save_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    p, before = _old_checkpoint(tmp_path)
    real = tio._write_array

    def fills_the_disk(f, arr, le):   # what f.write raises: no file name in it
        real(f, arr[:1], le)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(tio, "_write_array", fills_the_disk)
    with pytest.raises(OSError) as info:
        tn.save({"w": np.zeros(1000, np.float32)}, p)
    monkeypatch.undo()
    assert info.value.errno == errno.ENOSPC
    assert str(p) in str(info.value) and "No space left" in str(info.value)
    assert "unchanged" in str(info.value)
    assert p.read_bytes() == before and os.listdir(tmp_path) == [p.name]
    # the same through a training checkpoint, as the example scripts write them
    monkeypatch.setattr(tio, "_write_array", fills_the_disk)
    with pytest.raises(OSError, match="No space left.*ckpt.safetensors"):
        tio.save_training_state(p, model={"w": np.zeros(3, np.float32)}, epoch=2)
    monkeypatch.undo()
    assert p.read_bytes() == before and os.listdir(tmp_path) == [p.name]


def test_save_over_a_directory_names_it_not_the_temp_file(tmp_path):
    (tmp_path / "runs").mkdir()
    with pytest.raises(OSError) as info:
        tn.save({"w": tn.zeros(2)}, tmp_path / "runs")
    assert ".tmp" not in str(info.value) and str(tmp_path / "runs") in str(info.value)
    assert os.listdir(tmp_path) == ["runs"] and os.listdir(tmp_path / "runs") == []


def test_a_tilde_path_says_it_is_not_expanded(tmp_path, monkeypatch):
    # torch.save and safetensors do not expand '~' either; the error says so
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="expanduser"):
        tn.save({"w": tn.zeros(2)}, "~/no_such_folder_here/w.safetensors")


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_a_process_killed_mid_save_leaves_the_old_checkpoint(tmp_path):
    p, before = _old_checkpoint(tmp_path)
    script = textwrap.dedent(f"""
        import sys, time
        import numpy as np
        from tinynet import io
        real = io._write_array
        def stall(f, arr, le):   # half the new file is on disk when the process dies
            real(f, arr[: arr.size // 2], le)
            f.flush()
            print("writing", flush=True)
            time.sleep(60)
        io._write_array = stall
        io.save({{"w": np.zeros(100_000, np.float32)}}, {str(p)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert p.read_bytes() == before
    np.testing.assert_array_equal(tn.load(p)["w"].numpy(), np.arange(4))


# ---------------------------------------------------------------- example scripts

TEXT = "The quick brown fox jumps over the lazy dog. Pack my box with five dozen jugs.\n" * 20


def _gpt_checkpoint(tmp_path):
    from train_gpt import save_checkpoint
    from tinynet.data import CharTokenizer
    from tinynet.models.gpt import GPT, GPTConfig
    tok = CharTokenizer(TEXT)
    tn.manual_seed(0)
    path = str(tmp_path / "gpt.safetensors")
    save_checkpoint(path, GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1,
                                        n_head=2, n_embd=16)), tok)
    return path


def test_generate_attention_png_into_a_folder_that_does_not_exist(tmp_path):
    pytest.importorskip("matplotlib")
    import generate
    ckpt = _gpt_checkpoint(tmp_path)
    png = tmp_path / "plots" / "attn" / "a.png"
    generate.main(["--checkpoint", ckpt, "--max-new-tokens", "3", "--attention-png", str(png)])
    assert png.stat().st_size > 0


def test_generate_attention_png_that_is_a_directory_fails_before_generating(tmp_path, capsys):
    import generate
    ckpt = _gpt_checkpoint(tmp_path)
    with pytest.raises(SystemExit):
        generate.main(["--checkpoint", ckpt, "--max-new-tokens", "3",
                       "--attention-png", str(tmp_path)])
    err = capsys.readouterr().err
    assert "--attention-png" in err and "is a directory" in err


def test_train_gpt_resume_from_a_directory_names_the_resume_flag(tmp_path, capsys):
    import train_gpt
    with pytest.raises(SystemExit):
        train_gpt.main(["--resume", str(tmp_path)])
    err = capsys.readouterr().err
    assert f"--resume {tmp_path} is a directory" in err and "--out" not in err.splitlines()[-1]


def test_resuming_from_a_pytorch_file_says_what_it_is(tmp_path):
    torch = pytest.importorskip("torch")
    p = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, p)
    with pytest.raises(ValueError, match="PyTorch checkpoint.*not a training-state file"):
        tio.load_training_state(p)
    import train_gpt
    with pytest.raises(SystemExit, match="PyTorch checkpoint"):
        train_gpt.main(["--resume", str(p)])


@pytest.mark.parametrize("script,flag", [("train_resnet", "--out"), ("finetune_resnet", "--out"),
                                         ("finetune_gpt", "--out-dir")])
def test_an_output_folder_flag_naming_a_file_is_a_one_line_error(tmp_path, capsys, script, flag):
    pytest.importorskip("tqdm")
    module = __import__(script)
    existing = tmp_path / "resnet18.safetensors"
    existing.write_bytes(b"an earlier run's weights")
    with pytest.raises(SystemExit):
        module.main([flag, str(existing)])
    assert f"{flag} {existing} is a file" in capsys.readouterr().err
    assert existing.read_bytes() == b"an earlier run's weights"


def test_a_save_removes_temp_files_that_killed_saves_left_but_not_fresh_ones(tmp_path):
    """A save killed mid-write leaves ``.<name>.<hex>.tmp`` behind, as big as a
    checkpoint; the next successful save of that path removes those not written to for
    an hour, and leaves younger ones (another process's save may be in flight) and
    other files alone."""
    import time as _time
    target = tmp_path / "model.safetensors"
    stale = tmp_path / ".model.safetensors.0123456789ab.tmp"
    fresh = tmp_path / ".model.safetensors.ba9876543210.tmp"
    other = tmp_path / ".other.safetensors.0123456789ab.tmp"
    for p in (stale, fresh, other):
        p.write_bytes(b"partial")
    old = _time.time() - 2 * 3600
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    tn.save({"w": tn.ones(2)}, target)
    assert not stale.exists()
    assert fresh.exists() and other.exists()
    np.testing.assert_array_equal(tn.load(target)["w"].numpy(), [1.0, 1.0])
