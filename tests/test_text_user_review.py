"""A user's review of the text side: their own files and prompts (BOMs, Latin-1 bytes,
dollar signs), sampling a diverged model, the generate/fine-tune flags, and habits
carried over from nanoGPT."""
import os
import sys

import numpy as np
import pytest

import tinynet as tn
from tinynet.data import ByteTokenizer, CharTokenizer
from tinynet.models.gpt import GPT, GPTConfig, sample_next

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "examples"))
import finetune_gpt  # noqa: E402
import generate  # noqa: E402
import train_gpt  # noqa: E402

TEXT = "The quick brown fox jumps over the lazy dog. 😀 café\n" * 40


def tiny_gpt(vocab_size, seed=0):
    tn.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=16))


def char_checkpoint(tmp_path, tokenizer=None):
    tok = tokenizer or CharTokenizer(TEXT)
    path = str(tmp_path / "ck.safetensors")
    train_gpt.save_checkpoint(path, tiny_gpt(tok.vocab_size), tok)
    return path


def test_read_text_names_the_file_offset_and_line_of_a_bad_byte_after_a_bom(tmp_path):
    # the offset used to be counted after the BOM: 3 bytes short of where the byte is
    data = b"\xef\xbb\xbf" + b"first line\r\nsecond caf\xe9\n"
    path = tmp_path / "latin1_bom.txt"
    path.write_bytes(data)
    with pytest.raises(SystemExit) as e:
        train_gpt.read_text(str(path))
    bad = data.index(b"\xe9")
    assert f"at byte {bad}" in str(e.value) and "line 2" in str(e.value)
    # and a good file still reads as Python's text mode does (BOM dropped, \r\n and \r -> \n)
    path.write_bytes(b"\xef\xbb\xbfa\r\nb\rc\n\xc3\xa9")
    assert train_gpt.read_text(str(path)) == "a\nb\nc\né"


def test_byte_tokenizer_encodes_a_non_utf8_command_line_prompt_as_its_bytes(tmp_path, capsys):
    # Python reads argv bytes that are not UTF-8 (a Latin-1 terminal) as lone surrogates
    prompt = os.fsdecode(b"caf\xe9")
    tok = ByteTokenizer()
    np.testing.assert_array_equal(tok.encode(prompt), list(b"caf\xe9"))
    with pytest.raises(ValueError, match=r"ByteTokenizer.encode: .*'\\ud800' at position 1"):
        tok.encode("a\ud800")   # a surrogate no bytes stand behind
    path = str(tmp_path / "byte.safetensors")
    train_gpt.save_checkpoint(path, tiny_gpt(256), tok)
    texts = generate.main(["--checkpoint", path, "--prompt", prompt, "--max-new-tokens", "3"])
    assert texts[0].startswith("caf\ufffd")   # it used to die with a UnicodeEncodeError


def test_a_bpe_tokenizer_refuses_a_non_utf8_prompt_with_a_clear_message(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    from tinynet.data import BPETokenizer
    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    tok.train_from_iterator([TEXT], tokenizers.trainers.BpeTrainer(
        vocab_size=280, initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    d = tmp_path / "gpt2-tiny"
    d.mkdir()
    tok.save(str(d / "tokenizer.json"))
    tiny_gpt(tok.get_vocab_size()).save_pretrained(d)
    bpe = BPETokenizer.from_file(d / "tokenizer.json")
    with pytest.raises(ValueError, match=r"BPETokenizer.encode: .*'\\udce9' at position 3"):
        bpe.encode(os.fsdecode(b"caf\xe9"))   # was TypeError: TextInputSequence must be str
    with pytest.raises(SystemExit, match="the prompt: .*not valid UTF-8"):
        generate.main(["--pretrained", str(d), "--prompt", os.fsdecode(b"caf\xe9")])


def test_plot_attention_draws_token_labels_with_dollar_signs(tmp_path):
    pytest.importorskip("matplotlib")
    from tinynet.viz import plot_attention
    w = np.tril(np.ones((4, 4))) / np.arange(1, 5)[:, None]
    # tokens of LaTeX or shell text: matplotlib used to parse them as math and fail
    plot_attention(w, ["$$", "a$_$", "$x^", "\\frac"], tmp_path / "attn.png")
    assert (tmp_path / "attn.png").stat().st_size > 0


def test_sampling_a_diverged_model_is_an_error_not_token_zero():
    logits = np.array([[1.0, 2.0, 3.0], [np.nan, 0.0, 1.0]])
    for kw in ({}, {"top_k": 2}, {"top_p": 0.9}):
        with pytest.raises(ValueError, match=r"sample_next: .*row 1 has NaN"):
            sample_next(logits, 1.0, **kw)
    with pytest.raises(ValueError, match="no token"):   # every token masked out
        sample_next(np.full((1, 3), -np.inf), 1.0)
    # greedy picks like torch.argmax (a NaN counts as the largest), as before
    np.testing.assert_array_equal(sample_next(logits, 0.0), [2, 0])


def test_generate_cli_checks_the_attention_flags(tmp_path, capsys):
    path = char_checkpoint(tmp_path)
    base = ["--checkpoint", path, "--prompt", "The ", "--max-new-tokens", "2",
            "--attention-png", str(tmp_path / "a.png")]
    for flags, message in ((["--attention-layer", "2"], "--attention-layer 2"),
                           (["--attention-layer", "-3"], "--attention-layer -3"),
                           (["--attention-tokens", "0"], "--attention-tokens")):
        with pytest.raises(SystemExit) as e:   # layer 2 used to plot layer 0 of 2, silently
            generate.main(base + flags)
        assert e.value.code == 2 and message in capsys.readouterr().err, flags
    generate.main(base + ["--attention-layer", "-2"])   # Python's negative index: layer 0
    assert "attention map of layer 0" in capsys.readouterr().out


def test_char_tokenizer_refuses_vocabulary_entries_of_several_characters():
    # they used to give vocab_size 2 and ids up to 2: encode("c") == [2]
    with pytest.raises(ValueError, match=r"CharTokenizer: .*'ab'"):
        CharTokenizer(["ab", "c"])
    assert CharTokenizer(["b", "a", "b"]).chars == ["a", "b"]


def test_configure_optimizers_takes_nanogpts_device_type_argument():
    m = tiny_gpt(11)
    opt = m.configure_optimizers(0.1, 6e-4, (0.9, 0.95), "cpu")   # nanoGPT's call
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]
    assert all(g["eps"] == 1e-8 for g in opt.param_groups)
    _, loss = m(tn.tensor([[1, 2, 3]]), tn.tensor([[2, 3, 4]]))
    loss.backward()
    opt.step()


def test_finetune_lora_targets_matching_nothing_is_a_flag_error_before_training(tmp_path,
                                                                                capsys):
    path = char_checkpoint(tmp_path)
    text = tmp_path / "new.txt"
    text.write_text(TEXT, encoding="utf-8")
    for targets in ("nothing", ",", "lm_head"):
        with pytest.raises(SystemExit) as e:
            finetune_gpt.main(["--checkpoint", path, "--text", str(text), "--base-text",
                               str(text), "--methods", "lora", "--targets", targets,
                               "--steps", "1", "--batch-size", "2", "--eval-iters", "1",
                               "--out-dir", str(tmp_path / "out")])
        out = capsys.readouterr()
        assert e.value.code == 2 and "--targets" in out.err, targets
        assert "before:" not in out.out   # refused before evaluating the base model


def test_save_pretrained_declares_no_end_of_text_token_a_char_vocabulary_lacks(tmp_path):
    # eos_token_id was vocab_size - 1: transformers' generate stopped at the last character
    # of a char-level vocabulary (here 'z') while tinynet's went on
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    import json
    m = tiny_gpt(11)
    w = m.transformer.wte.weight.data
    w[10] = 1.5 * w[3]   # token 10 follows everything greedily
    m.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["bos_token_id"] is None and config["eos_token_id"] is None
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    ids = np.array([[1, 2, 3]])
    ours = m.generate(tn.tensor(ids), 6, temperature=0).numpy()
    assert (ours[0, 3:] == 10).all()
    with torch.no_grad():
        theirs = hf.generate(torch.tensor(ids), attention_mask=torch.ones(1, 3, dtype=torch.long),
                             max_new_tokens=6, do_sample=False).numpy()
    np.testing.assert_array_equal(theirs, ours)
    # GPT-2's own vocabulary keeps its <|endoftext|> (50256)
    big = GPT(GPTConfig(vocab_size=50257, block_size=4, n_layer=1, n_head=1, n_embd=4))
    big.save_pretrained(tmp_path / "gpt2")
    config = json.loads((tmp_path / "gpt2" / "config.json").read_text())
    assert config["bos_token_id"] == config["eos_token_id"] == 50256
