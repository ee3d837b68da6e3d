"""Fused CUDA kernels for the optimizer updates (CuPy ElementwiseKernel).

On the GPU the ufunc sequence of :mod:`tinynet.optim._kernels` launches about
ten kernels per parameter, each a full pass over memory; these do the whole
update in ONE launch that reads p, g and the state once and writes them once.
Their NumPy twins are the functions in ``_kernels.py``; tests/optim check that
both agree on a GPU. Arithmetic is in float32 whatever the storage dtype.

The kernels are compiled on first use from the array module passed in, so
this file imports no GPU library itself.
"""
from __future__ import annotations

import numpy as np

_compiled: dict = {}


def _kernel(xp, name, in_params, out_params, body):
    key = (name, id(xp))
    if key not in _compiled:
        _compiled[key] = xp.ElementwiseKernel(in_params, out_params, body, f"tinynet_{name}")
    return _compiled[key]


_SGD = ("sgd",
        "T g, float32 lr, float32 momentum, float32 dampening, float32 wd, int32 nesterov, "
        "int32 maximize, int32 new_buf, int32 has_buf",
        "T p, T buf",
        """
        float d = maximize ? -(float)g : (float)g;
        d += wd * (float)p;
        float step = d;
        if (has_buf) {
            float b = new_buf ? d : momentum * (float)buf + (1.0f - dampening) * d;
            buf = (T)b;
            step = nesterov ? d + momentum * b : b;
        }
        p = (T)((float)p - lr * step);
        """)

_ADAM = ("adam",
         "T g, float32 lr, float32 beta1, float32 beta2, float32 eps, float32 wd, "
         "float32 step_size, float32 bc2_sqrt, int32 decoupled, int32 maximize",
         "T p, T m, T v",
         """
         float pf = (float)p;
         float d = maximize ? -(float)g : (float)g;
         if (decoupled) { pf *= 1.0f - lr * wd; } else { d += wd * pf; }
         float mf = (float)m + (1.0f - beta1) * (d - (float)m);
         float vf = beta2 * (float)v + (1.0f - beta2) * d * d;
         m = (T)mf;
         v = (T)vf;
         p = (T)(pf - step_size * mf / (sqrtf(vf) / bc2_sqrt + eps));
         """)


def sgd_update_(xp, p, g, buf, *, lr, momentum, dampening, weight_decay, nesterov, maximize,
                new_buf):
    """One-launch SGD (momentum, dampening, Nesterov, weight decay) on the GPU."""
    f32 = np.float32
    has_buf = buf is not None
    if buf is None:
        buf = p  # unused by the kernel when has_buf is 0
    _kernel(xp, *_SGD)(g, f32(lr), f32(momentum), f32(dampening), f32(weight_decay),
                       np.int32(nesterov), np.int32(maximize), np.int32(new_buf),
                       np.int32(has_buf), p, buf)


def adam_update_(xp, p, g, m, v, step, lr, beta1, beta2, eps, weight_decay, decoupled, maximize):
    """One-launch Adam/AdamW (no amsgrad) on the GPU."""
    f32 = np.float32
    step_size = lr / (1.0 - beta1 ** step)
    bc2_sqrt = (1.0 - beta2 ** step) ** 0.5
    _kernel(xp, *_ADAM)(g, f32(lr), f32(beta1), f32(beta2), f32(eps), f32(weight_decay),
                        f32(step_size), f32(bc2_sqrt), np.int32(decoupled), np.int32(maximize),
                        p, m, v)
