"""The GPT example scripts end to end on tiny models: fine-tuning a Hugging Face
GPT-2 directory or a train_gpt.py checkpoint, and generating with the results."""
import os
import re
import sys

import numpy as np
import pytest

import tinynet as tn
from tinynet.data import CharTokenizer
from tinynet.io import load_metadata
from tinynet.models.gpt import GPT, GPTConfig

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "examples"))
import finetune_gpt  # noqa: E402
import generate  # noqa: E402
import train_gpt  # noqa: E402

TEXT = ("The quick brown fox jumps over the lazy dog. " * 40 +
        "Pack my box with five dozen liquor jugs. " * 40)


def tiny_config(vocab_size):
    return GPTConfig(vocab_size=vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=16)


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(TEXT, encoding="utf-8")
    return str(path)


@pytest.fixture
def hf_dir(tmp_path):
    """A GPT-2-layout directory: config.json, model.safetensors and a byte-level BPE
    tokenizer.json trained here (what a download of ``gpt2`` holds, but tiny)."""
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    alphabet = tokenizers.pre_tokenizers.ByteLevel.alphabet()
    tok.train_from_iterator([TEXT], tokenizers.trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=alphabet, show_progress=False))
    path = tmp_path / "gpt2-tiny"
    path.mkdir()
    tok.save(str(path / "tokenizer.json"))
    tn.manual_seed(0)
    GPT(tiny_config(tok.get_vocab_size())).save_pretrained(path)
    return str(path)


def test_finetune_a_pretrained_directory_and_generate_from_both_results(hf_dir, text_file,
                                                                         tmp_path):
    out = tmp_path / "out"
    rows, before = finetune_gpt.main([
        "--pretrained", hf_dir, "--text", text_file, "--base-text", text_file,
        "--steps", "30", "--batch-size", "4", "--block-size", "16", "--eval-iters", "4",
        "--eval-every", "0", "--out-dir", str(out)])
    (lora_name, n_lora, _, lora_val, _, _), (full_name, n_full, _, full_val, _, _) = rows
    assert (lora_name, full_name) == ("LoRA", "full")
    assert 0 < n_lora < n_full
    assert full_val < before - 0.1          # 30 steps on a repetitive text do learn
    assert lora_val < before
    meta = load_metadata(out / "lora_adapter.safetensors")
    assert meta["lora_rank"] == "8" and meta["lora_targets"] == "c_attn,c_fc"
    assert sorted(os.listdir(out / "full_finetune")) == ["config.json", "model.safetensors",
                                                          "tokenizer.json"]
    # the full fine-tune is a GPT-2 directory again; the adapter applies to the base
    greedy = ["--prompt", "The quick", "--max-new-tokens", "6", "--temperature", "0"]
    (text_full,) = generate.main(["--pretrained", str(out / "full_finetune"), *greedy])
    (text_lora,) = generate.main(["--pretrained", hf_dir, "--adapter",
                                  str(out / "lora_adapter.safetensors"), *greedy])
    (text_base,) = generate.main(["--pretrained", hf_dir, *greedy])
    assert all(t.startswith("The quick") for t in (text_full, text_lora, text_base))


def _tiny_checkpoint(tmp_path):
    """A seeded tiny char-level GPT saved as train_gpt.py saves it: (tokenizer, path)."""
    tok = CharTokenizer(TEXT)
    tn.manual_seed(0)
    ckpt = str(tmp_path / "gpt.safetensors")
    train_gpt.save_checkpoint(ckpt, GPT(tiny_config(tok.vocab_size)), tok)
    return tok, ckpt


def test_finetune_a_checkpoint_with_lora_only_then_generate_with_the_adapter(text_file,
                                                                            tmp_path):
    tok, ckpt = _tiny_checkpoint(tmp_path)
    out = tmp_path / "out"
    rows, _ = finetune_gpt.main([
        "--checkpoint", ckpt, "--text", text_file, "--base-text", text_file, "--methods", "lora",
        "--steps", "2", "--batch-size", "2", "--eval-iters", "1", "--eval-every", "0",
        "--out-dir", str(out)])
    assert [r[0] for r in rows] == ["LoRA"]
    assert os.listdir(out) == ["lora_adapter.safetensors"]
    greedy = ["--prompt", "The ", "--max-new-tokens", "5", "--temperature", "0"]
    (text,) = generate.main(["--checkpoint", ckpt, "--adapter",
                             str(out / "lora_adapter.safetensors"), *greedy])
    assert text.startswith("The ") and len(text) == 9


def test_gradient_accumulation_equals_one_bigger_batch(text_file, tmp_path):
    # one step on 2 batches of 2 windows, gradients averaged == one step on a batch of 4
    tok, ckpt = _tiny_checkpoint(tmp_path)
    weights = []
    for batch, accum in (("4", "1"), ("2", "2")):
        out = tmp_path / f"b{batch}x{accum}"
        finetune_gpt.main(["--checkpoint", ckpt, "--text", text_file, "--base-text", text_file,
                           "--methods", "full", "--steps", "1", "--batch-size", batch,
                           "--grad-accum", accum, "--eval-iters", "1", "--eval-every", "0",
                           "--out-dir", str(out)])
        weights.append(train_gpt.load_checkpoint(str(out / "full_finetune.safetensors"))[0])
    before = GPT(tiny_config(tok.vocab_size))
    before.load_state_dict(train_gpt.load_checkpoint(ckpt)[0].state_dict())
    moved = 0.0
    for (name, a), b, p0 in zip(weights[0].named_parameters(), weights[1].parameters(),
                                before.parameters()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
        moved = max(moved, float(np.abs(a.numpy() - p0.numpy()).max()))
    assert moved > 1e-4   # the step did change the weights


def test_grad_checkpoint_flag_fine_tunes_to_the_same_weights(text_file, tmp_path):
    # activation checkpointing changes memory, not the result: LoRA and full fine-tuning
    tok, ckpt = _tiny_checkpoint(tmp_path)
    results = []
    for flag in ([], ["--grad-checkpoint"]):
        out = tmp_path / ("ck" if flag else "plain")
        finetune_gpt.main(["--checkpoint", ckpt, "--text", text_file, "--base-text", text_file,
                           "--steps", "2", "--batch-size", "2", "--eval-iters", "1",
                           "--eval-every", "0", "--out-dir", str(out), *flag])
        results.append((tn.load(str(out / "lora_adapter.safetensors")),
                        train_gpt.load_checkpoint(str(out / "full_finetune.safetensors"))[0]))
    (lora0, full0), (lora1, full1) = results
    assert lora0.keys() == lora1.keys() and lora0
    for k in lora0:
        np.testing.assert_allclose(lora0[k].numpy(), lora1[k].numpy(), rtol=1e-5, atol=1e-7,
                                   err_msg=k)
    for (name, a), b in zip(full0.named_parameters(), full1.parameters()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7, err_msg=name)


def test_finetune_and_generate_flag_errors(hf_dir, text_file, tmp_path, capsys):
    with pytest.raises(SystemExit):
        finetune_gpt.main(["--pretrained", hf_dir, "--methods", "lora,bogus"])
    assert "--methods" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        finetune_gpt.main(["--pretrained", hf_dir, "--block-size", "33"])
    assert "longer than the model's context (32" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        finetune_gpt.main(["--pretrained", hf_dir, "--checkpoint", "x.safetensors"])
    # a safetensors file that is not an adapter
    plain = tmp_path / "plain.safetensors"
    tn.save({"w": np.zeros(2, np.float32)}, plain)
    with pytest.raises(SystemExit, match="no LoRA metadata"):
        generate.main(["--pretrained", hf_dir, "--adapter", str(plain)])


def test_printing_a_sample_leaves_the_random_stream_and_generator_alone():
    """sample_text restores the CPU generator's state in place: the draws after it are the
    ones a run without samples makes, and no device's generator is replaced or re-seeded."""
    tok = CharTokenizer("abcdefgh ")
    model = GPT(tiny_config(tok.vocab_size))
    tn.manual_seed(3)
    gen = tn.backend.get_generator("cpu")
    gen.random(4)
    expected = gen.random(4)
    tn.manual_seed(3)
    gen = tn.backend.get_generator("cpu")
    gen.random(4)
    text = train_gpt.sample_text(model, tok, "abc", 5, "cpu", temperature=1.0)
    assert len(text) == 3 + 5
    assert tn.backend.get_generator("cpu") is gen
    np.testing.assert_array_equal(gen.random(4), expected)


@pytest.mark.parametrize("flags, message", [
    (["--grad-clip", "-1"], "--grad-clip must be >= 0"),   # would train the model backwards
    (["--lr", "0"], "--lr must be > 0"), (["--dropout", "1.5"], r"--dropout must be in \[0, 1\)"),
    (["--warmup", "-5"], "--warmup must be >= 0"),
    (["--n-embd", "30", "--n-head", "4"], "--n-embd 30 must be a multiple of --n-head 4")])
def test_train_gpt_refuses_bad_settings_in_one_line(flags, message, tmp_path, capsys):
    with pytest.raises(SystemExit):
        train_gpt.main(flags + ["--out", str(tmp_path / "ck.safetensors")])
    assert re.search(message, capsys.readouterr().err)


def test_a_stream_resumed_on_a_shorter_text_starts_a_fresh_epoch():
    def loader(n):
        return tn.data.DataLoader(tn.data.TextDataset(np.arange(n), 4), batch_size=2,
                                  shuffle=True, seed=0)
    long_run = train_gpt.BatchStream(loader(200))
    for _ in range(30):
        next(long_run)
    short = train_gpt.BatchStream(loader(20))            # 8 batches an epoch
    short.load_state_dict(long_run.state_dict())         # 30 drawn: past its end
    assert short.state_dict()["drawn"] == 0
    x, _ = next(short)
    assert x.shape == (2, 4)
