"""Containers and shape-only modules: Sequential, ModuleList, ModuleDict, ParameterList,
ParameterDict, Identity, Flatten, Unflatten."""
from __future__ import annotations

import operator
from collections import OrderedDict

from ..functional import flatten, unflatten
from ..tensor import Tensor
from .module import Module
from .parameter import Parameter


class Sequential(Module):
    """Chain of modules applied in order: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Built from modules (named "0", "1", ...) or from one OrderedDict of
    name -> module. Supports ``len``, iteration, integer indexing, slicing
    (a new Sequential sharing the modules), ``append``, ``insert``, ``extend``,
    ``pop``, ``+`` and ``+=`` (with another Sequential).

    Difference from PyTorch: deleting from a Sequential built from named
    modules keeps the other names (PyTorch renames them "0", "1", ...).
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], (OrderedDict, dict)):
            for name, mod in args[0].items():
                self.add_module(name, mod)
        else:
            for i, mod in enumerate(args):
                self.add_module(str(i), mod)

    def _key(self, idx):
        n = len(self._modules)
        idx = operator.index(idx)
        if not -n <= idx < n:
            raise IndexError(f"{type(self).__name__}: index {idx} out of range for length {n}")
        return list(self._modules)[idx % n]

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return self._modules[self._key(idx)]

    def __setitem__(self, idx, module):
        self.add_module(self._key(idx), module)

    def __delitem__(self, idx):
        keys = list(self._modules)[idx] if isinstance(idx, slice) else [self._key(idx)]
        for k in keys:
            del self._modules[k]
        # renumber so indices stay 0..n-1 (only when all names are numeric)
        if all(k.isdigit() for k in self._modules):
            items = list(self._modules.values())
            self._modules.clear()
            for i, m in enumerate(items):
                self._modules[str(i)] = m

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module) -> "Sequential":
        """Add ``module`` at the end."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules) -> "Sequential":
        """Append each module of the iterable ``modules``."""
        for m in modules:
            self.append(m)
        return self

    def pop(self, idx):
        """Remove and return the module at position ``idx``."""
        module = self[idx]
        del self[idx]
        return module

    def __add__(self, other) -> "Sequential":
        """A new Sequential: this one's modules, then ``other``'s (shared, renumbered)."""
        if not isinstance(other, Sequential):
            raise ValueError(f"Sequential + {type(other).__name__}: the + operator only "
                             "supports another Sequential")
        return Sequential(*self, *other)

    def __iadd__(self, other) -> "Sequential":
        """Append ``other``'s modules (another Sequential) in place."""
        if not isinstance(other, Sequential):
            raise ValueError(f"Sequential += {type(other).__name__}: the += operator only "
                             "supports another Sequential")
        return self.extend(list(other))

    def insert(self, index: int, module) -> "Sequential":
        """Insert ``module`` before position ``index`` (renumbers the names)."""
        items = list(self._modules.values())
        n = len(items)
        if not -n <= index <= n:
            raise IndexError(f"{type(self).__name__}.insert: index {index} out of range for length {n}")
        items.insert(index, module)     # list semantics: -1 is before the last, as PyTorch
        self._modules.clear()
        for i, m in enumerate(items):
            self.add_module(str(i), m)
        return self

    def forward(self, x):
        for mod in self._modules.values():
            x = mod(x)
        return x


def _list_key(idx, n: int, owner: str) -> str:
    """The registered name ("0", "1", ...) of list position ``idx`` (negatives count from the end)."""
    idx = operator.index(idx)
    if not -n <= idx < n:
        raise IndexError(f"{owner}: index {idx} out of range for length {n}")
    return str(idx % n)


class ModuleList(Module):
    """A list of modules, registered so their parameters are found; it has no forward."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _key(self, idx):
        return _list_key(idx, len(self._modules), "ModuleList")

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return self._modules[self._key(idx)]

    def __setitem__(self, idx, module):
        self.add_module(self._key(idx), module)

    def __delitem__(self, idx):
        items = list(self._modules.values())
        if isinstance(idx, slice):
            del items[idx]
        else:
            del items[int(self._key(idx))]
        self._modules.clear()
        for i, m in enumerate(items):
            self._modules[str(i)] = m

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        return ModuleList(list(self) + list(other))

    def append(self, module) -> "ModuleList":
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules) -> "ModuleList":
        """Append each module of the iterable ``modules``."""
        if not hasattr(modules, "__iter__"):
            raise TypeError(f"ModuleList.extend should be called with an iterable, "
                            f"got {type(modules).__name__}")
        for m in modules:
            self.append(m)
        return self

    def pop(self, idx):
        """Remove and return the module at position ``idx`` (the rest are renumbered)."""
        module = self[idx]
        del self[idx]
        return module

    def insert(self, index: int, module) -> None:
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(items):
            self.add_module(str(i), m)

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward(); iterate over it instead")


class ParameterList(Module):
    """A list of Parameters, registered as ``"0"``, ``"1"``, ... so optimizers and
    ``state_dict`` find them; plain tensors are wrapped in ``Parameter``.

    Integer indexing and assignment, slicing (a new ParameterList sharing the
    Parameters), ``append``, ``extend`` and ``+=``, as in PyTorch.
    """

    def __init__(self, values=None):
        super().__init__()
        for v in values or ():
            self.append(v)

    def _key(self, idx):
        return _list_key(idx, len(self._parameters), "ParameterList")

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ParameterList(list(self._parameters.values())[idx])
        return self._parameters[self._key(idx)]

    def __setitem__(self, idx, value):
        self.register_parameter(self._key(idx), _as_parameter(value))

    def __iadd__(self, values) -> "ParameterList":
        return self.extend(values)

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def append(self, value) -> "ParameterList":
        self.register_parameter(str(len(self._parameters)), _as_parameter(value))
        return self

    def extend(self, values) -> "ParameterList":
        """Append each value of the iterable ``values`` (not a Tensor: that would add one
        parameter per row)."""
        if isinstance(values, Tensor) or not hasattr(values, "__iter__"):
            raise TypeError(f"ParameterList.extend should be called with an iterable of "
                            f"tensors, got {type(values).__name__}")
        for v in values:
            self.append(v)
        return self

    def extra_repr(self) -> str:
        return "\n".join(f"  ({i}): {_describe_parameter(p)}"
                         for i, p in enumerate(self._parameters.values()))


def _describe_parameter(p) -> str:
    """PyTorch's one-line summary in container reprs: ``Parameter containing: [float32 of
    size 2x3]`` (the device added when it is not the CPU)."""
    size = "x".join(str(n) for n in p.shape)
    device = f" ({p.device})" if str(p.device) != "cpu" else ""
    return f"Parameter containing: [{p.dtype} of size {size}{device}]"


def _as_parameter(value):
    return value if isinstance(value, Parameter) else Parameter(value)


class _NamedDict(Module):
    """The dict protocol (``len``, iteration over the names, ``in``, ``[]``, ``del``,
    ``keys``/``values``/``items``, ``get``, ``pop``, ``clear``) over one of Module's
    registries, named by ``_registry``; subclasses register values in ``__setitem__``."""

    _registry = "_modules"

    @property
    def _entries(self):
        return getattr(self, self._registry)

    def __getitem__(self, key):
        return self._entries[key]

    def __delitem__(self, key):
        del self._entries[key]

    def __len__(self):
        return len(self._entries)

    def __iter__(self):
        return iter(self._entries)

    def __contains__(self, key):
        return key in self._entries

    def keys(self):
        return self._entries.keys()

    def values(self):
        return self._entries.values()

    def items(self):
        return self._entries.items()

    def get(self, key, default=None):
        return self._entries.get(key, default)

    def pop(self, key):
        return self._entries.pop(key)

    def clear(self) -> None:
        self._entries.clear()

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward(); index it instead")


class ParameterDict(_NamedDict):
    """An ordered dict of name -> Parameter, registered under those names so optimizers
    and ``state_dict`` find them; plain tensors are wrapped in ``Parameter``.

    Built from a mapping (a plain dict in sorted key order, as PyTorch does) or an
    iterable of (name, value) pairs; the dict protocol of :class:`ModuleDict`.
    """

    _registry = "_parameters"

    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __setitem__(self, key, value):
        self.register_parameter(key, _as_parameter(value))

    def extra_repr(self) -> str:
        return "\n".join(f"  ({k}): {_describe_parameter(p)}"
                         for k, p in self._parameters.items())

    def update(self, parameters) -> None:
        """Add parameters from a mapping or an iterable of (name, value) pairs. As in
        PyTorch, a plain dict is added in sorted key order (an OrderedDict, a
        ParameterDict or a list of pairs in its own order)."""
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            items = parameters.items()
        elif hasattr(parameters, "items"):
            items = sorted(parameters.items())
        else:
            items = parameters
        for name, value in items:
            self[name] = value


class ModuleDict(_NamedDict):
    """An ordered dict of name -> module, registered as children; ``len``, iteration
    over the names, ``in``, ``keys``/``values``/``items``, ``get``, ``pop``,
    ``update`` and ``clear``."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def update(self, modules) -> None:
        """Add modules from a mapping or an iterable of (name, module) pairs."""
        items = modules.items() if hasattr(modules, "items") else modules
        for name, mod in items:
            self.add_module(name, mod)


class Identity(Module):
    """Returns its input unchanged (constructor arguments are ignored)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Flatten(Module):
    """Merge dims ``start_dim..end_dim`` into one: (N, C, H, W) -> (N, C·H·W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size``: (N, 12) -> (N, 3, 4) with dim=1, (3, 4)."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        return unflatten(x, self.dim, self.unflattened_size)

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
