"""Embedding table: a learnable (num_embeddings, embedding_dim) lookup."""
from __future__ import annotations

from .. import creation
from ..autograd import no_grad
from ..functional.embedding import embedding
from . import init
from .module import Module
from .parameter import Parameter


class Embedding(Module):
    """ids (*) int -> weight[ids] (*, embedding_dim).

    weight ~ N(0, 1) like PyTorch; the ``padding_idx`` row starts at zero and
    never receives a gradient.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None,
                 device=None, dtype=None, _weight=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} out of range for "
                                 f"{self.num_embeddings} embeddings")
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        if _weight is not None:
            if tuple(_weight.shape) != (self.num_embeddings, self.embedding_dim):
                raise ValueError(f"Embedding: _weight of shape {tuple(_weight.shape)} does not "
                                 f"match ({self.num_embeddings}, {self.embedding_dim})")
            self.weight = Parameter(_weight)
        else:
            self.weight = Parameter(creation.empty(self.num_embeddings, self.embedding_dim,
                                                   dtype=dtype, device=device))
            self.reset_parameters()

    def reset_parameters(self) -> None:
        """weight ~ N(0, 1), padding row zeroed."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx=None):
        """An Embedding whose weight is (a view of) the 2-D tensor ``embeddings``."""
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: expected a 2-D tensor, got shape "
                             f"{tuple(embeddings.shape)}")
        emb = cls(embeddings.shape[0], embeddings.shape[1], padding_idx=padding_idx,
                  _weight=embeddings.detach())
        emb.weight.requires_grad_(not freeze)
        return emb

    def forward(self, ids):
        return embedding(ids, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")
