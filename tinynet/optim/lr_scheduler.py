"""Learning-rate schedules (PyTorch semantics): call ``scheduler.step()`` after ``optimizer.step()``.

A scheduler writes each parameter group's ``"lr"``. ``last_epoch`` counts
scheduler steps (-1 before the first); constructing a scheduler performs the
step to ``last_epoch = 0`` and records each group's starting lr as
``"initial_lr"`` (the ``base_lrs``). Multiplicative schedules use PyTorch's
chainable (recursive) form, so they compose with other schedulers; each also
has a ``_get_closed_form_lr`` used by ``step(epoch)``.

SequentialLR hands over from one scheduler to the next at milestones (e.g. a
warmup, then a decay); ChainedScheduler steps several at once.

``state_dict()`` holds plain Python values only: never the optimizer, never a
function.
"""
from __future__ import annotations

import math
import types
import warnings
from bisect import bisect_right
from collections import Counter

from .optimizer import Optimizer


class LRScheduler:
    """Base class: subclasses implement ``get_lr()`` -> one lr per param group for ``last_epoch``."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        _check_optimizer(type(self).__name__, optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{type(self).__name__}: param_groups[{i}] has no 'initial_lr' while "
                                   f"resuming with last_epoch={last_epoch}; load the optimizer state first")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        """The step to ``last_epoch + 1`` made at construction (``get_lr`` sees ``_is_initial``)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list:
        """The lrs for the current ``last_epoch`` (called by :meth:`step`)."""
        raise NotImplementedError

    def get_last_lr(self) -> list:
        """The lrs the last :meth:`step` set, one per parameter group."""
        return self._last_lr

    def step(self, epoch=None) -> None:
        """Advance one step (or jump to ``epoch``, using the closed form when there is one)."""
        self._warn_if_before_optimizer()
        self._step_count += 1
        self._update_lr(epoch)

    def _warn_if_before_optimizer(self) -> None:
        """PyTorch's warning: a first ``scheduler.step()`` before any ``optimizer.step()``
        skips the schedule's first value."""
        if self._step_count == 1 and getattr(self.optimizer, "_step_called", True) is False:
            warnings.warn(f"{type(self).__name__}.step() was called before optimizer.step(); "
                          "since PyTorch 1.1 the order is optimizer.step() then "
                          "scheduler.step(), else the first learning rate of the schedule is "
                          "skipped", UserWarning, stacklevel=3)

    def _update_lr(self, epoch=None) -> None:
        """Move to ``last_epoch + 1`` (or to ``epoch``) and write the lrs, without counting a step."""
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed = getattr(self, "_get_closed_form_lr", None)
            values = closed() if closed is not None else self.get_lr()
        self._set_lrs(values)

    def _set_lrs(self, values) -> None:
        """Write one lr per parameter group and remember them for :meth:`get_last_lr`.

        ValueError when the schedule gives a different number of lrs than the optimizer
        has groups (a group added after the scheduler was built), like PyTorch.
        """
        values = list(values)
        groups = self.optimizer.param_groups
        if len(values) != len(groups):
            raise ValueError(f"{type(self).__name__}: the optimizer has {len(groups)} parameter groups "
                             f"but the schedule gives {len(values)} lrs (one per group it was built "
                             "with); build the scheduler after add_param_group")
        for group, lr in zip(groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        """Every attribute except the optimizer (plain values)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore attributes saved by :meth:`state_dict`."""
        self.__dict__.update(state_dict)


def _check_optimizer(owner: str, optimizer) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{owner}: {type(optimizer).__name__} is not an Optimizer")


def _per_group(owner: str, name: str, optimizer, value) -> list:
    """``value`` repeated per group, or a list/tuple that must have one entry per group."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{owner}: expected {n} values for {name} (one per parameter group), "
                             f"got {len(value)}")
        return list(value)
    return [value] * n


def _uses_beta1(owner: str, optimizer) -> bool:
    """Whether a cycled momentum is Adam's ``betas[0]`` (True) or SGD's ``momentum`` (False)."""
    if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
        raise ValueError(f"{owner}: cycle_momentum needs an optimizer with 'momentum' or "
                         f"'betas', {type(optimizer).__name__} has neither")
    return "betas" in optimizer.defaults


def _set_momentum(group: dict, value: float, use_beta1: bool) -> None:
    """Write a cycled momentum into ``group`` (see :func:`_uses_beta1`)."""
    if use_beta1:
        group["betas"] = (value, *group["betas"][1:])
    else:
        group["momentum"] = value


def _callable_state(fn):
    """What a state dict keeps of a user function: ``None`` for a plain function or lambda,
    the ``__dict__`` of a callable object (loaded back into the current object)."""
    return None if isinstance(fn, types.FunctionType) else dict(fn.__dict__)


class _LambdaScheduler(LRScheduler):
    """Shared by LambdaLR and MultiplicativeLR: one ``lr_lambda`` per group, saved by
    :func:`_callable_state` (``state_dict`` stores no functions)."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        name = type(self).__name__
        _check_optimizer(name, optimizer)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(optimizer.param_groups):
                raise ValueError(f"{name}: expected {len(optimizer.param_groups)} lr_lambdas, "
                                 f"got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * len(optimizer.param_groups)
        for i, fn in enumerate(self.lr_lambdas):
            if not callable(fn):
                raise TypeError(f"{name}: lr_lambda {i} should be a function, got {type(fn).__name__}")
        super().__init__(optimizer, last_epoch)

    def state_dict(self):
        sd = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        sd["lr_lambdas"] = [_callable_state(fn) for fn in self.lr_lambdas]
        return sd

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        saved = state_dict.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        self.__dict__.update(state_dict)
        for fn, attrs in zip(self.lr_lambdas, saved):
            if attrs is not None:
                fn.__dict__.update(attrs)


class LambdaLR(_LambdaScheduler):
    """lr = base_lr · lr_lambda(last_epoch); ``lr_lambda`` is a function or one per group.

    ``state_dict`` stores no functions: an entry per lambda is ``None``, or
    the ``__dict__`` of a callable object (restored into the current one).
    """

    def get_lr(self):
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(_LambdaScheduler):
    """lr ← lr · lr_lambda(last_epoch) at every step after the first (chainable);
    ``lr_lambda`` is a function or one per group, saved like LambdaLR's."""

    def get_lr(self):
        groups = self.optimizer.param_groups
        if self._is_initial:
            return [g["lr"] for g in groups]
        return [g["lr"] * fn(self.last_epoch) for fn, g in zip(self.lr_lambdas, groups)]


class StepLR(LRScheduler):
    """lr = base_lr · gamma^(last_epoch // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if int(step_size) <= 0:
            raise ValueError(f"StepLR: step_size must be a positive int, got {step_size}")
        self.step_size, self.gamma = int(step_size), gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lrs
        return [lr * self.gamma for lr in lrs]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """lr = base_lr · gamma^(number of milestones ≤ last_epoch); a repeated milestone counts twice."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones = Counter(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        if self.last_epoch not in self.milestones:
            return lrs
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in lrs]

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        # (a file stores the Counter as a plain dict, whose keys may come back as strings)
        self.milestones = Counter({int(m): int(n) for m, n in self.milestones.items()})

    def _get_closed_form_lr(self):
        ms = sorted(self.milestones.elements())
        return [base * self.gamma ** bisect_right(ms, self.last_epoch) for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr = base_lr · gamma^last_epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        return lrs if self._is_initial else [lr * self.gamma for lr in lrs]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """lr = base_lr · factor for the first ``total_iters`` steps (last_epoch < total_iters),
    base_lr from then on.

    Unlike PyTorch, factor = 0 raises ValueError (restoring the lr divides by it).
    """

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        if not 0 < factor <= 1:
            raise ValueError(f"ConstantLR: factor must be in (0, 1], got {factor}")
        if int(total_iters) < 0:
            raise ValueError(f"ConstantLR: total_iters must be a non-negative int, got {total_iters}")
        self.factor, self.total_iters = factor, int(total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        if self.last_epoch == 0:
            return [lr * self.factor for lr in lrs]
        if self.last_epoch != self.total_iters:
            return lrs
        return [lr * (1.0 / self.factor) for lr in lrs]  # undo the factor (chainable form)

    def _get_closed_form_lr(self):
        f = 1.0 if self.last_epoch >= self.total_iters else self.factor
        return [base * f for base in self.base_lrs]


class LinearLR(LRScheduler):
    """lr = base_lr · f, f going linearly from ``start_factor`` to ``end_factor`` over
    ``total_iters`` steps, then staying there (a linear warmup with the defaults).

    Resumed with ``last_epoch=k``, construction leaves the optimizer's (loaded) lr as it
    is, like PyTorch's chainable form.
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5,
                 last_epoch=-1):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: need 0 < start_factor <= 1 and 0 <= end_factor <= 1, "
                             f"got {start_factor} and {end_factor}")
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = int(total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in lrs]
        if self._is_initial or self.last_epoch > self.total_iters:  # resumed: keep the loaded lr
            return lrs
        # the ratio of this step's factor to the previous one's (chainable form)
        a, b = self.start_factor, self.end_factor
        ratio = 1 + (b - a) / (self.total_iters * a + (self.last_epoch - 1) * (b - a))
        return [lr * ratio for lr in lrs]

    def _get_closed_form_lr(self):
        a, b = self.start_factor, self.end_factor
        f = a + (b - a) * min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * f for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """lr = base_lr · (1 − min(last_epoch, total_iters)/total_iters)^power: a polynomial decay
    to 0 at ``total_iters`` (linear with power=1), then 0. Chainable like PyTorch's.

    Unlike PyTorch, total_iters < 1 raises ValueError (the closed form divides by it).
    """

    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        if int(total_iters) < 1:
            raise ValueError(f"PolynomialLR: total_iters must be a positive int, got {total_iters}")
        self.total_iters, self.power = int(total_iters), power
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return lrs
        # this step's factor over the previous one's (chainable form)
        t, T = self.last_epoch, self.total_iters
        ratio = ((1.0 - t / T) / (1.0 - (t - 1) / T)) ** self.power
        return [lr * ratio for lr in lrs]

    def _get_closed_form_lr(self):
        f = (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
        return [base * f for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr − eta_min)·(1 + cos(π·last_epoch/T_max))/2 (SGDR without restarts).

    Computed recursively from the current lr like PyTorch (equal to the closed
    form when nothing else touches the lr); past ``T_max`` it rises again
    (period 2·T_max).
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if int(T_max) <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive int, got {T_max}")
        self.T_max, self.eta_min = int(T_max), eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, T, lo = self.last_epoch, self.T_max, self.eta_min
        groups = self.optimizer.param_groups
        if self._is_initial:
            return [g["lr"] for g in groups]
        if self._step_count == 1 and t > 0:  # resumed: start from the closed form
            return self._get_closed_form_lr()
        if (t - 1 - T) % (2 * T) == 0:  # leaving the trough: the ratio below would be 0/0
            return [g["lr"] + (base - lo) * (1 - math.cos(math.pi / T)) / 2
                    for base, g in zip(self.base_lrs, groups)]
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [ratio * (g["lr"] - lo) + lo for g in groups]

    def _get_closed_form_lr(self):
        c = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base - self.eta_min) * c for base in self.base_lrs]


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith): lr rises from max_lr/div_factor to max_lr over
    ``pct_start`` of ``total_steps``, then anneals to initial_lr/final_div_factor.

    ``three_phase=True`` instead goes up, back down to initial_lr (symmetric),
    then to the minimum. With ``cycle_momentum`` the momentum (or Adam's beta1)
    moves inversely between ``max_momentum`` and ``base_momentum``.
    ``total_steps`` or ``epochs · steps_per_epoch`` steps; one more is an error.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False,
                 last_epoch=-1):
        _check_optimizer("OneCycleLR", optimizer)
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"OneCycleLR: expected a positive int total_steps, got {total_steps}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            for name, v in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
                if not isinstance(v, int) or v <= 0:
                    raise ValueError(f"OneCycleLR: expected a positive int {name}, got {v}")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("OneCycleLR: give total_steps, or both epochs and steps_per_epoch")
        if not 0.0 <= pct_start <= 1.0:
            raise ValueError(f"OneCycleLR: pct_start must be in [0, 1], got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', "
                             f"got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        up = float(pct_start * self.total_steps) - 1
        # each phase: (last step, start lr key, end lr key, start momentum key, end momentum key)
        if three_phase:
            self._phases = [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr",
                             "base_momentum", "max_momentum"),
                            (self.total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            self._phases = [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (self.total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        groups = optimizer.param_groups
        if last_epoch == -1:
            for group, m in zip(groups, _per_group("OneCycleLR", "max_lr", optimizer, max_lr)):
                group["initial_lr"] = m / div_factor
                group["max_lr"] = m
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _uses_beta1("OneCycleLR", optimizer)
            if last_epoch == -1:
                his = _per_group("OneCycleLR", "max_momentum", optimizer, max_momentum)
                los = _per_group("OneCycleLR", "base_momentum", optimizer, base_momentum)
                for group, hi, lo in zip(groups, his, los):
                    _set_momentum(group, hi, self.use_beta1)
                    group["max_momentum"], group["base_momentum"] = hi, lo
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self):
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {t} times, total_steps is {self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr0, lr1, m0, m1) in enumerate(self._phases):
                if t <= end or i == len(self._phases) - 1:
                    pct = (t - start) / (end - start)
                    lrs.append(self._anneal(group[lr0], group[lr1], pct))
                    if self.cycle_momentum:
                        _set_momentum(group, self._anneal(group[m0], group[m1], pct), self.use_beta1)
                    break
                start = end
        return lrs


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (Loshchilov & Hutter): cosine annealing that restarts every period.

    lr = eta_min + (base_lr − eta_min)·(1 + cos(π·T_cur/T_i))/2, where T_cur counts the
    steps since the last restart and the period T_i starts at ``T_0`` and is multiplied
    by ``T_mult`` at each restart. ``step(epoch)`` may take a float epoch (e.g.
    ``epoch + i / iters_per_epoch`` inside an epoch); ``last_epoch`` is then its floor.
    """

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        if not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: T_0 must be a positive int, got {T_0!r}")
        if not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"CosineAnnealingWarmRestarts: T_mult must be an int >= 1, got {T_mult!r}")
        if not isinstance(eta_min, (int, float)):
            raise TypeError(f"CosineAnnealingWarmRestarts: eta_min must be a number, got "
                            f"{type(eta_min).__name__}")
        self.T_0 = self.T_i = T_0
        self.T_mult, self.eta_min = T_mult, eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        c = (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
        return [self.eta_min + (base - self.eta_min) * c for base in self.base_lrs]

    def step(self, epoch=None) -> None:
        """Advance one step, or jump to ``epoch`` (an int or a float, >= 0)."""
        self._warn_if_before_optimizer()
        self._step_count += 1
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:  # restart
                self.T_cur %= self.T_i
                self.T_i *= self.T_mult
        elif epoch < 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: expected a non-negative epoch, got {epoch}")
        elif epoch < self.T_0:
            self.T_i, self.T_cur = self.T_0, epoch
        elif self.T_mult == 1:
            self.T_cur = epoch % self.T_0
        else:
            # restart n begins at T_0·(T_mult^n − 1)/(T_mult − 1) (a geometric series of periods)
            n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
            self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
            self.T_i = self.T_0 * self.T_mult ** n
        self.last_epoch = math.floor(epoch)
        self._set_lrs(self.get_lr())


class CyclicLR(LRScheduler):
    """Cyclical learning rates (Smith): the lr moves linearly between ``base_lr`` and
    ``max_lr`` and back, ``step_size_up`` steps up and ``step_size_down`` (default: the
    same) down. Call ``step()`` after every batch.

    The cycle's amplitude is scaled by ``mode``: "triangular" (constant), "triangular2"
    (halved each cycle) or "exp_range" (gamma^iterations), or by a custom
    ``scale_fn(x)`` of the cycle number (``scale_mode="cycle"``) or of the step count
    ("iterations"). With ``cycle_momentum`` the momentum (or Adam's beta1) moves the
    opposite way between ``max_momentum`` and ``base_momentum``. ``base_lr``,
    ``max_lr`` and the momenta are one value or one per group. ``state_dict`` keeps a
    custom ``scale_fn`` only as the ``__dict__`` of a callable object.
    """

    def __init__(self, optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None,
                 mode="triangular", gamma=1.0, scale_fn=None, scale_mode="cycle",
                 cycle_momentum=True, base_momentum=0.8, max_momentum=0.9, last_epoch=-1):
        _check_optimizer("CyclicLR", optimizer)
        base_lrs = _per_group("CyclicLR", "base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
        self.max_lrs = _per_group("CyclicLR", "max_lr", optimizer, max_lr)
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        if up <= 0 or down < 0:
            raise ValueError(f"CyclicLR: need step_size_up > 0 and step_size_down >= 0, got "
                             f"{step_size_up} and {step_size_down}")
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if scale_fn is None and mode not in ("triangular", "triangular2", "exp_range"):
            raise ValueError(f"CyclicLR: mode must be 'triangular', 'triangular2' or 'exp_range' "
                             f"when no scale_fn is given, got {mode!r}")
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"CyclicLR: scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}")
        self.mode, self.gamma = mode, gamma
        self._scale_fn_custom = scale_fn
        # the built-in modes fix their scale_mode, as in PyTorch
        self.scale_mode = scale_mode if scale_fn is not None else (
            "iterations" if mode == "exp_range" else "cycle")
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _uses_beta1("CyclicLR", optimizer)
            self.base_momentums = _per_group("CyclicLR", "base_momentum", optimizer, base_momentum)
            self.max_momentums = _per_group("CyclicLR", "max_momentum", optimizer, max_momentum)
            if last_epoch == -1:
                for hi, lo, group in zip(self.max_momentums, self.base_momentums, optimizer.param_groups):
                    _set_momentum(group, hi, self.use_beta1)
                    group["max_momentum"], group["base_momentum"] = hi, lo
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs  # the lrs at the cycle's bottom, not the groups' initial_lr

    def scale_fn(self, x) -> float:
        """The amplitude factor at ``x`` (the cycle number or the step count)."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x

    def get_lr(self):
        t = self.last_epoch
        cycle = math.floor(1 + t / self.total_size)
        x = 1.0 + t / self.total_size - cycle  # position in the cycle, in [0, 1)
        if x <= self.step_ratio:
            frac = x / self.step_ratio
        else:
            frac = (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else t)
        lrs = [base + (hi - base) * frac * scale for base, hi in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for group, lo, hi in zip(self.optimizer.param_groups, self.base_momentums,
                                     self.max_momentums):
                _set_momentum(group, hi - (hi - lo) * frac * scale, self.use_beta1)
        return lrs

    def state_dict(self):
        sd = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_scale_fn_custom")}
        fn = self._scale_fn_custom
        sd["_scale_fn_custom"] = None if fn is None else _callable_state(fn)
        return sd

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        attrs = state_dict.pop("_scale_fn_custom", None)
        self.__dict__.update(state_dict)
        if attrs is not None:
            self._scale_fn_custom.__dict__.update(attrs)


class LinearWarmupCosineLR(LRScheduler):
    """Linear warmup, then cosine decay to ``min_lr`` (the GPT recipe; not in PyTorch).

    For t = last_epoch, w = warmup_steps, T = total_steps:
    t < w:       lr = base_lr · (t + 1)/(w + 1)   (never exactly 0; base_lr is reached at t = w)
    w ≤ t ≤ T:   lr = min_lr + (base_lr − min_lr)·(1 + cos(π·(t − w)/(T − w)))/2
    t > T:       lr = min_lr.
    ``min_lr`` is one value or one per group.
    """

    def __init__(self, optimizer, warmup_steps, total_steps, min_lr=0.0, last_epoch=-1):
        if int(warmup_steps) < 0 or int(total_steps) <= int(warmup_steps):
            raise ValueError(f"LinearWarmupCosineLR: need 0 <= warmup_steps < total_steps, got "
                             f"warmup_steps={warmup_steps}, total_steps={total_steps}")
        self.warmup_steps, self.total_steps = int(warmup_steps), int(total_steps)
        _check_optimizer("LinearWarmupCosineLR", optimizer)
        self.min_lrs = _per_group("LinearWarmupCosineLR", "min_lr", optimizer, min_lr)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, w, T = self.last_epoch, self.warmup_steps, self.total_steps
        if t < w:
            return [base * (t + 1) / (w + 1) for base in self.base_lrs]
        c = (1 + math.cos(math.pi * min(t - w, T - w) / (T - w))) / 2
        return [lo + (base - lo) * c for base, lo in zip(self.base_lrs, self.min_lrs)]

    _get_closed_form_lr = get_lr


class ReduceLROnPlateau:
    """Multiply the lr by ``factor`` when a metric has stopped improving (PyTorch semantics).

    ``step(metric)`` after each evaluation. Improving means, for ``mode="min"``,
    metric < best·(1 − threshold) (``threshold_mode="rel"``) or metric < best −
    threshold ("abs"); for "max", the mirror image. After more than ``patience``
    steps without improvement, each group's lr becomes max(lr·factor, min_lr)
    (unless that changes it by less than ``eps``), then ``cooldown`` steps pass
    before bad steps count again. A single ``min_lr`` also covers groups added to the
    optimizer later; with one ``min_lr`` per group, adding a group is a RuntimeError
    at the next reduction (as in PyTorch).
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        _check_optimizer("ReduceLROnPlateau", optimizer)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1, got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', "
                             f"got {threshold_mode!r}")
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, int(patience)
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = int(cooldown), eps
        self.min_lrs = _per_group("ReduceLROnPlateau", "min_lr", optimizer, min_lr)
        # a scalar min_lr also applies to groups added later (None: one was given per group)
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) else min_lr
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = self.last_epoch = 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def _is_better(self, value):
        rel = self.threshold_mode == "rel"
        if self.mode == "min":
            return value < (self.best * (1 - self.threshold) if rel else self.best - self.threshold)
        return value > (self.best * (1 + self.threshold) if rel else self.best + self.threshold)

    def step(self, metrics, epoch=None) -> None:
        """Record one evaluation's metric (a number or a 1-element tensor).

        ``epoch`` (PyTorch's deprecated argument) sets ``last_epoch`` instead of adding one.
        """
        value = float(metrics.item() if hasattr(metrics, "item") else metrics)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self._is_better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._match_min_lrs()
            for group, low in zip(self.optimizer.param_groups, self.min_lrs):
                old = float(group["lr"])
                new = max(old * self.factor, low)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def _match_min_lrs(self) -> None:
        """One min_lr per current group: a scalar ``min_lr`` covers groups added since
        construction; per-group ones cannot (RuntimeError, as in PyTorch)."""
        n = len(self.optimizer.param_groups)
        if len(self.min_lrs) == n:
            return
        if self.default_min_lr is None:
            raise RuntimeError(f"ReduceLROnPlateau: the optimizer has {n} parameter groups but "
                               f"{len(self.min_lrs)} min_lrs were given (a group was added after "
                               "construction); set scheduler.min_lrs to one value per group")
        self.min_lrs = [self.default_min_lr] * n

    def get_last_lr(self) -> list:
        """The lrs after the last :meth:`step`, one per parameter group."""
        return self._last_lr

    def state_dict(self) -> dict:
        """Every attribute except the optimizer (plain values)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore attributes saved by :meth:`state_dict`."""
        self.__dict__.update(state_dict)


def _check_schedulers(owner: str, optimizer, schedulers) -> list:
    """``schedulers`` as a non-empty list of LRSchedulers that all drive ``optimizer``."""
    schedulers = list(schedulers)
    if not schedulers:
        raise ValueError(f"{owner}: expected at least one scheduler, got none")
    for i, s in enumerate(schedulers):
        if isinstance(s, ReduceLROnPlateau):
            raise ValueError(f"{owner}: cannot hold a ReduceLROnPlateau (index {i}): its step needs "
                             "a metric")
        if not isinstance(s, LRScheduler):
            raise TypeError(f"{owner}: scheduler {i} is a {type(s).__name__}, not an LRScheduler")
        if s.optimizer is not optimizer:
            raise ValueError(f"{owner}: scheduler {i} ({type(s).__name__}) drives a different optimizer "
                             "than the others")
    return schedulers


class _SchedulerList(LRScheduler):
    """Shared by SequentialLR and ChainedScheduler: ``state_dict`` nests each scheduler's."""

    def state_dict(self):
        sd = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        sd["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return sd

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        saved = state_dict.pop("_schedulers")
        if len(saved) != len(self._schedulers):
            raise ValueError(f"{type(self).__name__}.load_state_dict: the state dict has {len(saved)} "
                             f"schedulers, this one has {len(self._schedulers)}")
        self.__dict__.update(state_dict)
        for s, sd in zip(self._schedulers, saved):
            s.load_state_dict(sd)


class SequentialLR(_SchedulerList):
    """Run ``schedulers`` one after another: scheduler i from step ``milestones[i-1]`` on.

    Each takes over from its own start (at its milestone it is moved to its epoch 0,
    through its closed form where it has one). The usual linear warmup then cosine decay::

        SequentialLR(opt, [LinearLR(opt, start_factor=0.01, total_iters=w),
                           CosineAnnealingLR(opt, T_max=total - w)], milestones=[w])

    Constructing it resets every group's lr to ``initial_lr`` and undoes the
    schedulers' own first steps. ``step()`` takes no epoch.
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        _check_optimizer("SequentialLR", optimizer)
        schedulers = _check_schedulers("SequentialLR", optimizer, schedulers)
        milestones = [int(m) for m in milestones]
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: expected one milestone fewer than schedulers, got "
                             f"{len(schedulers)} schedulers and milestones {milestones}")
        if milestones != sorted(milestones):
            raise ValueError(f"SequentialLR: milestones must be non-decreasing, got {milestones}")
        self._schedulers, self._milestones = schedulers, milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        _undo_initial_steps(self)
        first = self._schedulers[bisect_right(milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self) -> None:
        """Advance one step, handing over to the next scheduler at a milestone."""
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


def _undo_initial_steps(sched) -> None:
    """Step every scheduler under ``sched`` (nested lists included) back by one epoch."""
    if hasattr(sched, "_schedulers"):
        for s in sched._schedulers:
            _undo_initial_steps(s)
    else:
        sched.last_epoch -= 1


class ChainedScheduler(_SchedulerList):
    """Step every scheduler in ``schedulers`` at once, each applying its change to the lr the
    previous one left (their chainable forms multiply). ``optimizer`` defaults to the
    first scheduler's; all must share it. ``step()`` takes no epoch.
    """

    def __init__(self, schedulers, optimizer=None):
        schedulers = list(schedulers)
        if optimizer is None and schedulers:
            optimizer = getattr(schedulers[0], "optimizer", None)
        self._schedulers = _check_schedulers("ChainedScheduler", optimizer, schedulers)
        _check_optimizer("ChainedScheduler", optimizer)
        self.optimizer = optimizer
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def step(self) -> None:
        """Step each scheduler in order."""
        for s in self._schedulers:
            s.step()
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]
