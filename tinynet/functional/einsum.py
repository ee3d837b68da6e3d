"""``einsum``: sums of products named by index letters, e.g. ``einsum("bhtd,bhsd->bhts", q, k)``.

For z = einsum("A,B->Z", x, y) the gradient of x is itself an einsum: the
upstream gradient g (indexed Z) times the other operands, summed down to x's
letters A,

    dL/dx = einsum("Z,B->A", g, y),

except that a letter found only in A (summed away by the forward) reappears in
dL/dx by broadcasting: z does not depend on where along it x's value sits.
Each operand's letters must be distinct (no diagonals like "ii") and a letter
must have one size everywhere; ``...`` is not supported (spell the dims out).
"""
from __future__ import annotations

from .. import amp, backend
from ..autograd import Function
from ..tensor import Tensor
from ._util import binary_arrays
from .shape import broadcast_to, reshape


def _parse(spec: str, shapes):
    """(input letter strings, output letters) of ``spec``, checked against the shapes."""
    spec = spec.replace(" ", "")
    if "." in spec:
        raise ValueError(f"einsum: '...' is not supported in {spec!r}; name every dim")
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


def einsum(spec: str, *operands):
    """Einstein summation over tensors (PyTorch's ``torch.einsum``, without ``...``).

    ``einsum("ij,jk->ik", a, b)`` is ``a @ b``; letters missing from the output
    are summed; without ``->`` the output is the letters used once, sorted.
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
    ins, out = _parse(spec, [t.shape for t in ts])
    return Einsum.apply(*ts, ins=ins, out=out)
