"""tinynet.viz: DOT graphs of autograd, PNG plots, saliency overlays."""
import re

import numpy as np
import pytest
from PIL import Image

import tinynet as tn
from tinynet import viz


def _png(path):
    assert path.stat().st_size > 0
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.load()
        return im.size


def _check_dot(dot):
    assert dot.startswith("digraph")
    assert dot.count("{") == dot.count("}")
    assert dot.rstrip().endswith("}")
    # every edge joins two declared nodes
    declared = set(re.findall(r"^\s*(\w+) \[label=", dot, re.M))
    for a, b in re.findall(r"^\s*(\w+) -> (\w+);", dot, re.M):
        assert a in declared and b in declared


# ---------------------------------------------------------------- to_dot

def test_to_dot_small_graph():
    w = tn.randn(3, 2, requires_grad=True)
    b = tn.zeros(2, requires_grad=True)
    x = tn.ones(4, 3)
    loss = ((x @ w + b).exp() * 2.0).sum()
    dot = viz.to_dot(loss, params={"fc.weight": w, "fc.bias": b})
    _check_dot(dot)
    for op in ("MatMul", "Exp", "Sum"):
        assert f'"{op}"' in dot
    assert "(4, 3) float32" in dot and "() float32" in dot and "(2,) float32" in dot
    # parameters are named and highlighted, the constant input is not
    assert re.search(r'label="fc\.weight\\n\(3, 2\) float32".*lightblue', dot)
    assert re.search(r'label="fc\.bias\\n\(2,\) float32".*lightblue', dot)
    assert re.search(r'label="\(4, 3\) float32".*gray90', dot)
    assert "palegreen" in dot  # the output


def test_to_dot_shared_inputs_and_leaf():
    a = tn.randn(5, requires_grad=True)
    y = a * a + a  # one tensor used three times
    dot = viz.to_dot(y)
    _check_dot(dot)
    assert dot.count('"(5,) float32"') >= 1
    assert len(re.findall(r"shape=ellipse.*lightblue", dot)) == 1  # `a` drawn once
    leaf = viz.to_dot(tn.ones(2))  # no graph: just the tensor
    _check_dot(leaf)
    assert "->" not in leaf


def test_to_dot_deep_graph_is_iterative():
    x = tn.ones(1, requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0
    dot = viz.to_dot(y)
    _check_dot(dot)
    assert dot.count('"Mul"') == 3000


def test_to_dot_escapes_labels():
    w = tn.ones(2, requires_grad=True)
    dot = viz.to_dot((w * 3.0).sum(), params={'we"ird\\name': w})
    _check_dot(dot)
    assert 'we\\"ird\\\\name' in dot


# ---------------------------------------------------------------- plots

def test_plot_history_dict_and_list(tmp_path):
    pytest.importorskip("matplotlib")
    hist = {"train_loss": [2.0, 1.2, 0.8], "val_loss": [2.1, 1.4, 1.0],
            "train_acc": [0.3, 0.6, 0.8], "val_acc": [0.25, 0.55, 0.7], "lr": [0.1, 0.05, 0.01]}
    p = tmp_path / "hist.png"
    viz.plot_history(hist, p, title="run 1")
    w, h = _png(p)
    assert w > h  # three panels side by side
    rows = [{"epoch": i, "train_loss": 1.0 / i, "val_acc": 0.1 * i} for i in range(1, 5)]
    rows[2].pop("val_acc")  # a missing value becomes a gap, not an error
    q = tmp_path / "rows.png"
    viz.plot_history(rows, q)
    _png(q)
    with pytest.raises(ValueError, match="no metrics"):
        viz.plot_history({"epoch": [1, 2]}, tmp_path / "none.png")


def test_plot_attention_single_and_multi_head(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    t = 6
    logits = rng.standard_normal((3, t, t))
    w = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    tokens = ["The", "cat", "sat", "on", "the", "mat"]
    p1, p3 = tmp_path / "a1.png", tmp_path / "a3.png"
    viz.plot_attention(w[0], tokens, p1, title="head 0")
    viz.plot_attention(tn.tensor(w.astype(np.float32)), tokens, p3)
    _png(p1)
    _png(p3)
    with pytest.raises(ValueError, match="tokens"):
        viz.plot_attention(w, tokens[:-1], tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"\(T, T\) or \(H, T, T\)"):
        viz.plot_attention(w[None], tokens, tmp_path / "bad.png")


def test_plots_without_matplotlib_say_how_to_install(tmp_path, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_mpl(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_mpl)
    with pytest.raises(ImportError, match=r"pip install 'tinynet\[examples\]'"):
        viz.plot_history({"loss": [1.0]}, tmp_path / "x.png")


# ---------------------------------------------------------------- saliency

def test_saliency_overlay(tmp_path):
    img = np.zeros((3, 32, 48), np.float32)
    img[0] = 1.0  # pure red image
    heat = np.zeros((4, 6), np.float32)
    heat[0, 0] = 5.0  # hot top-left corner (Grad-CAM-sized map)
    p = tmp_path / "cam.png"
    out = viz.saliency_overlay(tn.tensor(img), heat, p, alpha=0.5)
    assert out.shape == (32, 48, 3) and out.dtype == np.uint8
    assert _png(p) == (48, 32)
    np.testing.assert_array_equal(np.asarray(Image.open(p)), out)
    # hot corner -> jet red blended with red; cold corner -> jet dark blue blended with red
    assert tuple(out[0, 0]) == (191, 0, 0)
    assert tuple(out[-1, -1]) == (128, 0, 64)
    # normalized (negative) images and uint8 grayscale work too
    viz.saliency_overlay(np.random.default_rng(0).standard_normal((3, 8, 8)),
                         np.ones((8, 8)), tmp_path / "n.png")
    g = viz.saliency_overlay(np.full((1, 8, 8), 255, np.uint8), np.zeros((2, 2)),
                             tmp_path / "g.png", alpha=0.0)
    assert (g == 255).all()
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        viz.saliency_overlay(np.zeros((8, 8)), np.zeros((2, 2)), tmp_path / "bad.png")


def test_jet_endpoints():
    np.testing.assert_allclose(viz._jet(np.array([0.0, 0.5, 1.0])),
                               [[0, 0, 0.5], [0.5, 1, 0.5], [0.5, 0, 0]])


def test_to_dot_draws_the_value_an_op_used_after_the_tensor_is_assigned_to():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    y = h.exp().sum()
    h[0] = 5.0          # h is now an IndexPut output; Exp used the Mul's value
    dot = tn.viz.to_dot(y)
    _check_dot(dot)
    labels = re.findall(r'label="(\w+)", shape=box', dot)
    assert sorted(labels) == ["Exp", "Mul", "Sum"]
