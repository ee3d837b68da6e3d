"""LoRA: low-rank adapters on frozen Linear layers (Hu et al., 2021).

A LoRALinear computes

    y = x Wᵀ + b + s · (dropout(x) Aᵀ) Bᵀ,     A: (r, in), B: (out, r), s = alpha / r

with W, b frozen and only A, B trained. B starts at zero, so the adapted
model starts exactly equal to the base model. ``merge()`` folds the adapter
into the weight, W ← W + s B A, so inference costs nothing extra.

LoRALinear keeps the base layer's ``weight``/``bias`` names (``c_attn.weight``)
and adds ``lora_A``/``lora_B`` beside them, so base checkpoints still load
into an adapted model and adapter state dicts stay small. A state dict always
holds the unmerged W (merging is an inference-time shortcut, not part of the
saved state), so a merged model's state dict loads into an unmerged one and
back without applying the adapter twice.
"""
from __future__ import annotations

import math

from .. import backend, creation
from ..autograd import no_grad
from ..functional.dropout import dropout as _dropout
from ..functional.linalg import linear
from . import init
from .linear import Linear
from .module import Module, StateDictError
from .parameter import Parameter
from ..tensor import Tensor


class LoRALinear(Linear):
    """A Linear layer plus a trainable rank-``rank`` update scaled by alpha / rank.

    Build with :meth:`from_linear` (shares the base layer's weight and bias)
    or like a Linear: ``LoRALinear(in_features, out_features, rank=8, alpha=16)``.
    """

    _optional_state_keys = ("lora_A", "lora_B")

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rank: int = 8,
                 alpha: float = 16.0, dropout: float = 0.0, device=None, dtype=None):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self._add_adapter(rank, alpha, dropout)

    @classmethod
    def from_linear(cls, base: Linear, rank: int = 8, alpha: float = 16.0,
                    dropout: float = 0.0) -> "LoRALinear":
        """Wrap an existing Linear: the same weight/bias Parameters, plus new adapters."""
        self = cls.__new__(cls)
        Module.__init__(self)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = base.weight
        if base.bias is not None:
            self.bias = base.bias
        else:
            self.register_parameter("bias", None)
        self.train(base.training)
        self._add_adapter(rank, alpha, dropout)
        return self

    def _add_adapter(self, rank, alpha, dropout):
        _check_adapter(rank, dropout, "LoRALinear")
        self.rank, self.alpha, self.lora_dropout = int(rank), float(alpha), float(dropout)
        self.scaling = self.alpha / self.rank
        w = self.weight
        self.lora_A = Parameter(creation.empty(self.rank, self.in_features, dtype=w.dtype,
                                               device=w.device))
        self.lora_B = Parameter(creation.zeros(self.out_features, self.rank, dtype=w.dtype,
                                               device=w.device))
        init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.merged = False

    def forward(self, x):
        y = linear(x, self.weight, self.bias)                 # (..., out)
        if self.merged:
            return y
        h = _dropout(x, self.lora_dropout, self.training)     # (..., in)
        h = linear(linear(h, self.lora_A), self.lora_B)       # (..., r) -> (..., out)
        return y + h * self.scaling

    def delta_weight(self):
        """The adapter's weight update s · B A, (out, in) (a raw array)."""
        return (self.lora_B.data @ self.lora_A.data) * self.weight.dtype.type(self.scaling)

    def merge(self) -> None:
        """W ← W + s B A; the forward then skips the adapter (idempotent)."""
        if not self.merged:
            with no_grad():
                self.weight.data += self.delta_weight()
            self.merged = True

    def unmerge(self) -> None:
        """Undo :meth:`merge`: W ← W - s B A."""
        if self.merged:
            with no_grad():
                self.weight.data -= self.delta_weight()
            self.merged = False

    # ---- state dict: W, A, B unmerged whether or not this layer is merged
    def _own_state(self, keep_vars=False):
        for name, t in super()._own_state(keep_vars):
            if name == "weight" and self.merged and not keep_vars:
                t = Tensor._make(self.weight.data - self.delta_weight(), False)   # W
            yield name, t

    def _load_checks(self, state_dict, prefix, missing, mismatched, consumed, pending):
        start = len(pending)
        super()._load_checks(state_dict, prefix, missing, mismatched, consumed, pending)
        if not self.merged or len(pending) == start:
            return
        # a merged layer keeps W + s B A in its weight: rebuild it from the loaded
        # W, A, B (each from the dict if there, else this layer's current one)
        new = {name: value for _, name, _, value in pending[start:]}
        current = dict(super()._own_state())
        current["weight"] = Tensor._make(self.weight.data - self.delta_weight(), False)
        w, a, b = (v.data if isinstance(v, Tensor) else v
                   for v in (new.get(k, current[k]) for k in ("weight", "lora_A", "lora_B")))
        dev = backend.device_of(w)          # on W's own device (a GPU stays a GPU for assign=True)
        w, a, b = (backend.to_device(v, dev) for v in (w, a, b))
        merged = w + (b @ a) * self.scaling                   # (out, in)
        pending[start:] = [entry for entry in pending[start:] if entry[1] != "weight"]
        pending.append((self, "weight", self.weight, merged.astype(w.dtype, copy=False)))

    def to_linear(self) -> Linear:
        """A plain Linear with the merged weight (shares the Parameters)."""
        self.merge()
        lin = Linear.__new__(Linear)
        Module.__init__(lin)
        lin.in_features, lin.out_features = self.in_features, self.out_features
        lin.weight = self.weight
        if self.bias is not None:
            lin.bias = self.bias
        else:
            lin.register_parameter("bias", None)
        lin.train(self.training)
        return lin

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", rank={self.rank}, alpha={self.alpha}, "
                f"dropout={self.lora_dropout}, merged={self.merged}")


def _matches(name: str, targets) -> bool:
    return any(name == t or name.endswith("." + t) for t in targets)


def _check_adapter(rank, dropout, op) -> None:
    if rank < 1:
        raise ValueError(f"{op}: rank must be >= 1, got {rank}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"{op}: dropout must be in [0, 1), got {dropout}")


def apply_lora(model: Module, target_modules=("c_attn",), rank: int = 8, alpha: float = 16.0,
               dropout: float = 0.0, freeze: bool = True) -> Module:
    """Replace each Linear whose dotted name ends with one of ``target_modules`` by a LoRALinear.

    With ``freeze`` every parameter but the adapters (these and any added
    before) stops requiring grad, so only adapters train. Returns the model
    (changed in place). Raises ValueError if no Linear matches, or if a matching
    layer's weight is shared with another module (a tied GPT head: merging the
    adapter would change the embedding too).
    """
    _check_adapter(rank, dropout, "apply_lora")   # before anything is frozen or replaced
    if isinstance(target_modules, str):
        target_modules = (target_modules,)
    linears = [(name, m) for name, m in model.named_modules()
               if isinstance(m, Linear) and not isinstance(m, LoRALinear)]
    found = [(name, m) for name, m in linears if _matches(name, target_modules)]
    if not found:
        adapted = [name for name, _ in lora_layers(model) if _matches(name, target_modules)]
        names = sorted({name.rpartition(".")[2] for name, _ in linears})
        raise ValueError(f"apply_lora: no Linear layer matches {tuple(target_modules)} in "
                         f"{type(model).__name__}"
                         + (f" (already adapted: {adapted})" if adapted else
                            f" (its Linear layers end with: {names})"))
    owners: dict = {}   # id(parameter) -> every name it is registered under
    for pname, p in model.named_parameters(remove_duplicate=False):
        owners.setdefault(id(p), []).append(pname)
    for name, lin in found:
        if len(owners[id(lin.weight)]) > 1:
            raise ValueError(f"apply_lora: {name}.weight is shared with "
                             f"{[o for o in owners[id(lin.weight)] if o != name + '.weight']} "
                             "(tied weights); an adapter on it would change both when merged")
    if freeze:
        for pname, p in model.named_parameters():
            if not pname.endswith(("lora_A", "lora_B")):
                p.requires_grad_(False)
    for name, lin in found:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, LoRALinear.from_linear(lin, rank, alpha, dropout))
    return model


def lora_layers(model: Module):
    """Yield ``(name, LoRALinear)`` for every adapted layer."""
    for name, m in model.named_modules():
        if isinstance(m, LoRALinear):
            yield name, m


def merge_lora(model: Module, unload: bool = True) -> Module:
    """Fold every adapter into its base weight.

    ``unload=True`` also swaps each LoRALinear back for a plain Linear, so the
    state dict has the base model's names only. Returns the model.
    """
    for name, layer in list(lora_layers(model)):
        if unload:
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, layer.to_linear())
        else:
            layer.merge()
    return model


def lora_state_dict(model: Module) -> dict:
    """Only the adapter tensors: ``{"...c_attn.lora_A": (r, in), "...c_attn.lora_B": (out, r)}``."""
    return {k: v for k, v in model.state_dict().items()
            if k.endswith((".lora_A", ".lora_B")) or k in ("lora_A", "lora_B")}


def load_lora_state_dict(model: Module, state_dict) -> None:
    """Copy adapter tensors (from :func:`lora_state_dict`) into an adapted model.

    Every adapter of the model must be present and every key must name one;
    otherwise StateDictError lists the problems and nothing is copied.
    """
    own = lora_state_dict(model)
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    bad = [(k, tuple(own[k].shape), tuple(state_dict[k].shape)) for k in own
           if k in state_dict and tuple(own[k].shape) != tuple(state_dict[k].shape)]
    if missing or unexpected or bad:
        raise StateDictError(f"load_lora_state_dict: missing {missing}, unexpected {unexpected}, "
                             f"shape mismatches {bad}")
    model.load_state_dict(state_dict, strict=False)   # a merged layer is re-merged
