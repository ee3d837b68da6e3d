"""LoRA adapters: exact start, merge equivalence, frozen base, adapter-only save/load."""
import numpy as np
import pytest

import tinynet as tn
from tinynet.io import load, save
from tinynet.models.gpt import GPT, GPTConfig
from tinynet.nn.linear import Linear
from tinynet.nn.lora import (LoRALinear, apply_lora, load_lora_state_dict, lora_layers,
                             lora_state_dict, merge_lora)
from tinynet.nn.module import StateDictError


def tiny_gpt(seed=0):
    tn.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=40, block_size=16, n_layer=2, n_head=2, n_embd=16))


def randomize_adapters(model, seed=1):
    rng = np.random.default_rng(seed)
    for _, layer in lora_layers(model):
        layer.lora_B.data[...] = tn.tensor(rng.standard_normal(layer.lora_B.shape),
                                           dtype=tn.float32, device=layer.lora_B.device).data


def test_lora_linear_math():
    tn.manual_seed(0)
    base = Linear(6, 5)
    lora = LoRALinear.from_linear(base, rank=2, alpha=4)
    assert lora.weight is base.weight and lora.bias is base.bias
    assert lora.lora_A.shape == (2, 6) and lora.lora_B.shape == (5, 2) and lora.scaling == 2.0
    x = tn.randn(3, 6)
    np.testing.assert_array_equal(lora(x).numpy(), base(x).numpy())   # B = 0 at start
    lora.lora_B.data[...] = tn.tensor(np.random.default_rng(0).standard_normal((5, 2)),
                                      dtype=tn.float32, device=lora.lora_B.device).data
    W = base.weight.numpy() + 2.0 * lora.lora_B.numpy() @ lora.lora_A.numpy()
    np.testing.assert_allclose(lora(x).numpy(), x.numpy() @ W.T + base.bias.numpy(), atol=1e-5)
    before = lora(x).numpy()
    lora.merge()
    np.testing.assert_allclose(lora(x).numpy(), before, atol=1e-5)
    lora.merge()  # idempotent
    np.testing.assert_allclose(lora(x).numpy(), before, atol=1e-5)
    lora.unmerge()
    np.testing.assert_allclose(lora(x).numpy(), before, atol=1e-5)
    with pytest.raises(ValueError, match="rank"):
        LoRALinear.from_linear(base, rank=0)


def test_apply_lora_freezes_base_and_only_adapters_get_grads():
    model = tiny_gpt()
    n_before = sum(p.numel() for p in model.parameters())
    apply_lora(model, target_modules=("c_attn", "mlp.c_proj"), rank=4, alpha=8)
    names = [n for n, _ in lora_layers(model)]
    assert names == ["transformer.h.0.attn.c_attn", "transformer.h.0.mlp.c_proj",
                     "transformer.h.1.attn.c_attn", "transformer.h.1.mlp.c_proj"]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f"{m}.lora_{x}" for m in names for x in "AB"}
    assert sum(p.numel() for p in model.parameters()) == n_before + 2 * (4 * 16 + 48 * 4) + \
        2 * (4 * 64 + 16 * 4)
    idx = tn.randint(0, 40, (2, 8))
    _, loss = model(idx, idx)
    loss.backward()
    for n, p in model.named_parameters():
        assert (p.grad is not None) == (n in trainable), n
    # a step of training changes only the adapters
    frozen = {n: p.numpy().copy() for n, p in model.named_parameters() if not p.requires_grad}
    opt = model.configure_optimizers(0.0, 1e-2)
    opt.step()
    for n, p in model.named_parameters():
        if n in frozen:
            np.testing.assert_array_equal(p.numpy(), frozen[n])
    with pytest.raises(ValueError, match=r"no Linear.*end with: \['c_attn', 'c_fc', 'c_proj'"):
        apply_lora(tiny_gpt(), target_modules=("nope",))


@pytest.mark.parametrize("bad", [dict(rank=0), dict(dropout=1.0), dict(dropout=-0.1)])
def test_apply_lora_with_bad_arguments_raises_and_leaves_the_model_as_it_was(bad):
    model = tiny_gpt()
    before = {n: (p.requires_grad, p.numpy().copy()) for n, p in model.named_parameters()}
    with pytest.raises(ValueError, match="apply_lora: (rank|dropout)"):
        apply_lora(model, "c_attn", **bad)
    after = {n: (p.requires_grad, p.numpy()) for n, p in model.named_parameters()}
    assert after.keys() == before.keys() and not list(lora_layers(model))
    for n, (trainable, value) in before.items():
        assert after[n][0] == trainable
        np.testing.assert_array_equal(after[n][1], value)


def test_merged_and_unmerged_outputs_agree():
    model = apply_lora(tiny_gpt(), target_modules=("c_attn", "c_fc"), rank=3)
    randomize_adapters(model)
    model.eval()
    idx = tn.randint(0, 40, (2, 10))
    before = model(idx)[0].numpy()
    merge_lora(model)
    assert not list(lora_layers(model))
    assert all(type(m) is Linear for n, m in model.named_modules() if n.endswith("c_attn"))
    np.testing.assert_allclose(model(idx)[0].numpy(), before, atol=1e-5)
    # the merged model has the base model's state-dict names only
    assert set(model.state_dict()) == set(tiny_gpt().state_dict())


def test_base_checkpoint_loads_into_adapted_model():
    base = tiny_gpt(seed=3)
    model = apply_lora(tiny_gpt(seed=4), rank=2)
    model.load_state_dict(base.state_dict())   # lora_A / lora_B are optional keys
    idx = tn.randint(0, 40, (1, 6))
    np.testing.assert_allclose(model(idx)[0].numpy(), base(idx)[0].numpy(), atol=1e-6)


def test_adapter_save_load_round_trip(tmp_path):
    model = apply_lora(tiny_gpt(), target_modules=("c_attn",), rank=2)
    randomize_adapters(model)
    sd = lora_state_dict(model)
    assert sorted(sd) == [f"transformer.h.{i}.attn.c_attn.lora_{x}" for i in range(2)
                          for x in "AB"]
    save(sd, tmp_path / "adapter.safetensors")
    other = apply_lora(tiny_gpt(), target_modules=("c_attn",), rank=2)
    idx = tn.randint(0, 40, (2, 7))
    assert not np.allclose(other(idx)[0].numpy(), model(idx)[0].numpy())
    load_lora_state_dict(other, load(tmp_path / "adapter.safetensors"))
    np.testing.assert_array_equal(other(idx)[0].numpy(), model(idx)[0].numpy())
    with pytest.raises(StateDictError, match="missing"):
        load_lora_state_dict(other, {k: v for k, v in sd.items() if "h.0" in k})
    with pytest.raises(StateDictError, match="shape"):
        bad = dict(sd)
        bad["transformer.h.0.attn.c_attn.lora_A"] = tn.zeros(3, 16)
        load_lora_state_dict(other, bad)


def test_apply_lora_twice_keeps_earlier_adapters_trainable_and_names_adapted_layers():
    model = apply_lora(apply_lora(tiny_gpt(), "c_attn", rank=2), "c_fc", rank=2)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f"{n}.lora_{x}" for n, _ in lora_layers(model) for x in "AB"}
    assert {n.rsplit(".", 1)[1] for n, _ in lora_layers(model)} == {"c_attn", "c_fc"}
    with pytest.raises(ValueError, match=r"already adapted: \['transformer.h.0.attn.c_attn'"):
        apply_lora(model, "c_attn")


def test_apply_lora_refuses_a_tied_weight():
    # GPT's head shares its weight with the token embedding: a merged adapter would
    # change the embedding too
    with pytest.raises(ValueError, match=r"lm_head.weight is shared with \['transformer.wte.weight'\]"):
        apply_lora(tiny_gpt(), "lm_head")


def test_save_pretrained_folds_unmerged_adapters_in(tmp_path):
    model = apply_lora(tiny_gpt(), ("c_attn", "c_fc"), rank=2)
    randomize_adapters(model)
    idx = tn.randint(0, 40, (2, 8))
    expect = model(idx)[0].numpy()
    model.save_pretrained(tmp_path)
    assert not [k for k in load(tmp_path / "model.safetensors") if "lora" in k]
    np.testing.assert_allclose(GPT.from_pretrained(tmp_path)(idx)[0].numpy(), expect, atol=1e-5)
    assert not any(layer.merged for _, layer in lora_layers(model))   # the model is unchanged
    np.testing.assert_array_equal(model(idx)[0].numpy(), expect)


def test_merged_layers_state_dict_holds_the_unmerged_weight_and_loads_either_way(tmp_path):
    # a merged model's full state dict used to hold W + sBA beside A and B, so loading
    # it into an unmerged adapted model applied the adapter twice
    idx = tn.randint(0, 40, (2, 10))
    model = apply_lora(tiny_gpt(seed=6), target_modules=("c_attn", "c_fc"), rank=3)
    randomize_adapters(model, seed=2)
    model.eval()
    expected = model(idx)[0].numpy()
    unmerged_sd = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    merge_lora(model, unload=False)
    sd = model.state_dict()
    for k in unmerged_sd:
        np.testing.assert_allclose(sd[k].numpy(), unmerged_sd[k], atol=1e-6, err_msg=k)
    save(sd, tmp_path / "merged.safetensors")
    fresh = apply_lora(tiny_gpt(seed=7), target_modules=("c_attn", "c_fc"), rank=3).eval()
    fresh.load_state_dict(load(tmp_path / "merged.safetensors"))
    np.testing.assert_allclose(fresh(idx)[0].numpy(), expected, atol=1e-5)
    # and into a merged model: it stays merged, with the loaded adapters folded in
    other = apply_lora(tiny_gpt(seed=8), target_modules=("c_attn", "c_fc"), rank=3).eval()
    randomize_adapters(other, seed=9)
    merge_lora(other, unload=False)
    other.load_state_dict(unmerged_sd)
    assert all(layer.merged for _, layer in lora_layers(other))
    np.testing.assert_allclose(other(idx)[0].numpy(), expected, atol=1e-5)
    for _, layer in lora_layers(other):
        layer.unmerge()
    np.testing.assert_allclose(other(idx)[0].numpy(), expected, atol=1e-5)
    # adapters alone into a merged model: the base weight is kept, the new adapter folded in
    target = apply_lora(tiny_gpt(seed=6), target_modules=("c_attn", "c_fc"), rank=3).eval()
    merge_lora(target, unload=False)
    load_lora_state_dict(target, lora_state_dict(fresh))
    np.testing.assert_allclose(target(idx)[0].numpy(), expected, atol=1e-5)


def test_save_pretrained_keeps_merged_adapters(tmp_path):
    # a merged layer's state dict holds the unmerged W (see the test above), so
    # save_pretrained must fold s B A in for merged layers too, not only unmerged ones
    model = apply_lora(tiny_gpt(), ("c_attn", "c_fc"), rank=2)
    randomize_adapters(model)
    merge_lora(model, unload=False)
    idx = tn.randint(0, 40, (2, 8))
    expect = model(idx)[0].numpy()
    model.save_pretrained(tmp_path)
    np.testing.assert_allclose(GPT.from_pretrained(tmp_path)(idx)[0].numpy(), expect, atol=1e-5)
    assert all(layer.merged for _, layer in lora_layers(model))   # the model is unchanged
    np.testing.assert_array_equal(model(idx)[0].numpy(), expect)
