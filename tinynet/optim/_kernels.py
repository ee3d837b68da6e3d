"""Per-parameter update math on raw arrays (numpy or cupy), all in place.

Each ``*_update_`` function updates ``p`` and its state arrays in place with
ufuncs and ``out=``, and never writes to ``g`` (a gradient may share memory
with other tensors). ``tmp`` is a tuple of two scratch arrays shaped like
``p`` (the optimizer hands out reused ones; ``None`` allocates). Scalars are
Python floats, which numpy/cupy treat as weak: a float32 ``p`` is updated in
float32 and nothing becomes float64. The operation order follows PyTorch's
single-tensor CPU implementations so trajectories agree to float32 rounding.

These functions are the seam for fused GPU kernels: one elementwise kernel
per function, same arguments, can replace the ufunc sequence.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from . import _cuda


def _scratch(p, tmp):
    """Two arrays shaped like ``p`` to compute in (the given ones or new)."""
    if tmp is not None:
        return tmp
    xp = get_array_module(p)
    return xp.empty_like(p), xp.empty_like(p)


def effective_grad(p, g, weight_decay, maximize, out):
    """d = (−g if maximize else g) + weight_decay·p, in ``out``; ``g`` itself when unchanged."""
    xp = get_array_module(p)
    if weight_decay == 0:
        return xp.negative(g, out=out) if maximize else g
    xp.multiply(p, weight_decay, out=out)
    return xp.subtract(out, g, out=out) if maximize else xp.add(out, g, out=out)


def lerp_(a, b, w, tmp):
    """a ← a + w·(b − a) in place, in PyTorch's two-sided form (exact at w = 0 and w = 1)."""
    xp = get_array_module(a)
    xp.subtract(b, a, out=tmp)
    if abs(w) < 0.5:
        xp.multiply(tmp, w, out=tmp)
        xp.add(a, tmp, out=a)
    else:  # b − (b − a)(1 − w)
        xp.multiply(tmp, 1.0 - w, out=tmp)
        xp.subtract(b, tmp, out=a)


def sgd_update_(p, g, buf, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
                nesterov=False, maximize=False, new_buf=False, tmp=None):
    """SGD with momentum, in place.

    d = ±g + wd·p;  buf ← d (first step, ``new_buf``) else μ·buf + (1−τ)·d;
    d ← d + μ·buf (Nesterov) or buf;  p ← p − lr·d.
    ``buf`` is the momentum buffer, ``None`` when momentum is 0.
    """
    xp = get_array_module(p)
    if xp is not np:  # one fused kernel launch on the GPU
        return _cuda.sgd_update_(xp, p, g, buf, lr=lr, momentum=momentum, dampening=dampening,
                                 weight_decay=weight_decay, nesterov=nesterov,
                                 maximize=maximize, new_buf=new_buf)
    a, b = _scratch(p, tmp)
    d = effective_grad(p, g, weight_decay, maximize, out=a)
    if buf is not None:
        if new_buf:
            xp.copyto(buf, d)
        else:
            xp.multiply(buf, momentum, out=buf)
            if dampening != 0:
                xp.add(buf, xp.multiply(d, 1.0 - dampening, out=b), out=buf)
            else:
                xp.add(buf, d, out=buf)
        if nesterov:
            d = xp.add(d, xp.multiply(buf, momentum, out=b), out=b)
        else:
            d = buf
    xp.add(p, xp.multiply(d, -lr, out=b), out=p)


def _decay_and_grad(p, g, lr, weight_decay, decoupled, maximize, out):
    """Weight decay as Adam does it: decoupled, p ← p·(1 − lr·wd) and d = ±g; else d = ±g + wd·p."""
    xp = get_array_module(p)
    if decoupled:
        if weight_decay != 0:
            xp.multiply(p, 1.0 - lr * weight_decay, out=p)
        return effective_grad(p, g, 0.0, maximize, out=out)
    return effective_grad(p, g, weight_decay, maximize, out=out)


def average_square_(v, d, beta, tmp):
    """v ← β·v + (1−β)·d² in place (the running mean of squared gradients of Adam,
    RMSprop and Adadelta); ``tmp`` is scratch of d's shape."""
    xp = get_array_module(v)
    xp.multiply(d, 1.0 - beta, out=tmp)
    xp.multiply(tmp, d, out=tmp)
    xp.multiply(v, beta, out=v)
    xp.add(v, tmp, out=v)


def _update_moments(m, v, d, beta1, beta2, tmp):
    """m ← β1·m + (1−β1)·d;  v ← β2·v + (1−β2)·d² (Adam's two running averages)."""
    lerp_(m, d, 1.0 - beta1, tmp=tmp)
    average_square_(v, d, beta2, tmp)


def adam_update_(p, g, m, v, step, lr, beta1, beta2, eps, weight_decay=0.0, decoupled=False, *,
                 max_v=None, maximize=False, tmp=None):
    """Adam / AdamW, in place; ``step`` is the 1-based count after this update.

    decoupled (AdamW): p ← p·(1 − lr·wd), d = ±g;  else d = ±g + wd·p.
    m ← β1·m + (1−β1)·d;  v ← β2·v + (1−β2)·d²;  v̂ = max(max_v, v) if amsgrad.
    p ← p − lr/(1−β1ᵗ) · m / (√v̂ / √(1−β2ᵗ) + eps).
    """
    xp = get_array_module(p)
    if xp is not np and max_v is None:  # one fused kernel launch on the GPU
        return _cuda.adam_update_(xp, p, g, m, v, step, lr, beta1, beta2, eps, weight_decay,
                                  decoupled, maximize)
    a, b = _scratch(p, tmp)
    d = _decay_and_grad(p, g, lr, weight_decay, decoupled, maximize, out=a)
    _update_moments(m, v, d, beta1, beta2, tmp=b)
    # bias corrections in Python floats (no float64 arrays)
    step_size = lr / (1.0 - beta1 ** step)
    bc2_sqrt = (1.0 - beta2 ** step) ** 0.5
    if max_v is not None:
        v = xp.maximum(max_v, v, out=max_v)
    denom = xp.sqrt(v, out=b)
    xp.divide(denom, bc2_sqrt, out=denom)
    xp.add(denom, eps, out=denom)
    upd = xp.multiply(m, -step_size, out=a)  # d is no longer needed
    xp.divide(upd, denom, out=upd)
    xp.add(p, upd, out=p)


def rmsprop_update_(p, g, square_avg, *, lr, alpha, eps, weight_decay=0.0, momentum=0.0,
                    centered=False, maximize=False, grad_avg=None, buf=None, tmp=None):
    """RMSprop, in place.

    d = ±g + wd·p;  s ← α·s + (1−α)·d²;  ḡ ← α·ḡ + (1−α)·d (centered);
    avg = √(s − ḡ²) (centered) or √s, plus eps;
    buf ← μ·buf + d/avg, p ← p − lr·buf (momentum > 0)  else  p ← p − lr·d/avg.
    """
    xp = get_array_module(p)
    a, b = _scratch(p, tmp)
    d = effective_grad(p, g, weight_decay, maximize, out=a)
    average_square_(square_avg, d, alpha, b)
    if centered:
        lerp_(grad_avg, d, 1.0 - alpha, tmp=b)
        avg = xp.multiply(grad_avg, grad_avg, out=b)
        xp.subtract(square_avg, avg, out=avg)
        xp.sqrt(avg, out=avg)
    else:
        avg = xp.sqrt(square_avg, out=b)
    xp.add(avg, eps, out=avg)
    if momentum > 0:
        xp.multiply(buf, momentum, out=buf)
        xp.add(buf, xp.divide(d, avg, out=avg), out=buf)
        xp.add(p, xp.multiply(buf, -lr, out=avg), out=p)
    else:
        upd = xp.multiply(d, -lr, out=a)
        xp.divide(upd, avg, out=upd)
        xp.add(p, upd, out=p)


def adagrad_update_(p, g, state_sum, step, *, lr, lr_decay=0.0, weight_decay=0.0, eps=1e-10,
                    maximize=False, tmp=None):
    """Adagrad, in place; ``step`` is the 1-based count after this update.

    d = ±g + wd·p;  clr = lr / (1 + (t−1)·lr_decay);  Σ ← Σ + d²;  p ← p − clr·d / (√Σ + eps).
    """
    xp = get_array_module(p)
    a, b = _scratch(p, tmp)
    d = effective_grad(p, g, weight_decay, maximize, out=a)
    clr = lr / (1.0 + (step - 1) * lr_decay)
    xp.add(state_sum, xp.multiply(d, d, out=b), out=state_sum)
    std = xp.sqrt(state_sum, out=b)
    xp.add(std, eps, out=std)
    upd = xp.multiply(d, -clr, out=a)
    xp.divide(upd, std, out=upd)
    xp.add(p, upd, out=p)


def radam_update_(p, g, m, v, step, lr, beta1, beta2, eps, weight_decay=0.0, decoupled=False, *,
                  maximize=False, tmp=None):
    """RAdam (Liu et al. 2020, Algorithm 2), in place; ``step`` is the 1-based count after this update.

    Weight decay and m, v as in Adam. With ρ∞ = 2/(1−β2) − 1 and ρt = ρ∞ − 2t·β2ᵗ/(1−β2ᵗ),
    the length of the approximated simple moving average:
    ρt > 5:  r = √((ρt−4)(ρt−2)ρ∞ / ((ρ∞−4)(ρ∞−2)ρt)),  p ← p − lr · m/(1−β1ᵗ) · r·√(1−β2ᵗ)/(√v + eps);
    else (variance not yet tractable): p ← p − lr · m/(1−β1ᵗ)  (SGD with momentum).
    """
    xp = get_array_module(p)
    a, b = _scratch(p, tmp)
    d = _decay_and_grad(p, g, lr, weight_decay, decoupled, maximize, out=a)
    _update_moments(m, v, d, beta1, beta2, tmp=b)
    bc1, bc2 = 1.0 - beta1 ** step, 1.0 - beta2 ** step
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * step * beta2 ** step / bc2
    upd = xp.divide(m, bc1, out=a)  # d is no longer needed
    xp.multiply(upd, lr, out=upd)
    if rho_t > 5.0:
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        adaptive = xp.sqrt(v, out=b)
        xp.add(adaptive, eps, out=adaptive)
        xp.divide(bc2 ** 0.5, adaptive, out=adaptive)
        xp.multiply(upd, adaptive, out=upd)
        xp.multiply(upd, rect, out=upd)
    xp.subtract(p, upd, out=p)


def nadam_update_(p, g, m, v, step, mu_product, lr, beta1, beta2, eps, weight_decay=0.0,
                  momentum_decay=4e-3, decoupled=False, *, maximize=False, tmp=None) -> float:
    """NAdam (Dozat 2016, with PyTorch's momentum schedule), in place; returns the new ``mu_product``.

    ``step`` is the 1-based count after this update, ``mu_product`` = Π_{i<t} μi before it.
    μt = β1·(1 − ½·0.96^(t·ψ)) with ψ = momentum_decay; weight decay and m, v as in Adam;
    denom = √(v/(1−β2ᵗ)) + eps;
    p ← p − lr·(1−μt)/(1 − Π_{i≤t} μi) · d/denom − lr·μ_{t+1}/(1 − Π_{i≤t+1} μi) · m/denom.
    """
    xp = get_array_module(p)
    a, b = _scratch(p, tmp)
    d = _decay_and_grad(p, g, lr, weight_decay, decoupled, maximize, out=a)
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
    mu_product *= mu
    _update_moments(m, v, d, beta1, beta2, tmp=b)
    denom = xp.divide(v, 1.0 - beta2 ** step, out=b)
    xp.sqrt(denom, out=denom)
    xp.add(denom, eps, out=denom)
    upd = xp.multiply(d, -lr * (1.0 - mu) / (1.0 - mu_product), out=a)  # the gradient's share
    xp.divide(upd, denom, out=upd)
    xp.add(p, upd, out=p)
    upd = xp.multiply(m, -lr * mu_next / (1.0 - mu_product * mu_next), out=a)  # the momentum's share
    xp.divide(upd, denom, out=upd)
    xp.add(p, upd, out=p)
    return mu_product


def adamax_update_(p, g, m, u, step, lr, beta1, beta2, eps, weight_decay=0.0, *, maximize=False,
                   tmp=None):
    """Adamax (Kingma & Ba, Algorithm 2: Adam with the infinity norm), in place.

    d = ±g + wd·p;  m ← β1·m + (1−β1)·d;  u ← max(β2·u, |d| + eps);  p ← p − lr/(1−β1ᵗ) · m/u.
    ``step`` is the 1-based count after this update.
    """
    xp = get_array_module(p)
    a, b = _scratch(p, tmp)
    d = effective_grad(p, g, weight_decay, maximize, out=a)
    lerp_(m, d, 1.0 - beta1, tmp=b)
    norm = xp.abs(d, out=b)
    xp.add(norm, eps, out=norm)
    xp.multiply(u, beta2, out=u)
    xp.maximum(u, norm, out=u)
    upd = xp.multiply(m, -lr / (1.0 - beta1 ** step), out=a)
    xp.divide(upd, u, out=upd)
    xp.add(p, upd, out=p)


def adadelta_update_(p, g, square_avg, acc_delta, *, lr, rho, eps, weight_decay=0.0, maximize=False,
                     tmp=None):
    """Adadelta (Zeiler 2012, Algorithm 1, with PyTorch's lr), in place.

    d = ±g + wd·p;  v ← ρ·v + (1−ρ)·d²;  Δ = √(u + eps) / √(v + eps) · d;
    u ← ρ·u + (1−ρ)·Δ²;  p ← p − lr·Δ.
    """
    xp = get_array_module(p)
    a, b = _scratch(p, tmp)
    d = effective_grad(p, g, weight_decay, maximize, out=a)
    average_square_(square_avg, d, rho, b)
    std = xp.add(square_avg, eps, out=b)
    xp.sqrt(std, out=std)
    delta = xp.add(acc_delta, eps, out=xp.empty_like(p))  # a third array: d, std and Δ all live at once
    xp.sqrt(delta, out=delta)
    xp.divide(delta, std, out=delta)
    xp.multiply(delta, d, out=delta)
    xp.multiply(delta, 1.0 - rho, out=b)  # std is no longer needed
    xp.multiply(b, delta, out=b)
    xp.multiply(acc_delta, rho, out=acc_delta)
    xp.add(acc_delta, b, out=acc_delta)
    xp.add(p, xp.multiply(delta, -lr, out=delta), out=p)


def rprop_update_(p, g, prev, step_size, *, etaminus, etaplus, step_size_min, step_size_max,
                  maximize=False, tmp=None):
    """Rprop (Riedmiller & Braun 1993, the variant without weight backtracking), in place.

    d = ±g;  s = sign(d·prev);  η ← clamp(η·(η₊ if s > 0, η₋ if s < 0, 1 if s = 0), Γmin, Γmax);
    d ← 0 where s < 0 (the sign flipped: skip this step);  p ← p − sign(d)·η;  prev ← d.
    ``prev`` is the previous step's (masked) gradient, ``step_size`` the per-element η.
    """
    xp = get_array_module(p)
    a, b = _scratch(p, tmp)
    d = effective_grad(p, g, 0.0, maximize, out=a)
    s = xp.sign(xp.multiply(d, prev, out=b), out=b)
    flipped = s < 0
    xp.copyto(s, etaplus, where=s > 0)  # a NaN product stays NaN, as in PyTorch
    xp.copyto(s, etaminus, where=flipped)
    xp.copyto(s, 1.0, where=s == 0)
    xp.multiply(step_size, s, out=step_size)
    xp.clip(step_size, step_size_min, step_size_max, out=step_size)
    xp.copyto(prev, d)
    xp.copyto(prev, 0.0, where=flipped)
    upd = xp.sign(prev, out=b)
    xp.multiply(upd, step_size, out=upd)
    xp.subtract(p, upd, out=p)


def asgd_update_(p, g, ax, *, eta, mu, lambd, weight_decay=0.0, maximize=False, tmp=None):
    """Averaged SGD (Polyak & Juditsky 1992; Bottou 2012's schedule), in place.

    d = ±g + wd·p;  p ← p·(1 − λ·η);  p ← p − η·d;  ax ← p if μ = 1 else ax + μ·(p − ax).
    ``eta`` and ``mu`` are this step's η and μ (the optimizer updates them afterwards).
    """
    xp = get_array_module(p)
    a, b = _scratch(p, tmp)
    d = effective_grad(p, g, weight_decay, maximize, out=a)
    xp.multiply(p, 1.0 - lambd * eta, out=p)
    xp.add(p, xp.multiply(d, -eta, out=b), out=p)
    if mu != 1:
        avg = xp.subtract(p, ax, out=b)
        xp.multiply(avg, mu, out=avg)
        xp.add(ax, avg, out=ax)
    else:
        xp.copyto(ax, p)
