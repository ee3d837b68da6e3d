"""Fused CUDA kernels for the optimizer updates (CuPy ElementwiseKernel).

On the GPU the ufunc sequence of :mod:`tinynet.optim._kernels` launches about
ten kernels per parameter, each a full pass over memory; these do the whole
update in ONE launch that reads p, g and the state once and writes them once.
Their NumPy twins are the functions in ``_kernels.py``; tests/optim check that
both agree on a GPU. Arithmetic is in float32 for float16/float32 storage and
in float64 for float64 storage.

The kernels are compiled on first use from the array module passed in, so
this file imports no GPU library itself.
"""
from __future__ import annotations

import numpy as np

from ..functional._cuda import _kernel


_SGD = ("sgd",
        "T g, {S} lr, {S} momentum, {S} dampening, {S} wd, int32 nesterov, "
        "int32 maximize, int32 new_buf, int32 has_buf",
        "T p, T buf",
        """
        {C} d = maximize ? -({C})g : ({C})g;
        d += wd * ({C})p;
        {C} step = d;
        if (has_buf) {{
            {C} b = new_buf ? d : momentum * ({C})buf + (1 - dampening) * d;
            buf = (T)b;
            step = nesterov ? d + momentum * b : b;
        }}
        p = (T)(({C})p - lr * step);
        """)

_ADAM = ("adam",
         "T g, {S} lr, {S} beta1, {S} beta2, {S} eps, {S} wd, "
         "{S} step_size, {S} bc2_sqrt, int32 decoupled, int32 maximize",
         "T p, T m, T v",
         """
         {C} pf = ({C})p;
         {C} d = maximize ? -({C})g : ({C})g;
         if (decoupled) {{ pf *= 1 - lr * wd; }} else {{ d += wd * pf; }}
         {C} mf = ({C})m + (1 - beta1) * (d - ({C})m);
         {C} vf = beta2 * ({C})v + (1 - beta2) * d * d;
         m = (T)mf;
         v = (T)vf;
         p = (T)(pf - step_size * mf / ({sqrt}(vf) / bc2_sqrt + eps));
         """)


def _launch(xp, spec, p, *args):
    """Compile (once per precision) and launch an update kernel; scalars go in that precision."""
    name, in_params, out_params, body = spec
    wide = p.dtype == np.float64
    C, S, cast = ("double", "float64", np.float64) if wide else ("float", "float32", np.float32)
    kernel = _kernel(xp, f"{name}_{C}", in_params.format(S=S), out_params,
                     body.format(C=C, sqrt="sqrt" if wide else "sqrtf"))
    kernel(*[cast(a) if isinstance(a, float) else a for a in args])


def sgd_update_(xp, p, g, buf, *, lr, momentum, dampening, weight_decay, nesterov, maximize,
                new_buf):
    """One-launch SGD (momentum, dampening, Nesterov, weight decay) on the GPU."""
    has_buf = buf is not None
    if buf is None:
        buf = p  # unused by the kernel when has_buf is 0
    _launch(xp, _SGD, p, g, float(lr), float(momentum), float(dampening), float(weight_decay),
            np.int32(nesterov), np.int32(maximize), np.int32(new_buf), np.int32(has_buf), p, buf)


def adam_update_(xp, p, g, m, v, step, lr, beta1, beta2, eps, weight_decay, decoupled, maximize):
    """One-launch Adam/AdamW (no amsgrad) on the GPU."""
    step_size = lr / (1.0 - beta1 ** step)
    bc2_sqrt = (1.0 - beta2 ** step) ** 0.5
    _launch(xp, _ADAM, p, g, float(lr), float(beta1), float(beta2), float(eps),
            float(weight_decay), float(step_size), float(bc2_sqrt), np.int32(decoupled),
            np.int32(maximize), p, m, v)
