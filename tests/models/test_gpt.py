"""GPT: architecture, training, KV-cache generation, and Hugging Face GPT-2 weights both ways."""
import json
import os

import numpy as np
import pytest

import tinynet as tn
from tinynet.io import load, save
from tinynet.models.gpt import GPT, GPTConfig, sample_next

CFG = GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=16)


def tiny(seed=0, **kw):
    tn.manual_seed(seed)
    return GPT(GPTConfig(**{**CFG.__dict__, **kw}))


def expected_params(c: GPTConfig):
    C, V = c.n_embd, c.vocab_size
    block = 2 * 2 * C + (3 * C * C + 3 * C) + (C * C + C) + (4 * C * C + 4 * C) + (4 * C * C + C)
    return V * C + c.block_size * C + c.n_layer * block + 2 * C


def test_parameter_names_counts_and_tying():
    m = tiny()
    names = [n for n, _ in m.named_parameters()]
    assert names[:8] == ["transformer.wte.weight", "transformer.wpe.weight",
                         "transformer.h.0.ln_1.weight", "transformer.h.0.ln_1.bias",
                         "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_attn.bias",
                         "transformer.h.0.attn.c_proj.weight", "transformer.h.0.attn.c_proj.bias"]
    assert "transformer.h.1.mlp.c_fc.weight" in names and names[-2:] == [
        "transformer.ln_f.weight", "transformer.ln_f.bias"]
    assert "lm_head.weight" not in names and "lm_head.weight" in m.state_dict()
    assert m.lm_head.weight is m.transformer.wte.weight
    assert sum(p.numel() for p in m.parameters()) == expected_params(CFG)
    assert m.num_parameters() == expected_params(CFG) - 16 * 16
    nb = tiny(bias=False)
    assert not any(n.endswith("bias") for n in nb.state_dict())


def test_gpt2_init_statistics():
    m = tiny(n_layer=4, n_embd=64, vocab_size=300)
    w = m.transformer.h[0].mlp.c_fc.weight.numpy()
    assert abs(w.std() - 0.02) < 0.002
    p = np.concatenate([m.transformer.h[i].attn.c_proj.weight.numpy().ravel() for i in range(4)])
    assert abs(p.std() - 0.02 / np.sqrt(8)) < 0.001
    assert np.all(m.transformer.h[0].attn.c_attn.bias.numpy() == 0)


def test_forward_shapes_loss_and_errors():
    m = tiny()
    idx = tn.randint(0, 50, (3, 11))
    logits, loss = m(idx)
    assert logits.shape == (3, 11, 50) and loss is None and logits.dtype == np.float32
    _, loss = m(idx, tn.randint(0, 50, (3, 11)))
    assert abs(loss.item() - np.log(50)) < 0.1          # near uniform at init
    t = idx.numpy().copy()
    t[:, :5] = -1                                        # ignored positions
    _, l2 = m(idx, tn.tensor(t))
    ref = -np.log(np.take_along_axis(
        np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(-1, keepdims=True),
        idx.numpy()[..., None], -1))[:, 5:].mean()
    assert l2.item() == pytest.approx(ref, rel=1e-4)
    with pytest.raises(ValueError, match="block_size"):
        m(tn.randint(0, 50, (1, 17)))
    with pytest.raises(TypeError, match="integers"):
        m(tn.randn(1, 4))
    for ids in ([[1.7, 2.2]], np.array([[1.7, 2.2]])):   # not truncated to [[1, 2]]
        with pytest.raises(TypeError, match="GPT.forward: token ids must be integers.*float64"):
            m(ids)
        with pytest.raises(TypeError, match="GPT.generate: token ids must be integers"):
            m.generate(ids, 1)
    with pytest.raises(ValueError, match=r"GPT.forward: idx must be \(B, T\) with T >= 1"):
        m(np.zeros((1, 0), np.int64))
    with pytest.raises(ValueError, match="max_new_tokens must be >= 0"):
        m.generate([[1, 2]], -1)
    assert m.generate([[1, 2]], 0).shape == (1, 2)


def test_causality():
    m = tiny().eval()
    idx = tn.randint(0, 50, (1, 12))
    a = m(idx)[0].numpy()
    changed = idx.numpy().copy()
    changed[0, 8] = (changed[0, 8] + 1) % 50
    b = m(tn.tensor(changed))[0].numpy()
    np.testing.assert_array_equal(a[0, :8], b[0, :8])   # the past never sees the future
    assert not np.allclose(a[0, 8:], b[0, 8:])


def test_training_lowers_loss_and_optimizer_groups():
    m = tiny(dropout=0.1)
    opt = m.configure_optimizers(weight_decay=0.1, learning_rate=1e-2, betas=(0.9, 0.95))
    g_decay, g_plain = opt.param_groups
    assert g_decay["weight_decay"] == 0.1 and g_plain["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in g_decay["params"])
    assert all(p.ndim == 1 for p in g_plain["params"])
    assert len(g_decay["params"]) + len(g_plain["params"]) == len(list(m.parameters()))
    data = np.tile(np.arange(10), 20)                    # a deterministic sequence
    x = tn.tensor(np.stack([data[i:i + 16] for i in range(8)]))
    y = tn.tensor(np.stack([data[i + 1:i + 17] for i in range(8)]))
    losses = []
    for _ in range(40):
        opt.zero_grad()
        _, loss = m(x, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


@pytest.mark.parametrize("prompt_len,new,shift", [(1, 10, 1), (5, 25, 1), (16, 4, 1),
                                                  (3, 40, 5), (20, 30, 16)])
def test_kv_cache_generation_equals_uncached(prompt_len, new, shift):
    """Greedy decoding with and without the cache: same tokens and logits, past block_size too."""
    m = tiny(seed=2).double()
    prompt = tn.randint(0, 50, (2, prompt_len))
    a, la = m.generate(prompt, new, temperature=0, return_logits=True, window_shift=shift)
    b, lb = m.generate(prompt, new, temperature=0, use_cache=False, return_logits=True,
                       window_shift=shift)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_allclose(la.numpy(), lb.numpy(), atol=1e-10)
    assert a.shape == (2, prompt_len + new)
    np.testing.assert_array_equal(a.numpy()[:, :prompt_len], prompt.numpy())
    # while everything fits in block_size, the logits equal one full forward
    full = m(a[:, :min(a.shape[1] - 1, 16)])[0].numpy()
    n = min(new, 16 - prompt_len + 1) if prompt_len <= 16 else 0
    np.testing.assert_allclose(la.numpy()[:, :n], full[:, prompt_len - 1:prompt_len - 1 + n],
                               atol=1e-10)
    if shift == 1 and prompt_len + new > 16:   # nanoGPT's crop: the last 16 tokens each step
        last = m(a[:, -17:-1])[0].numpy()[:, -1]
        np.testing.assert_allclose(la.numpy()[:, -1], last, atol=1e-10)


def test_generate_keeps_mode_and_float32_cache_close():
    m = tiny(seed=5)
    assert m.training
    prompt = tn.randint(0, 50, (1, 3))
    a, la = m.generate(prompt, 12, temperature=0, return_logits=True)
    b, lb = m.generate(prompt, 12, temperature=0, use_cache=False, return_logits=True)
    assert m.training
    np.testing.assert_allclose(la.numpy(), lb.numpy(), atol=1e-4)


def test_sampling_top_k_top_p_and_seed():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]] * 2000))
    tn.manual_seed(0)
    s = sample_next(logits, top_k=2)
    assert set(np.unique(s)) == {0, 1} and abs((s == 0).mean() - 0.5 / 0.8) < 0.05
    s = sample_next(logits, top_p=0.7)                   # 0.5 + 0.3 reaches 0.7
    assert set(np.unique(s)) == {0, 1}
    s = sample_next(logits, top_p=0.0)                   # always keeps the top token
    assert np.all(s == 0)
    assert np.all(sample_next(logits, temperature=0) == 0)
    s = sample_next(logits)
    assert abs((s == 3).mean() - 0.05) < 0.02
    m = tiny()
    p = tn.randint(0, 50, (2, 3))
    tn.manual_seed(9)
    a = m.generate(p, 6, top_k=10, top_p=0.9).numpy()
    tn.manual_seed(9)
    b = m.generate(p, 6, top_k=10, top_p=0.9).numpy()
    np.testing.assert_array_equal(a, b)
    for bad, match in ((dict(top_k=-3), "top_k"), (dict(top_k=2.5), "top_k must be an integer"),
                       (dict(top_p=1.5), "top_p"), (dict(top_p=-0.5), "top_p")):
        with pytest.raises(ValueError, match=match):
            sample_next(logits, **bad)


def test_state_dict_round_trip(tmp_path):
    m = tiny(seed=1)
    save(m.state_dict(), tmp_path / "gpt.safetensors")
    m2 = tiny(seed=2)
    m2.load_state_dict(load(tmp_path / "gpt.safetensors"))
    idx = tn.randint(0, 50, (2, 9))
    np.testing.assert_array_equal(m(idx)[0].numpy(), m2(idx)[0].numpy())


def test_save_pretrained_layout_and_reload(tmp_path):
    m = tiny(seed=1)
    m.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert (cfg["n_positions"], cfg["n_embd"], cfg["n_layer"], cfg["n_head"],
            cfg["vocab_size"]) == (16, 16, 2, 2, 50)
    sd = load(tmp_path / "model.safetensors")
    assert "lm_head.weight" not in sd
    assert sd["transformer.h.0.attn.c_attn.weight"].shape == (16, 48)   # Conv1D (in, out)
    # keys without the 'transformer.' prefix (the original GPT-2 files) load too
    save({k[len("transformer."):]: v for k, v in sd.items()}, tmp_path / "model.safetensors")
    m2 = GPT.from_pretrained(tmp_path)
    idx = tn.randint(0, 50, (1, 9))
    np.testing.assert_array_equal(m(idx)[0].numpy(), m2(idx)[0].numpy())
    with pytest.raises(ValueError, match="bias"):
        tiny(bias=False).save_pretrained(tmp_path / "nb")
    with pytest.raises(FileNotFoundError, match="config.json"):
        GPT.from_pretrained(tmp_path / "missing")
    # attention-scaling options tinynet's GPT does not implement are refused, not ignored
    for key, value in (("scale_attn_by_inverse_layer_idx", True), ("scale_attn_weights", False)):
        (tmp_path / "config.json").write_text(json.dumps({**cfg, key: value}))
        with pytest.raises(ValueError, match=key):
            GPT.from_pretrained(tmp_path)


@pytest.fixture(scope="module")
def hf_model():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=100,
                                  n_positions=64, bos_token_id=99, eos_token_id=99)
    return transformers.GPT2LMHeadModel(cfg).eval()


def test_from_pretrained_matches_transformers(hf_model, tmp_path):
    import torch
    hf_model.save_pretrained(tmp_path, safe_serialization=True)
    m = GPT.from_pretrained(tmp_path)
    assert m.config.block_size == 64 and m.config.vocab_size == 100
    ids = np.random.default_rng(0).integers(0, 100, (2, 40))
    with torch.no_grad():
        ref = hf_model(torch.tensor(ids)).logits.numpy()
    np.testing.assert_allclose(m(tn.tensor(ids))[0].numpy(), ref, atol=1e-4)
    # greedy generation agrees with transformers' own (cached) generate
    with torch.no_grad():
        ref_gen = hf_model.generate(torch.tensor(ids[:1, :5]), max_new_tokens=10,
                                    do_sample=False, pad_token_id=99).numpy()
    np.testing.assert_array_equal(m.generate(tn.tensor(ids[:1, :5]), 10, temperature=0).numpy(),
                                  ref_gen)


def test_from_pretrained_reads_pytorch_model_bin_without_unpickling(hf_model, tmp_path):
    # many Hugging Face GPT-2 fine-tunes ship only pytorch_model.bin (a torch.save pickle)
    import torch
    hf_model.save_pretrained(tmp_path)   # config.json (transformers 5 writes only safetensors)
    os.remove(tmp_path / "model.safetensors")
    torch.save(hf_model.state_dict(), tmp_path / "pytorch_model.bin")   # what older ones wrote
    m = GPT.from_pretrained(tmp_path)
    ids = np.random.default_rng(2).integers(0, 100, (2, 20))
    with torch.no_grad():
        ref = hf_model(torch.tensor(ids)).logits.numpy()
    np.testing.assert_allclose(m(tn.tensor(ids))[0].numpy(), ref, atol=1e-4)


def test_save_pretrained_loads_in_transformers(hf_model, tmp_path):
    import torch
    import transformers
    m = tiny(seed=4, vocab_size=100, block_size=64, n_embd=32)
    m.save_pretrained(tmp_path)
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    ids = np.random.default_rng(1).integers(0, 100, (2, 30))
    with torch.no_grad():
        ref = hf(torch.tensor(ids)).logits.numpy()
    np.testing.assert_allclose(m(tn.tensor(ids))[0].numpy(), ref, atol=1e-4)


@pytest.mark.parametrize("n_inner, tied", [(48, False), (80, True), (None, False)])
def test_mlp_width_and_untied_head_round_trip_with_transformers(tmp_path, n_inner, tied):
    # GPT-2 configs may set the MLP width (n_inner) and an untied lm_head; both directions
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    torch.manual_seed(1)
    cfg = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=60, n_positions=32,
                                  n_inner=n_inner, tie_word_embeddings=tied)
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    if not tied:   # a distinct head, so that loading wte into it would be caught
        with torch.no_grad():
            hf.lm_head.weight.normal_(0.0, 0.5)
    hf.save_pretrained(tmp_path / "hf", safe_serialization=True)
    m = GPT.from_pretrained(tmp_path / "hf")
    assert (m.lm_head.weight is m.transformer.wte.weight) == tied
    assert m.transformer.h[0].mlp.c_fc.weight.shape == (n_inner or 128, 32)
    ids = np.random.default_rng(3).integers(0, 60, (2, 20))
    with torch.no_grad():
        ref = hf(torch.tensor(ids)).logits.numpy()
    np.testing.assert_allclose(m(tn.tensor(ids))[0].numpy(), ref, atol=1e-4)
    # and back: tinynet's save_pretrained keeps the width and the separate head
    m.save_pretrained(tmp_path / "tn")
    back = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "tn").eval()
    with torch.no_grad():
        np.testing.assert_allclose(back(torch.tensor(ids)).logits.numpy(), ref, atol=1e-4)


def test_save_pretrained_keeps_a_head_untied_after_construction(tmp_path):
    # a user who unties the head by hand (nn.Parameter of its own) must not lose it
    m = tiny(seed=5)
    m.lm_head.weight = tn.nn.Parameter(tn.randn(*m.lm_head.weight.shape) * 0.3)
    m.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["tie_word_embeddings"] is False
    m2 = GPT.from_pretrained(tmp_path)
    idx = tn.randint(0, 50, (2, 9))
    np.testing.assert_allclose(m2(idx)[0].numpy(), m(idx)[0].numpy(), atol=1e-6)
