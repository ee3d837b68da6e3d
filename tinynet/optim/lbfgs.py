"""L-BFGS (Liu & Nocedal 1989) on the flattened parameter vector, optionally with a strong-Wolfe line search.

A port of PyTorch's ``torch.optim.LBFGS`` (itself after minFunc and torch7's optim):
the same iteration, stopping rules and line search, so runs agree with PyTorch's
step for step. All vector work is on one flat array (numpy or cupy, the
parameters' own array module); the two-loop recursion loops only over the
history, never over elements.
"""
from __future__ import annotations

import copy

import numpy as np

from .. import autograd, backend
from ..tensor import Tensor
from .optimizer import Optimizer


def _sqrt(x):
    """√x keeping x's precision (a numpy/cupy scalar stays one, as PyTorch's 0-d tensors do)."""
    return x ** 0.5 if isinstance(x, (int, float)) else backend.get_array_module(x).sqrt(x)


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimiser of the cubic through (x1, f1, f1'=g1) and (x2, f2, f2'=g2), clamped to ``bounds``.

    d1 = g1 + g2 − 3(f1 − f2)/(x1 − x2);  d2 = √(d1² − g1·g2);
    x = x2 − (x2 − x1)·(g2 + d2 − d1)/(g2 − g1 + 2·d2)  (the bounds' midpoint when d1² < g1·g2).
    """
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = _sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Line search along ``d`` for a step t meeting the strong Wolfe conditions.

    Strong Wolfe (Nocedal & Wright, Algorithms 3.5 and 3.6): sufficient decrease
    f(x + t·d) ≤ f + c1·t·gᵀd and curvature |∇f(x + t·d)ᵀd| ≤ −c2·gᵀd. First bracket an
    interval (growing t by cubic extrapolation), then zoom into it by safeguarded cubic
    interpolation. Returns (f_new, g_new, t, function evaluations).
    """
    xp = backend.get_array_module(d)
    d_norm = xp.abs(d).max()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = g_new.dot(d)

    # bracket an interval containing a point satisfying the Wolfe criteria
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        # extrapolate
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1

    if ls_iter == max_ls:  # reached the evaluation budget
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom: refine the bracket until a point meets the conditions
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:  # bracket too small
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                               bracket[1], bracket_f[1], bracket_gtd[1])
        # a trial point too close to an end of the bracket (twice, or at it) moves to 10% inside
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # Armijo not met, or not below the lowest point: t becomes the high end
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new, gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True  # Wolfe conditions met
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # the old high end becomes the new low end
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos], bracket_gtd[high_pos] = bracket_g[low_pos], bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new, gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


def _scalar(x):
    """A float from a numpy/cupy 0-d value (Python numbers pass through)."""
    return x if isinstance(x, (int, float)) or x is None else float(x)


class LBFGS(Optimizer):
    """L-BFGS, PyTorch semantics (one parameter group; ``step`` needs a closure).

    Each ``step(closure)`` runs up to ``max_iter`` iterations on the flattened parameters x
    with gradient g. The direction is d = −H·g, where H·g comes from the two-loop recursion
    (Nocedal & Wright, Algorithm 7.4) over the last ``history_size`` pairs
    s = xₖ₊₁ − xₖ, y = gₖ₊₁ − gₖ (kept only when yᵀs > 1e-10), with ρ = 1/(yᵀs) and the initial
    H₀ = (yᵀs / yᵀy)·I from the newest pair:
    q ← g; for i newest→oldest: αᵢ = ρᵢ·sᵢᵀq, q ← q − αᵢ·yᵢ;  r ← H₀·q;
    for i oldest→newest: βᵢ = ρᵢ·yᵢᵀr, r ← r + (αᵢ − βᵢ)·sᵢ;  d = −r.
    The first iteration ever takes d = −g and t = min(1, 1/‖g‖₁)·lr, later ones t = lr;
    then x ← x + t·d, or with ``line_search_fn='strong_wolfe'`` t from a strong-Wolfe line
    search started at that t. An iteration stops the step when gᵀd > −tolerance_change,
    max(|g|) ≤ tolerance_grad, max(|t·d|) ≤ tolerance_change, |Δloss| < tolerance_change,
    or after ``max_eval`` closure calls (default max_iter·5//4).

    The closure re-evaluates the model: zero the gradients, compute the loss, call
    ``backward()`` and return the loss. ``step`` returns the loss of its first evaluation.
    State (PyTorch's names, held for the first parameter): ``func_evals``, ``n_iter``,
    ``d``, ``t``, ``old_dirs`` (y's), ``old_stps`` (s's), ``ro``, ``H_diag``,
    ``prev_flat_grad``, ``prev_loss``. Unlike PyTorch, an unknown ``line_search_fn`` is a
    ValueError at construction rather than a RuntimeError at the first step, and the
    two-loop scratch ``al`` is not kept in the state.
    """

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if not 0.0 <= lr:
            raise ValueError(f"LBFGS: Invalid learning rate: {lr}")
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: Invalid line_search_fn: {line_search_fn!r}, only 'strong_wolfe' "
                             "or None is supported")
        if int(history_size) < 1:
            raise ValueError(f"LBFGS: Invalid history_size: {history_size}, must be at least 1")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                                      history_size=history_size, line_search_fn=line_search_fn))
        self._params = self.param_groups[0]["params"]
        self._numel = sum(p.data.size for p in self._params)

    def add_param_group(self, param_group: dict) -> None:
        """LBFGS takes exactly one parameter group (ValueError for a second one, as in PyTorch)."""
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)
        dev = {p.device for p in self.param_groups[0]["params"]}
        dtypes = {p.dtype for p in self.param_groups[0]["params"]}
        if len(dev) > 1 or len(dtypes) > 1:
            self.param_groups.clear()
            raise ValueError(f"LBFGS: all parameters must share one device and dtype, got devices "
                             f"{sorted(map(str, dev))} and dtypes {sorted(map(str, dtypes))}")

    # ------------------------------------------------------------ the flat vector
    def _gather_flat_grad(self):
        """The gradients of all parameters as one new flat array (zeros for a missing ``.grad``)."""
        xp = backend.get_array_module(self._params[0].data)
        return xp.concatenate([xp.zeros(p.data.size, dtype=p.dtype) if p.grad is None
                               else p.grad.data.reshape(-1) for p in self._params])

    def _add_grad(self, step_size, update) -> None:
        """x ← x + step_size·update, each parameter from its slice of the flat ``update``."""
        offset = 0
        for p in self._params:
            n = p.data.size
            p.data += (update[offset:offset + n] * step_size).reshape(p.shape)
            p._vc[0] += 1   # changed in place: a graph that saved p can no longer backward
            offset += n

    def _clone_param(self):
        return [p.data.copy() for p in self._params]

    def _set_param(self, params_data) -> None:
        for p, pdata in zip(self._params, params_data):
            p.data[...] = pdata
            p._vc[0] += 1

    def _evaluate(self, closure) -> tuple:
        """(the closure's result, its value as a float), with grad enabled."""
        with autograd.enable_grad():
            loss = closure()
        return loss, float(loss)

    def _directional_evaluate(self, closure, x, t, d):
        """f and ∇f at x + t·d; the parameters are put back to ``x`` afterwards."""
        self._add_grad(t, d)
        _, loss = self._evaluate(closure)
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # ------------------------------------------------------------ the step
    def step(self, closure):
        """Run up to ``max_iter`` L-BFGS iterations; ``closure()`` re-evaluates and returns the loss.

        Returns the loss of the first evaluation (as the closure returned it).
        """
        if closure is None:
            raise ValueError("LBFGS.step: a closure is required (it re-evaluates the model and returns "
                             "the loss)")
        self._step_called = True
        group = self.param_groups[0]
        lr = float(group["lr"])
        max_iter, max_eval = int(group["max_iter"]), int(group["max_eval"])
        tolerance_grad, tolerance_change = float(group["tolerance_grad"]), float(group["tolerance_change"])
        line_search_fn, history_size = group["line_search_fn"], int(group["history_size"])
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: Invalid line_search_fn: {line_search_fn!r}")
        xp = backend.get_array_module(self._params[0].data)

        # LBFGS's state is global; it sits with the first parameter, as in PyTorch
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss, loss = self._evaluate(closure)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if xp.abs(flat_grad).max() <= tolerance_grad:  # already optimal
            return orig_loss

        d = state["d"].data if state.get("d") is not None else None
        t = state.get("t")
        old_dirs = [y.data for y in state.get("old_dirs", [])]
        old_stps = [s.data for s in state.get("old_stps", [])]
        ro = list(state.get("ro", []))
        H_diag = state.get("H_diag")
        prev_flat_grad = state["prev_flat_grad"].data if state.get("prev_flat_grad") is not None else None
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # ---- descent direction
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y.dot(s)
                if ys > 1e-10:  # curvature condition: keep the pair
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / y.dot(y)
                # two-loop recursion: d = −H·g
                num_old = len(old_dirs)
                al = [None] * num_old
                q = -flat_grad
                for i in range(num_old - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q -= old_dirs[i] * al[i]
                d = r = q * H_diag
                for i in range(num_old):
                    be_i = old_dirs[i].dot(r) * ro[i]
                    r += old_stps[i] * (al[i] - be_i)

            prev_flat_grad = flat_grad.copy()
            prev_loss = loss

            # ---- step length
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / xp.abs(flat_grad).sum()) * lr
            else:
                t = lr
            gtd = flat_grad.dot(d)  # directional derivative
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                x_init = self._clone_param()

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = xp.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_grad(t, d)  # fixed step
                opt_cond = False
                if n_iter != max_iter:  # the last iteration's loss would go unused
                    _, loss = self._evaluate(closure)
                    flat_grad = self._gather_flat_grad()
                    opt_cond = xp.abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # ---- stopping rules
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if xp.abs(d * t).max() <= tolerance_change:  # lack of progress
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"] = None if d is None else Tensor(d)
        state["t"] = _scalar(t)
        state["old_dirs"] = [Tensor(y) for y in old_dirs]
        state["old_stps"] = [Tensor(s) for s in old_stps]
        state["ro"] = [_scalar(r) for r in ro]
        state["H_diag"] = _scalar(H_diag)
        state["prev_flat_grad"] = None if prev_flat_grad is None else Tensor(prev_flat_grad)
        state["prev_loss"] = _scalar(prev_loss)
        return orig_loss

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """As :meth:`Optimizer.state_dict`, with the history lists copied array by array."""
        sd = super().state_dict()
        for s in sd["state"].values():
            for key in ("old_dirs", "old_stps"):
                if key in s:
                    s[key] = [Tensor(v.data.copy()) for v in s[key]]
        return sd

    def _cast_state(self, p: Tensor, key: str, value):
        """Flat vectors (``d``, ``prev_flat_grad``, the history) onto the parameters' device and dtype."""
        if isinstance(value, (list, tuple)):
            return [self._cast_state(p, key, v) for v in value]
        arr = value.data if isinstance(value, Tensor) else value
        if isinstance(arr, np.generic) or (hasattr(arr, "ndim") and arr.ndim == 0):
            return float(arr) if np.dtype(arr.dtype).kind == "f" else int(arr)
        if not (hasattr(arr, "__array_interface__") or hasattr(arr, "__cuda_array_interface__")):
            return copy.deepcopy(value)
        if arr.size != self._numel:
            raise ValueError(f"LBFGS.load_state_dict: state '{key}' has {arr.size} elements, the "
                             f"parameters have {self._numel} in all")
        xp = backend.get_array_module(p.data)
        return Tensor(xp.array(backend.to_device(arr, p.device), dtype=p.dtype, copy=True).reshape(-1))
