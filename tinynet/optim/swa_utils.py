"""Stochastic Weight Averaging and EMA of weights (PyTorch's ``torch.optim.swa_utils``).

    swa_model = AveragedModel(model)              # or multi_avg_fn=get_ema_multi_avg_fn(0.999)
    swa_scheduler = SWALR(optimizer, swa_lr=0.05)
    for epoch in range(epochs):
        train_one_epoch(model, optimizer)
        if epoch >= swa_start:
            swa_model.update_parameters(model)
            swa_scheduler.step()
    update_bn(train_loader, swa_model)            # BatchNorm statistics for the averaged weights
    swa_model(x)
"""
from __future__ import annotations

import copy
import itertools
import math

import numpy as np

from .. import creation
from ..autograd import no_grad
from ..nn.batchnorm import _BatchNorm
from ..nn.module import Module
from ..nn.normalization import _InstanceNorm
from .lr_scheduler import LRScheduler, _check_optimizer, _per_group


def _check_decay(owner: str, decay: float) -> None:
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"{owner}: decay must be in [0, 1], got {decay}")


def _lerp_(averaged, current, weight: float, int_formula) -> None:
    """averaged ← averaged + weight·(current − averaged), in place. An integer tensor
    (e.g. BatchNorm's num_batches_tracked, with use_buffers) instead gets
    ``int_formula(averaged, current)`` computed in float64 and truncated, as PyTorch's
    copy_ of a float result into an integer tensor."""
    if averaged.dtype.kind == "f":
        averaged.lerp_(current, weight)
    else:
        a, c = averaged.data, current.data
        averaged.copy_(int_formula(a.astype(np.float64), c.astype(np.float64)).astype(a.dtype))


def get_ema_multi_avg_fn(decay: float = 0.999):
    """``fn(ema_params, current_params, num_averaged)`` updating each EMA tensor in place:
    ema ← decay·ema + (1 − decay)·current (for ``AveragedModel(multi_avg_fn=...)``)."""
    _check_decay("get_ema_multi_avg_fn", decay)

    def ema_update(ema_param_list, current_param_list, _num_averaged):
        for p_ema, p_model in zip(ema_param_list, current_param_list):
            _lerp_(p_ema, p_model, 1.0 - decay, lambda e, c: e * decay + c * (1 - decay))
    return ema_update


def get_swa_multi_avg_fn():
    """``fn(averaged, current, num_averaged)``: the running mean, in place:
    avg ← avg + (current − avg)/(n + 1) (AveragedModel's default)."""
    def swa_update(averaged_param_list, current_param_list, num_averaged):
        n = int(num_averaged.item()) if hasattr(num_averaged, "item") else int(num_averaged)
        for p_avg, p_model in zip(averaged_param_list, current_param_list):
            _lerp_(p_avg, p_model, 1.0 / (n + 1), lambda a, c: a + (c - a) / (n + 1))
    return swa_update


def get_ema_avg_fn(decay: float = 0.999):
    """``fn(ema_param, current_param, num_averaged)`` returning
    decay·ema + (1 − decay)·current."""
    _check_decay("get_ema_avg_fn", decay)

    def ema_update(ema_param, current_param, _num_averaged):
        return decay * ema_param + (1 - decay) * current_param
    return ema_update


def get_swa_avg_fn():
    """``fn(averaged_param, current_param, num_averaged)`` returning the running mean
    avg + (current − avg)/(n + 1)."""
    def swa_update(averaged_param, current_param, num_averaged):
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)
    return swa_update


class AveragedModel(Module):
    """A deep copy of ``model`` (in ``self.module``) holding an average of its parameters.

    ``update_parameters(model)`` folds in the model's current parameters: the first call
    copies them, later calls apply ``multi_avg_fn(averaged_list, current_list, n_averaged)``
    (in place) or ``avg_fn(averaged, current, n_averaged)`` (returns the new value), by
    default the equal-weight running mean (SWA); ``n_averaged`` (an int64 buffer) counts
    the calls. With ``use_buffers=True`` buffers are averaged too (the EMA-of-weights
    recipe); otherwise they are copied from ``model`` on every update. ``device`` moves
    the copy there. Calling the AveragedModel calls the averaged module.

    Differs from PyTorch: giving both ``avg_fn`` and ``multi_avg_fn`` raises ValueError
    (PyTorch: AssertionError).
    """

    def __init__(self, model: Module, device=None, avg_fn=None, multi_avg_fn=None,
                 use_buffers: bool = False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError("AveragedModel: give at most one of avg_fn and multi_avg_fn")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", creation.tensor(0, dtype=np.int64, device=device))
        self.avg_fn, self.multi_avg_fn = avg_fn, multi_avg_fn
        self.use_buffers = bool(use_buffers)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _tensors(self, model: Module) -> list:
        if self.use_buffers:
            return list(itertools.chain(model.parameters(), model.buffers()))
        return list(model.parameters())

    def update_parameters(self, model: Module) -> None:
        """Fold ``model``'s current parameters (and buffers, with ``use_buffers``) into the
        average; ``model`` must have the structure of the averaged module."""
        averaged, current = self._tensors(self.module), self._tensors(model)
        if len(averaged) != len(current):
            raise ValueError(f"AveragedModel.update_parameters: the model has {len(current)} "
                             f"tensors to average, the averaged copy {len(averaged)}")
        with no_grad():
            averaged = [p.detach() for p in averaged]
            current = [p.detach().to(a.device) for p, a in zip(current, averaged)]
            for a, c in zip(averaged, current):
                if a.shape != c.shape:
                    raise ValueError(f"AveragedModel.update_parameters: a model tensor of "
                                     f"shape {c.shape} meets an averaged one of shape {a.shape}")
            n = self.n_averaged.detach()
            if int(n.item()) == 0:
                for a, c in zip(averaged, current):
                    a.copy_(c)
            elif self.avg_fn is not None:
                for a, c in zip(averaged, current):
                    a.copy_(self.avg_fn(a, c, n.to(a.device)))
            else:  # one call per (device, dtype) group, as PyTorch's foreach grouping
                groups = {}
                for a, c in zip(averaged, current):
                    pair = groups.setdefault((a.device, a.dtype), ([], []))
                    pair[0].append(a)
                    pair[1].append(c)
                fn = self.multi_avg_fn or get_swa_multi_avg_fn()
                for (device, _), (avg_list, cur_list) in groups.items():
                    fn(avg_list, cur_list, n.to(device))
            if not self.use_buffers:  # keep the buffers in sync with the source model
                for b_avg, b_model in zip(self.module.buffers(), model.buffers()):
                    b_avg.copy_(b_model.detach().to(b_avg.device))
            self.n_averaged += 1


def update_bn(loader, model: Module, device=None) -> None:
    """Recompute every BatchNorm's running statistics with one pass over ``loader``.

    Each BatchNorm's stats are reset and its momentum set to None (a cumulative
    average over the batches), then ``model`` runs in train mode on every batch
    (the first element of a batch that is a list or tuple, moved to ``device`` if
    given), without gradients; momenta and the train/eval mode are restored after.
    Nothing happens if the model has no BatchNorm. InstanceNorm is not touched (as
    in PyTorch, where it is not a ``_BatchNorm``).
    """
    momenta = {}
    for m in model.modules():
        if isinstance(m, _BatchNorm) and not isinstance(m, _InstanceNorm):
            m.reset_running_stats()
            momenta[m] = m.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for m in momenta:
        m.momentum = None
    try:
        with no_grad():
            for batch in loader:
                if isinstance(batch, (list, tuple)):
                    batch = batch[0]
                if device is not None:
                    batch = batch.to(device)
                model(batch)
    finally:
        for m, momentum in momenta.items():
            m.momentum = momentum
        model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's lr to ``swa_lr`` over ``anneal_epochs`` steps, then hold it.

    At step t the lr is α·swa_lr + (1 − α)·lr₀, with α = t/anneal_epochs ("linear") or
    (1 − cos(π·t/anneal_epochs))/2 ("cos"), clipped to [0, 1], and lr₀ the lr the
    annealing started from (recovered from the current lr, so it chains with other
    schedulers, like PyTorch's formula). ``swa_lr`` is a number or one per group;
    it is stored in each param group as ``"swa_lr"``.
    """

    def __init__(self, optimizer, swa_lr, anneal_epochs: int = 10, anneal_strategy: str = "cos",
                 last_epoch: int = -1):
        _check_optimizer("SWALR", optimizer)
        for lr, group in zip(_per_group("SWALR", "swa_lr", optimizer, swa_lr),
                             optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"SWALR: anneal_strategy must be 'cos' or 'linear', "
                             f"got {anneal_strategy!r}")
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"SWALR: anneal_epochs must be an int >= 0, got {anneal_epochs!r}")
        self.anneal_strategy, self.anneal_epochs = anneal_strategy, anneal_epochs
        super().__init__(optimizer, last_epoch)

    def _alpha(self, t: float) -> float:
        t = max(0.0, min(1.0, t))
        return t if self.anneal_strategy == "linear" else (1 - math.cos(math.pi * t)) / 2

    def get_lr(self):
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        n = max(1, self.anneal_epochs)
        prev_alpha, alpha = self._alpha((step - 1) / n), self._alpha(step / n)
        lrs = []
        for group in self.optimizer.param_groups:
            # undo the previous step's blend to recover lr₀, then blend with this step's α
            lr0 = (group["swa_lr"] if prev_alpha == 1
                   else (group["lr"] - prev_alpha * group["swa_lr"]) / (1 - prev_alpha))
            lrs.append(group["swa_lr"] * alpha + lr0 * (1 - alpha))
        return lrs
