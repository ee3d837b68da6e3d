"""Embedding tables: a learnable (num_embeddings, embedding_dim) lookup (Embedding), and
sums, means or maxes of bags of its rows (EmbeddingBag)."""
from __future__ import annotations

from .. import creation
from ..autograd import no_grad
from ..functional.embedding import embedding, embedding_bag
from ..tensor_methods import int_sizes
from . import init
from .module import Module
from .parameter import Parameter


class Embedding(Module):
    """ids (*) int -> weight[ids] (*, embedding_dim).

    weight ~ N(0, 1) like PyTorch; the ``padding_idx`` row starts at zero and
    never receives a gradient. Arguments in PyTorch's order: ``max_norm``
    (rows looked up are renormalised in place to at most this ``norm_type``-norm
    at each forward), ``scale_grad_by_freq`` (gradients divided by each id's
    count in the batch), ``sparse`` (accepted and ignored: gradients are
    dense), ``_weight`` (use this table), ``_freeze`` (``requires_grad=False``).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None,
                 max_norm=None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight=None, _freeze: bool = False, device=None,
                 dtype=None):
        super().__init__()
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        _init_table(self, "Embedding", num_embeddings, embedding_dim, padding_idx, _weight,
                    device, dtype)
        if _freeze:
            self.weight.requires_grad_(False)

    def reset_parameters(self) -> None:
        """weight ~ N(0, 1), padding row zeroed."""
        _reset_table(self)

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx=None, max_norm=None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False):
        """An Embedding whose weight is (a view of) the 2-D tensor ``embeddings``
        (frozen unless ``freeze=False``; the ``padding_idx`` row is kept as given)."""
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: expected a 2-D tensor, got shape "
                             f"{tuple(embeddings.shape)}")
        emb = cls(embeddings.shape[0], embeddings.shape[1], padding_idx=padding_idx,
                  max_norm=max_norm, norm_type=norm_type,
                  scale_grad_by_freq=scale_grad_by_freq, sparse=sparse,
                  _weight=embeddings.detach())
        emb.weight.requires_grad_(not freeze)
        return emb

    def forward(self, ids):
        return embedding(ids, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                         self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse:
            s += ", sparse=True"
        return s


class EmbeddingBag(Module):
    """Sums, means or maxes of bags of embeddings (see ``F.embedding_bag``):
    input (B, N) int, or (P,) int with ``offsets`` (B,) -> (B, embedding_dim).

    weight (num_embeddings, embedding_dim) ~ N(0, 1) like PyTorch; the ``padding_idx``
    row starts at zero, never receives a gradient and is left out of every bag.
    ``sparse`` is accepted and ignored; ``scale_grad_by_freq=True`` raises at forward.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm=None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean",
                 sparse: bool = False, _weight=None, include_last_offset: bool = False,
                 padding_idx=None, device=None, dtype=None):
        super().__init__()
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"EmbeddingBag: mode must be 'sum', 'mean' or 'max', got {mode!r}")
        self.mode = mode
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        self.include_last_offset = include_last_offset
        _init_table(self, "EmbeddingBag", num_embeddings, embedding_dim, padding_idx, _weight,
                    device, dtype)

    def reset_parameters(self) -> None:
        """weight ~ N(0, 1), padding row zeroed."""
        _reset_table(self)

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, max_norm=None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        mode: str = "mean", sparse: bool = False,
                        include_last_offset: bool = False, padding_idx=None):
        """An EmbeddingBag whose weight is (a view of) the 2-D tensor ``embeddings``
        (frozen unless ``freeze=False``)."""
        if embeddings.ndim != 2:
            raise ValueError(f"EmbeddingBag.from_pretrained: expected a 2-D tensor, got shape "
                             f"{tuple(embeddings.shape)}")
        bag = cls(embeddings.shape[0], embeddings.shape[1], max_norm=max_norm,
                  norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq, mode=mode,
                  sparse=sparse, _weight=embeddings.detach(),
                  include_last_offset=include_last_offset, padding_idx=padding_idx)
        bag.weight.requires_grad_(not freeze)
        return bag

    def forward(self, input, offsets=None, per_sample_weights=None):
        return embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type,
                             self.scale_grad_by_freq, self.mode, self.sparse,
                             per_sample_weights, self.include_last_offset, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        s += f", mode='{self.mode}'"
        if self.include_last_offset:
            s += ", include_last_offset=True"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")


def _init_table(module, kind, num_embeddings, embedding_dim, padding_idx, _weight, device,
                dtype) -> None:
    """Set up an embedding table on ``module``: sizes, ``padding_idx`` (negative counts from
    the end) and a (num_embeddings, embedding_dim) ``weight``, ``_weight`` or N(0, 1)."""
    module.num_embeddings, module.embedding_dim = int_sizes(
        (num_embeddings, embedding_dim), kind, "num_embeddings and embedding_dim")
    if padding_idx is not None:
        if not -module.num_embeddings <= padding_idx < module.num_embeddings:
            raise ValueError(f"{kind}: padding_idx {padding_idx} out of range for "
                             f"{module.num_embeddings} embeddings")
        padding_idx %= module.num_embeddings
    module.padding_idx = padding_idx
    if _weight is not None:
        if tuple(_weight.shape) != (module.num_embeddings, module.embedding_dim):
            raise ValueError(f"{kind}: _weight of shape {tuple(_weight.shape)} does not match "
                             f"({module.num_embeddings}, {module.embedding_dim})")
        module.weight = Parameter(_weight)
    else:
        module.weight = Parameter(creation.empty(module.num_embeddings, module.embedding_dim,
                                                 dtype=dtype, device=device))
        module.reset_parameters()


def _reset_table(module) -> None:
    """weight ~ N(0, 1) like PyTorch, the padding row zeroed."""
    init.normal_(module.weight)
    if module.padding_idx is not None:
        with no_grad():
            module.weight.data[module.padding_idx] = 0
