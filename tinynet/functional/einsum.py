"""``einsum``: sums of products named by index letters, e.g. ``einsum("bhtd,bhsd->bhts", q, k)``.

For z = einsum("A,B->Z", x, y) the gradient of x is itself an einsum: the
upstream gradient g (indexed Z) times the other operands, summed down to x's
letters A,

    dL/dx = einsum("Z,B->A", g, y),

except that a letter found only in A (summed away by the forward) reappears in
dL/dx by broadcasting: z does not depend on where along it x's value sits.
Each operand's letters must be distinct (no diagonals like "ii") and a letter
must have one size everywhere. ``...`` stands for an operand's unnamed leading
dims; they broadcast against the other operands' as in ``torch.einsum`` (each
gets a letter the spec does not use, and a size-1 dim becomes a broadcast view).
"""
from __future__ import annotations

import string

from .. import amp, backend
from ..autograd import Function
from ..tensor import Tensor
from ._util import binary_arrays
from .shape import broadcast_to, reshape


def _parse(spec: str, shapes):
    """(input letter strings, output letters) of ``spec``, checked against the shapes."""
    lhs, arrow, out = spec.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ValueError(f"einsum: {spec!r} names {len(ins)} operands, got {len(shapes)}")
    letters = "".join(ins)
    if not arrow:  # implicit output: the letters used once, in alphabetical order
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    sizes = {}
    for sub, shape in zip(ins, shapes):
        if not sub.isalpha() and sub:
            raise ValueError(f"einsum: subscripts must be letters, got {sub!r} in {spec!r}")
        if len(set(sub)) != len(sub):
            raise ValueError(f"einsum: repeated letter in {sub!r} ({spec!r}); diagonals are "
                             "not supported")
        if len(sub) != len(shape):
            raise ValueError(f"einsum: {sub!r} names {len(sub)} dims for an operand of shape "
                             f"{tuple(shape)}")
        for c, n in zip(sub, shape):
            if sizes.setdefault(c, n) != n:
                raise ValueError(f"einsum: letter {c!r} has sizes {sizes[c]} and {n} in {spec!r} "
                                 f"(shapes {[tuple(s) for s in shapes]})")
    if len(set(out)) != len(out) or any(c not in sizes for c in out):
        raise ValueError(f"einsum: bad output {out!r} in {spec!r}")
    return ins, out


class Einsum(Function):
    """z = einsum(spec, *xs); each operand's gradient is an einsum (module docstring)."""

    def forward(self, *xs, ins, out):
        self.ins, self.out = ins, out
        xp = backend.get_array_module(xs[0])
        return xp.asarray(xp.einsum(",".join(ins) + "->" + out, *xs, optimize=len(xs) > 2))

    def backward(self, g):
        grads = []
        for i, (x, sub) in enumerate(zip(self.inputs, self.ins)):
            if not self.needs_input_grad[i]:
                grads.append(None)
                continue
            others = [(s, t) for j, (s, t) in enumerate(zip(self.ins, self.inputs)) if j != i]
            seen = set(self.out).union(*[set(s) for s, _ in others])
            kept = "".join(c for c in sub if c in seen)
            gx = Einsum.apply(g, *[t for _, t in others], ins=[self.out] + [s for s, _ in others],
                              out=kept)
            if kept != sub:  # letters only x had: the gradient is the same all along them
                gx = broadcast_to(reshape(gx, tuple(n if c in kept else 1
                                                   for c, n in zip(sub, x.shape))), x.shape)
            grads.append(gx)
        return tuple(grads)


def _expand_ellipsis(spec: str, ts):
    """``spec`` with each ``...`` spelled out in unused letters, and the operands broadcast
    along those dims (``"...ij,jk->...ik"`` on (5, 2, 3) and (3, 4): ``"Aij,jk->Aik"``)."""
    lhs, arrow, out = spec.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(ts):
        raise ValueError(f"einsum: {spec!r} names {len(ins)} operands, got {len(ts)}")
    counts = []
    for sub, t in zip(ins, ts):
        named = sub.replace("...", "", 1)
        if "." in named:
            raise ValueError(f"einsum: a stray '.' in {sub!r} ({spec!r}); '...' may appear "
                             "once per operand")
        counts.append(t.ndim - len(named) if "..." in sub else 0)
        if counts[-1] < 0:
            raise ValueError(f"einsum: {sub!r} names {len(named)} dims for an operand of shape "
                             f"{tuple(t.shape)}")
    free = [c for c in string.ascii_letters if c not in spec]
    n = max(counts)
    if n > len(free):
        raise ValueError(f"einsum: '...' covers {n} dims in {spec!r}; too many to name")
    ell = "".join(free[:n])                               # right-aligned, as broadcasting
    sizes = {}
    for sub, t, k in zip(ins, ts, counts):
        dims = t.shape[sub.index("..."):][:k] if k else ()
        for c, size in zip(ell[n - k:], dims):
            if sizes.get(c, 1) not in (1, size) and size != 1:
                raise ValueError(f"einsum: the '...' dims of {spec!r} do not broadcast "
                                 f"(shapes {[tuple(t.shape) for t in ts]})")
            sizes[c] = max(sizes.get(c, 1), size)
    new_ins, new_ts = [], []
    for sub, t, k in zip(ins, ts, counts):
        at = sub.find("...")
        if at >= 0:
            sub = sub[:at] + ell[n - k:] + sub[at + 3:]
            shape = tuple(sizes.get(c, size) if c in ell else size for c, size in zip(sub, t.shape))
            if shape != tuple(t.shape):
                t = broadcast_to(t, shape)                # a view; its backward sums
        new_ins.append(sub)
        new_ts.append(t)
    if arrow:
        if out.count("...") > 1 or "." in out.replace("...", "", 1):
            raise ValueError(f"einsum: bad output {out!r} in {spec!r}")
        out = out.replace("...", ell)
    else:  # implicit output: the '...' dims, then the letters used once, sorted
        letters = "".join(new_ins)
        out = ell + "".join(sorted(c for c in set(letters) - set(ell) if letters.count(c) == 1))
    return ",".join(new_ins) + "->" + out, new_ts


def einsum(spec: str, *operands):
    """Einstein summation over tensors (PyTorch's ``torch.einsum``).

    ``einsum("ij,jk->ik", a, b)`` is ``a @ b``; letters missing from the output
    are summed; without ``->`` the output is the letters used once, sorted.
    ``...`` names leading dims that broadcast: ``einsum("...ij,...jk->...ik", a, b)``
    is a batched ``a @ b``.
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum: no operands")
    ts = [t if isinstance(t, Tensor) else Tensor(t) for t in operands]
    ts = list(amp.cast_inputs("einsum", *ts))
    for t in ts[1:]:
        binary_arrays(ts[0].data, t.data, "einsum")   # one device; float dtypes must agree
    floats = [t.dtype for t in ts if t.dtype.kind == "f"]
    if floats:   # integer operands join the float ones' dtype (never float64 by surprise)
        ts = [t if t.dtype.kind == "f" else t.to(dtype=floats[0]) for t in ts]
    spec = spec.replace(" ", "")
    if "." in spec:
        spec, ts = _expand_ellipsis(spec, ts)
    ins, out = _parse(spec, [t.shape for t in ts])
    return Einsum.apply(*ts, ins=ins, out=out)
