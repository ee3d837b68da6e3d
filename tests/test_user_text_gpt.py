"""The GPT examples used on one's own text: odd files, resuming training, fine-tuning
onto a text with other characters, adapters on the wrong base, sampling flags."""
import os
import sys
import time
import warnings

import numpy as np
import pytest

import tinynet as tn
from tinynet.data import CharTokenizer
from tinynet.models.gpt import GPT, GPTConfig, sample_next

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "examples"))
import finetune_gpt  # noqa: E402
import generate  # noqa: E402
import train_gpt  # noqa: E402

TEXT = ("Héllo wörld! Ça va? 😀 naïve café.\n"
        "The quick brown fox 🦊 jumps over the lazy dog.\n") * 30
OTHER = "Zebra XYZ quantum jigsaw! {}[] 1234567890\n" * 30   # mostly characters TEXT lacks
TINY = ["--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--block-size", "16",
        "--batch-size", "4", "--warmup", "3", "--eval-iters", "2"]


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def checkpoint(tmp_path, name, text=TEXT, seed=0):
    """A train_gpt.py checkpoint of a tiny untrained char-level GPT of ``text``."""
    tok = CharTokenizer(text)
    tn.manual_seed(seed)
    path = str(tmp_path / name)
    train_gpt.save_checkpoint(path, GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16,
                                                  n_layer=1, n_head=2, n_embd=16)), tok)
    return path


def test_read_text_drops_the_bom_and_crlf_and_names_the_file_on_errors(tmp_path):
    plain = write(tmp_path, "plain.txt", TEXT.encode("utf-8"))
    bom_crlf = write(tmp_path, "win.txt", b"\xef\xbb\xbf" + TEXT.replace("\n", "\r\n")
                     .encode("utf-8"))
    assert train_gpt.read_text(bom_crlf) == train_gpt.read_text(plain) == TEXT
    latin1 = write(tmp_path, "latin1.txt", "café naïve".encode("latin-1"))
    empty = write(tmp_path, "empty.txt", b"")
    (tmp_path / "folder").mkdir()
    for path, match in ((latin1, "not UTF-8.*iconv"), (empty, "empty"),
                        (str(tmp_path / "folder"), "a folder without text"),
                        (str(tmp_path / "missing.txt"), "cannot read it")):
        with pytest.raises(SystemExit, match=match) as e:
            train_gpt.read_text(path)
        assert path in str(e.value)


def test_a_folder_of_text_files_is_read_in_sorted_order_and_trains(tmp_path):
    notes = tmp_path / "notes"
    (notes / "2024").mkdir(parents=True)
    (notes / "b.md").write_bytes(b"\xef\xbb\xbfsecond\r\n")
    (notes / "a.txt").write_text("first")                  # no final newline: one is added
    (notes / "2024" / "c.TXT").write_text("third\n")
    (notes / "empty.txt").write_text("")
    (notes / "photo.jpg").write_bytes(b"\xff\xd8\xff")     # not text: not read
    assert train_gpt.read_text(str(notes)) == "third\nfirst\nsecond\n"
    (notes / "bad.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(SystemExit, match=r"bad\.txt: not UTF-8"):
        train_gpt.read_text(str(notes))
    os.remove(notes / "bad.txt")
    (notes / "a.txt").write_text(TEXT)
    out = str(tmp_path / "gpt.safetensors")
    train_gpt.main(["--text", str(notes), "--out", out, *TINY, "--max-steps", "2",
                    "--eval-interval", "2"])
    _, tok, info = train_gpt.load_checkpoint(out)
    assert set("third") <= set(tok.chars) and info["step"] == 2


def test_train_gpt_exits_clearly_on_an_empty_file_and_a_directory_out(tmp_path):
    empty = write(tmp_path, "empty.txt", b"")
    for tokenizer in ("char", "byte"):   # the char tokenizer used to fail deep inside
        with pytest.raises(SystemExit, match="empty"):
            train_gpt.main(["--text", empty, "--tokenizer", tokenizer, *TINY])
    text = write(tmp_path, "text.txt", TEXT.encode("utf-8"))
    with pytest.raises(SystemExit) as e:
        train_gpt.main(["--text", text, "--out", str(tmp_path), *TINY])
    assert e.value.code == 2   # an argparse error, before any training


def assert_same_run(path_a, path_b):
    """The two train_gpt checkpoints hold the same step, losses, history and weights."""
    (a, _, info_a), (b, _, info_b) = train_gpt.load_checkpoint(path_a), \
        train_gpt.load_checkpoint(path_b)
    assert info_a["step"] == info_b["step"] == 12
    assert info_a["val_loss"] == info_b["val_loss"]
    assert info_a["training"]["history"] == info_b["training"]["history"]
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        np.testing.assert_array_equal(x.numpy(), y.numpy(), err_msg=name)


def test_train_gpt_resume_continues_exactly_like_an_uninterrupted_run(tmp_path, monkeypatch):
    text = write(tmp_path, "text.txt", TEXT.encode("utf-8"))
    # dropout and samples draw random numbers too: the resumed run must draw the same
    flags = ["--text", text, *TINY, "--max-steps", "12", "--eval-interval", "4",
             "--sample-interval", "4", "--dropout", "0.1", "--grad-clip", "0.5"]
    whole, cut = str(tmp_path / "whole.safetensors"), str(tmp_path / "cut.safetensors")
    train_gpt.main([*flags, "--out", whole])
    real_step, calls = train_gpt.train_step, []

    def interrupted_after_step_9(*args):   # 4 timing steps, then the run's own
        calls.append(1)
        if len(calls) == 4 + 10:
            raise KeyboardInterrupt
        return real_step(*args)

    monkeypatch.setattr(train_gpt, "train_step", interrupted_after_step_9)
    with pytest.raises(KeyboardInterrupt):
        train_gpt.main([*flags, "--out", cut])
    monkeypatch.setattr(train_gpt, "train_step", real_step)
    assert train_gpt.load_checkpoint(cut)[2]["step"] == 8     # the last evaluation's
    # the text, batch size, gradient clipping and model come from the checkpoint; samples
    # (here at other steps) draw nothing from the training run's random state
    train_gpt.main(["--resume", cut, "--eval-interval", "4", "--sample-interval", "3",
                    "--eval-iters", "2"])
    assert_same_run(whole, cut)

    # stopped by the time budget after step 10 (between evaluations), then resumed
    real_clock, budget = time.perf_counter, str(tmp_path / "budget.safetensors")

    def out_of_time_after_step_10(*args):
        calls.append(1)
        loss = real_step(*args)
        if len(calls) == 4 + 10:
            monkeypatch.setattr(time, "perf_counter", lambda: real_clock() + 1e9)
        return loss

    calls.clear()
    monkeypatch.setattr(train_gpt, "train_step", out_of_time_after_step_10)
    train_gpt.main([*flags, "--out", budget])
    monkeypatch.setattr(time, "perf_counter", real_clock)
    monkeypatch.setattr(train_gpt, "train_step", real_step)
    assert train_gpt.load_checkpoint(budget)[2]["step"] == 10
    train_gpt.main(["--resume", budget, "--eval-interval", "4", "--eval-iters", "2"])
    assert_same_run(whole, budget)
    # a checkpoint without training state (fine-tuned, or saved by hand) is refused
    with pytest.raises(SystemExit, match="no training state"):
        train_gpt.main(["--resume", checkpoint(tmp_path, "plain.safetensors")])


def test_finetune_refuses_a_text_the_char_vocabulary_cannot_read(tmp_path, capsys):
    ckpt = checkpoint(tmp_path, "base.safetensors")
    base = write(tmp_path, "base.txt", TEXT.encode("utf-8"))
    other = write(tmp_path, "other.txt", OTHER.encode("utf-8"))
    flags = ["--checkpoint", ckpt, "--base-text", base, "--methods", "lora", "--steps", "1",
             "--batch-size", "2", "--eval-iters", "1", "--eval-every", "0",
             "--out-dir", str(tmp_path / "out")]
    with pytest.raises(SystemExit, match=r"other.txt: \d+ of its \d+ characters .*'Z'.*"
                       "byte-level"):
        finetune_gpt.main(["--text", other, *flags])
    # a few unknown characters are dropped with a note naming them
    few = write(tmp_path, "few.txt", (TEXT + "§").encode("utf-8"))
    finetune_gpt.main(["--text", few, *flags])
    assert "dropped 1 character of" in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r"1 of its 2431 characters \(0.041%; '§'\)"):
        finetune_gpt.main(["--text", few, "--max-unknown", "0", *flags])
    with pytest.raises(SystemExit):
        finetune_gpt.main(["--text", few, "--max-unknown", "2", *flags])
    assert "--max-unknown must be a fraction" in capsys.readouterr().err


def test_finetune_measures_forgetting_on_the_checkpoints_own_text(tmp_path, capsys):
    text = write(tmp_path, "mine.txt", TEXT.encode("utf-8"))
    ckpt = str(tmp_path / "gpt.safetensors")
    train_gpt.main(["--text", text, *TINY, "--max-steps", "2", "--out", ckpt])
    capsys.readouterr()
    # no --base-text: Python's docs (full of characters TEXT lacks) are not the base text
    finetune_gpt.main(["--checkpoint", ckpt, "--text", text, "--methods", "lora",
                       "--steps", "1", "--batch-size", "2", "--eval-iters", "1",
                       "--eval-every", "0", "--out-dir", str(tmp_path / "out")])
    assert f"base text (to measure forgetting): {os.path.abspath(text)}" in \
        capsys.readouterr().out


def test_an_adapter_is_refused_on_another_base_model(tmp_path):
    ckpt = checkpoint(tmp_path, "a.safetensors", seed=0)
    other = checkpoint(tmp_path, "b.safetensors", seed=1)   # same shape, other weights
    text = write(tmp_path, "text.txt", TEXT.encode("utf-8"))
    out = tmp_path / "out"
    finetune_gpt.main(["--checkpoint", ckpt, "--text", text, "--base-text", text,
                       "--methods", "lora", "--steps", "1", "--batch-size", "2",
                       "--eval-iters", "1", "--eval-every", "0", "--out-dir", str(out)])
    adapter = str(out / "lora_adapter.safetensors")
    greedy = ["--adapter", adapter, "--prompt", "The ", "--max-new-tokens", "3",
              "--temperature", "0"]
    (sample,) = generate.main(["--checkpoint", ckpt, *greedy])
    assert sample.startswith("The ")
    with pytest.raises(SystemExit, match="trained on another base model"):
        generate.main(["--checkpoint", other, *greedy])
    with pytest.raises(SystemExit, match="cannot read it"):
        generate.main(["--checkpoint", ckpt, "--adapter", str(tmp_path / "missing")])


def test_generate_flag_and_checkpoint_errors_are_one_line_messages(tmp_path, capsys):
    ckpt = checkpoint(tmp_path, "gpt.safetensors")
    for flags, message in ((["--temperature", "-1"], "--temperature"),
                           (["--temperature", "nan"], "--temperature"),
                           (["--top-k", "-2"], "--top-k"), (["--top-p", "1.5"], "--top-p"),
                           (["--max-new-tokens", "-3"], "--max-new-tokens"),
                           (["--num-samples", "0"], "--num-samples"),
                           (["--window-shift", "0"], "--window-shift"),
                           (["--window-shift", "17"], "longer than the model's context")):
        with pytest.raises(SystemExit) as e:
            generate.main(["--checkpoint", ckpt, *flags])
        assert e.value.code == 2 and message in capsys.readouterr().err, flags
    not_a_checkpoint = write(tmp_path, "text.txt", TEXT.encode("utf-8"))
    for path, match in ((str(tmp_path / "missing.safetensors"), "not found"),
                        (not_a_checkpoint, "not a GPT checkpoint")):
        with pytest.raises(SystemExit, match=match):
            generate.main(["--checkpoint", path])


def test_a_tiny_temperature_is_greedy_without_nan_or_warnings():
    logits = np.array([[1.0, 3.0, 2.0], [5.0, -1.0, 4.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no overflow / invalid-value warnings either
        for t in (1e-3, 1e-300, 1e-320, 5e-324):
            np.testing.assert_array_equal(sample_next(logits, temperature=t), [1, 0])
            np.testing.assert_array_equal(sample_next(logits, temperature=t, top_k=2,
                                                      top_p=0.5), [1, 0])
    with pytest.raises(ValueError, match="temperature"):
        sample_next(logits, temperature=float("nan"))


def test_a_directory_without_weights_names_the_files_it_looked_for(tmp_path):
    GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=1, n_embd=4)) \
        .save_pretrained(tmp_path)
    os.remove(tmp_path / "model.safetensors")
    with pytest.raises(FileNotFoundError, match="model.safetensors.*pytorch_model.bin"):
        GPT.from_pretrained(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(SystemExit, match="pytorch_model.bin"):   # one line, no traceback
        generate.main(["--pretrained", str(tmp_path)])

def test_a_shard_index_naming_a_file_outside_the_directory_is_refused(tmp_path):
    GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=1, n_embd=4)) \
        .save_pretrained(tmp_path)
    os.remove(tmp_path / "model.safetensors")
    (tmp_path / "model.safetensors.index.json").write_text(
        '{"weight_map": {"wte.weight": "../elsewhere.safetensors"}}')
    with pytest.raises(ValueError, match="not a file name in that directory"):
        GPT.from_pretrained(tmp_path)


def test_train_gpt_grad_checkpoint_runs_the_same_training(tmp_path):
    # activation checkpointing changes memory, not the run: dropout masks are replayed
    text = write(tmp_path, "text.txt", TEXT.encode("utf-8"))
    flags = ["--text", text, *TINY, "--max-steps", "12", "--eval-interval", "4",
             "--sample-interval", "4", "--dropout", "0.1"]
    plain, ck = str(tmp_path / "plain.safetensors"), str(tmp_path / "ck.safetensors")
    train_gpt.main([*flags, "--out", plain])
    train_gpt.main([*flags, "--grad-checkpoint", "--out", ck])
    assert_same_run(plain, ck)


def test_a_text_folder_leaves_hidden_files_and_folders_out(tmp_path):
    # a folder copied from a Mac holds ._name.txt AppleDouble files (binary, not UTF-8)
    # and a git checkout a .git/ folder: as ImageFolder does, hidden entries are skipped
    notes = tmp_path / "notes"
    (notes / ".git").mkdir(parents=True)
    (notes / "a.txt").write_text("first\n")
    (notes / "._a.txt").write_bytes(b"\x00\x05\x16\x07\xff\xfe Mac OS X")
    (notes / ".git" / "NOTES.txt").write_text("not the corpus\n")
    assert train_gpt.read_text(str(notes)) == "first\n"
