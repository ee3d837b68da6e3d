"""Where does a CNN look? Gradient saliency and Grad-CAM from the same autograd.

* ``saliency``: |∂ logit_c / ∂ x|, the input gradient of the class score,
  maximised over colour channels (Simonyan et al. 2013).
* ``grad_cam``: a feature map A (N, K, h, w) of a chosen layer, weighted by the
  spatial mean of ∂ logit_c / ∂ A per channel, summed over channels and
  rectified (Selvaraju et al. 2017):

      α_k = mean_{i,j} ∂y_c/∂A_k[i, j],     cam = relu(Σ_k α_k A_k)     (N, h, w)

Both put the model in eval mode for the computation (BatchNorm uses running
statistics) and restore its mode after. Overlay the result on the image with
``tinynet.viz.saliency_overlay(image, heat, "out.png")``.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .autograd import enable_grad, grad
from .tensor import Tensor


def _targets(logits, target, who):
    """(N,) int64 class index per sample: the argmax when ``target`` is None, else
    ``target`` (one int for all, or N of them), each in [0, classes); ``who``
    names the caller in errors."""
    n, classes = logits.shape
    if target is None:
        return backend.to_numpy(logits.data).argmax(1)
    t = np.asarray(backend.to_numpy(target.data) if isinstance(target, Tensor) else target)
    if t.ndim > 1 or t.size not in (1, n) or t.dtype.kind not in "iu":
        raise ValueError(f"{who}: target must be one int class index or {n} of them (one per "
                         f"image), got {t.dtype} of shape {t.shape}")
    if t.size and (t.min() < 0 or t.max() >= classes):
        raise ValueError(f"{who}: target classes {t.reshape(-1).tolist()} out of range for "
                         f"logits of shape {tuple(logits.shape)} ({classes} classes)")
    return np.broadcast_to(t.astype(np.int64).reshape(-1), (n,))


def _class_score_grad(logits, cls):
    """d(Σ_n logits[n, cls[n]]) / d logits as a Tensor of the logits' shape."""
    xp = backend.get_array_module(logits.data)
    onehot = np.zeros(logits.shape, dtype=logits.dtype)
    onehot[np.arange(logits.shape[0]), cls] = 1
    return Tensor._make(xp.asarray(onehot), False)


class _EvalMode:
    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.was_training = self.model.training
        self.model.eval()

    def __exit__(self, *exc):
        self.model.train(self.was_training)


def saliency(model, x, target=None):
    """Gradient saliency maps: (N, C, H, W) images -> ((N, H, W) maps, (N,) classes).

    ``target``: class index (int, sequence or Tensor) per image; None explains
    the predicted class. The map is max_c |∂ logit_target / ∂ x[c]| (numpy).
    """
    x = Tensor._make(x.data, True) if isinstance(x, Tensor) else Tensor(x, requires_grad=True)
    with _EvalMode(model), enable_grad():
        logits = model(x)                                        # (N, classes)
        cls = _targets(logits, target, "saliency")
        (gx,) = grad(logits, [x], _class_score_grad(logits, cls))  # parameters' .grad untouched
    return np.abs(backend.to_numpy(gx.data)).max(axis=1), cls    # (N, H, W)


def grad_cam(model, x, target=None, layer=None):
    """Grad-CAM maps of ``layer``'s output: ((N, h, w) maps, (N,) classes), numpy.

    ``layer``: a submodule producing (N, K, h, w) features; default
    ``model.layer4`` (the last ResNet stage). ``target`` as in :func:`saliency`.
    Maps are at the layer's resolution (``saliency_overlay`` resizes them).
    """
    if layer is None:
        layer = getattr(model, "layer4", None)
        if layer is None:
            raise ValueError("grad_cam: pass layer= (the model has no 'layer4')")
    store = {}

    def keep(module, args, out):
        if out.ndim != 4:
            raise ValueError(f"grad_cam: layer output must be (N, K, h, w), got {out.shape}")
        store["act"] = out

    # the input requires grad so the graph reaches the layer even in a frozen model
    x = Tensor._make(x.data, True) if isinstance(x, Tensor) else Tensor(x, requires_grad=True)
    handle = layer.register_forward_hook(keep)
    try:
        with _EvalMode(model), enable_grad():
            logits = model(x)                                    # (N, classes)
            cls = _targets(logits, target, "grad_cam")
            (ga,) = grad(logits, [store["act"]], _class_score_grad(logits, cls))
    finally:
        handle.remove()
    act = backend.to_numpy(store["act"].data)                    # A: (N, K, h, w)
    g = backend.to_numpy(ga.data)                                # ∂y_c/∂A: (N, K, h, w)
    alpha = g.mean(axis=(2, 3), keepdims=True)                   # α: (N, K, 1, 1)
    cam = np.maximum((alpha * act).sum(axis=1), 0)               # relu(Σ_k α_k A_k): (N, h, w)
    return cam, cls
