"""Looking inside: the autograd graph as Graphviz DOT, training curves,
attention maps and saliency overlays.

``to_dot`` and ``saliency_overlay`` need only numpy and Pillow; the plots use
matplotlib (``pip install 'tinynet[examples]'``), imported on first use and
driven through its object API with the Agg canvas, so they never touch
pyplot's global state or the user's chosen backend.
"""
from __future__ import annotations

import math

import numpy as np

from . import backend


def _np(x) -> np.ndarray:
    from .tensor import Tensor
    if isinstance(x, Tensor):
        x = x.data
    if not isinstance(x, np.ndarray) and type(x).__module__.startswith("cupy"):
        x = backend.to_numpy(x)
    return np.asarray(x)


# ---------------------------------------------------------------- autograd graph

def _quote(s: str) -> str:
    """A DOT double-quoted string."""
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(tensor, params=None) -> str:
    """Graphviz DOT text of the autograd graph that produced ``tensor``.

    Ops are boxes labelled with the Function's class name (``Mul``,
    ``MatMul``, ...); tensors are ellipses labelled with their shape and dtype.
    Leaves that require grad (parameters) are filled light blue, constants
    grey, the output green. ``params``: optional {name: Tensor} (e.g.
    ``dict(model.named_parameters())``) whose names label those tensors.
    Walks the graph iteratively, so very deep graphs are fine. Render with
    ``dot -Tsvg graph.dot -o graph.svg`` or any online Graphviz viewer.
    """
    names = {id(t): n for n, t in (params or {}).items()}
    lines = ["digraph autograd {",
             '  graph [rankdir=BT, fontsize=10];',
             '  node [fontname="Helvetica", fontsize=10];']
    # id(object), or (id(tensor), id(op), output index) -> short DOT node id; the graph keeps
    # every object alive, so no id is reused while this runs
    ids: dict = {}

    def node_id(key, prefix):
        return ids.setdefault(key, f"{prefix}{len(ids)}")

    def tensor_node(t, role, key):
        if key in ids:
            return ids[key]
        node = node_id(key, "t")
        shape = "(" + ", ".join(map(str, t.shape)) + ("," if len(t.shape) == 1 else "") + ")"
        label = f"{shape} {t.dtype}"
        if id(t) in names:
            label = f"{names[id(t)]}\n{label}"
        if role == "output":
            style = 'style=filled, fillcolor="palegreen"'
        elif t.grad_fn is None and t.requires_grad:
            style = 'style=filled, fillcolor="lightblue"'
        elif t.grad_fn is None:
            style = 'style=filled, fillcolor="gray90"'
        else:
            style = 'style=solid'
        lines.append(f"  {node} [label={_quote(label)}, shape=ellipse, {style}];")
        return node

    root = tensor_node(tensor, "output", id(tensor))
    stack = []
    if tensor.grad_fn is not None:
        lines.append(f"  {node_id(id(tensor.grad_fn), 'f')} -> {root};")
        stack.append(tensor.grad_fn)
    visited, produced = set(), set()
    while stack:
        fn = stack.pop()
        if id(fn) in visited:
            continue
        visited.add(id(fn))
        lines.append(f"  {node_id(id(fn), 'f')} [label={_quote(type(fn).__name__)}, shape=box, "
                     'style="rounded,filled", fillcolor="lightyellow"];')
        inputs = getattr(fn, "inputs", None) or ()
        edges = getattr(fn, "_edges", None) or [(t.grad_fn, t._output_index) for t in inputs]
        for t, (producer, index) in zip(inputs, edges):
            # the op that made the value fn used: t.grad_fn, unless t was assigned to since
            # (x[i] = v makes x the output of a new op); that older value gets a node of its own
            key = id(t) if producer is t.grad_fn else (id(t), id(producer), index)
            node = tensor_node(t, "input", key)
            lines.append(f"  {node} -> {node_id(id(fn), 'f')};")
            if producer is not None and key not in produced:
                produced.add(key)  # a tensor used twice keeps one producer edge
                lines.append(f"  {node_id(id(producer), 'f')} -> {node};")
                stack.append(producer)
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- matplotlib plots

def _figure(**kw):
    """A matplotlib Figure on an Agg canvas (no pyplot, no global backend switch)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("tinynet.viz plots need matplotlib: "
                          "pip install 'tinynet[examples]'") from e
    fig = Figure(**kw)
    FigureCanvasAgg(fig)
    return fig


def _history_columns(history) -> dict:
    """{metric: float64 array} from a dict of lists or a list of per-epoch dicts."""
    if isinstance(history, dict):
        cols = {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in history.items()}
    else:
        keys = list(dict.fromkeys(k for row in history for k in row))
        cols = {k: np.array([row.get(k, np.nan) for row in history], dtype=np.float64)
                for k in keys}
    cols = {k: v for k, v in cols.items() if k not in ("epoch", "step")}
    if not cols:
        raise ValueError("plot_history: history holds no metrics")
    return cols


def _group(name: str) -> str:
    n = name.lower()
    if "loss" in n or "nll" in n or "perplexity" in n or "ppl" in n:
        return "loss"
    if n == "lr" or n.endswith("_lr") or n.startswith("lr_") or "learning_rate" in n:
        return "learning rate"
    return "metrics"


def plot_history(history, path, title=None) -> None:
    """Plot training curves to a PNG at ``path``.

    history: {metric: [value per epoch]} (e.g. ``train_loss``, ``val_loss``,
    ``train_acc``, ``val_acc``) or a list of per-epoch dicts; ``epoch``/``step``
    keys are used as the x axis when present. Losses go in one panel,
    learning rates (log scale) in another, other metrics in a third; a
    ``val``-prefixed curve is dashed and shares its ``train`` twin's colour.
    """
    x = None
    if isinstance(history, dict) and "epoch" in history:
        x = np.asarray(history["epoch"], dtype=np.float64)
    elif not isinstance(history, dict) and history and all("epoch" in r for r in history):
        x = np.array([r["epoch"] for r in history], dtype=np.float64)
    cols = _history_columns(history)
    groups: dict[str, list] = {}
    for name in cols:
        groups.setdefault(_group(name), []).append(name)
    order = [g for g in ("loss", "metrics", "learning rate") if g in groups]
    fig = _figure(figsize=(5.5 * len(order), 4), layout="constrained")
    from matplotlib.ticker import MaxNLocator
    axes = fig.subplots(1, len(order), squeeze=False)[0]
    colours = {}
    for ax, g in zip(axes, order):
        for name in groups[g]:
            y = cols[name]
            xs = x if x is not None and len(x) == len(y) else np.arange(1, len(y) + 1)
            base = name.split("_", 1)[1] if name.split("_", 1)[0] in (
                "train", "val", "valid", "test") and "_" in name else name
            colour = colours.setdefault(base, f"C{len(colours) % 10}")
            dashed = name.startswith(("val", "test"))
            ax.plot(xs, y, label=name, color=colour, linestyle="--" if dashed else "-",
                    marker="o" if len(y) <= 30 else None, markersize=3)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(g)
        if g == "learning rate" and all(np.nanmin(cols[n]) > 0 for n in groups[g]):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=100)


def plot_attention(weights, tokens, path, title=None, query_tokens=None) -> None:
    """Attention heatmaps to a PNG at ``path``.

    weights: ``(Tq, Tk)`` or ``(H, Tq, Tk)`` (array or Tensor), row i = where
    query i attends. tokens: ``Tk`` key labels; query_tokens: ``Tq`` row labels
    (default ``tokens`` when ``Tq == Tk``). Heads are laid out 4 per row; long
    sequences label every n-th token so labels stay legible. Labels are drawn
    as plain text (a ``$`` in a token is not read as matplotlib math).
    """
    w = _np(weights).astype(np.float32)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3:
        raise ValueError(f"plot_attention: weights must be (T, T) or (H, T, T), got {w.shape}")
    h, tq, tk = w.shape
    tokens = [str(s) for s in tokens]
    if len(tokens) != tk:
        raise ValueError(f"plot_attention: {len(tokens)} tokens for {tk} key positions")
    if query_tokens is None:
        if tq != tk:
            raise ValueError(f"plot_attention: weights are {tq}x{tk}; pass query_tokens")
        query_tokens = tokens
    query_tokens = [str(s) for s in query_tokens]
    if len(query_tokens) != tq:
        raise ValueError(f"plot_attention: {len(query_tokens)} query_tokens for {tq} queries")
    ncols = min(h, 4)
    nrows = math.ceil(h / ncols)
    side = max(3.0, min(0.25 * max(tq, tk), 8.0))
    fig = _figure(figsize=(side * ncols + 1, side * nrows + 0.5), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    vmax = float(np.nanmax(w)) if w.size else 1.0
    im = None
    for i, ax in enumerate(axes.flat):
        if i >= h:
            ax.axis("off")
            continue
        im = ax.imshow(w[i], cmap="viridis", vmin=0.0, vmax=vmax or 1.0, aspect="auto",
                       interpolation="nearest")
        sx, sy = max(1, math.ceil(tk / 48)), max(1, math.ceil(tq / 48))
        # labels are text, not mathtext: a token like "$$" must not be parsed as math
        ax.set_xticks(range(0, tk, sx), tokens[::sx], rotation=90, fontsize=7,
                      parse_math=False)
        ax.set_yticks(range(0, tq, sy), query_tokens[::sy], fontsize=7, parse_math=False)
        if h > 1:
            ax.set_title(f"head {i}", fontsize=9)
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=100)


# ---------------------------------------------------------------- saliency

def _jet(x: np.ndarray) -> np.ndarray:
    """The 'jet' colormap on values in [0, 1]: (...) -> (..., 3) floats.

    Piecewise linear: blue -> cyan -> yellow -> red; each channel is a
    clipped tent 1.5 - |4x - c| centred at c = 3 (red), 2 (green), 1 (blue).
    """
    return np.clip(1.5 - np.abs(4.0 * x[..., None] - np.array([3.0, 2.0, 1.0])), 0.0, 1.0)


def saliency_overlay(image_chw, heatmap_hw, path, alpha: float = 0.5) -> np.ndarray:
    """Save ``image_chw`` with a jet-coloured ``heatmap_hw`` blended on top (Grad-CAM).

    image_chw: ``(C, H, W)`` with C = 1 or 3; uint8, or floats (used as is when
    in [0, 1], min-max scaled otherwise, e.g. after Normalize). heatmap_hw:
    ``(h, w)`` of any size and range; it is min-max scaled to [0, 1] and
    resized bilinearly to ``(H, W)``. Returns the blended ``(H, W, 3)`` uint8
    image that is written to ``path`` (format from the extension).
    """
    from PIL import Image
    img = _np(image_chw)
    if img.ndim != 3 or img.shape[0] not in (1, 3):
        raise ValueError(f"saliency_overlay: image must be (C, H, W) with C in (1, 3), "
                         f"got {img.shape}")
    heat = _np(heatmap_hw).astype(np.float32)
    if heat.ndim != 2:
        raise ValueError(f"saliency_overlay: heatmap must be (h, w), got {heat.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"saliency_overlay: alpha must be in [0, 1], got {alpha}")
    if img.dtype == np.uint8:
        rgb = img.astype(np.float32) / 255.0
    else:
        rgb = img.astype(np.float32)
        lo, hi = float(rgb.min()), float(rgb.max())
        if lo < 0.0 or hi > 1.0:
            rgb = (rgb - lo) / (hi - lo) if hi > lo else np.zeros_like(rgb)
    rgb = np.broadcast_to(rgb, (3,) + rgb.shape[1:]).transpose(1, 2, 0)  # (H, W, 3)
    H, W = rgb.shape[:2]
    heat = np.nan_to_num(heat)
    lo, hi = float(heat.min()), float(heat.max())
    heat = (heat - lo) / (hi - lo) if hi > lo else np.zeros_like(heat)
    if heat.shape != (H, W):
        bilinear = getattr(Image, "Resampling", Image).BILINEAR
        heat = np.asarray(Image.fromarray(heat).resize((W, H), bilinear))
    blended = (1.0 - alpha) * rgb + alpha * _jet(np.clip(heat, 0.0, 1.0))
    out = np.round(np.clip(blended, 0.0, 1.0) * 255.0).astype(np.uint8)
    Image.fromarray(out).save(path)
    return out


from .viz_cam import grad_cam, saliency  # noqa: E402,F401  (input-gradient maps live there)
