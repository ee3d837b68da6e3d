"""Module: the base class of layers and models.

A Module owns three kinds of named state, registered by plain attribute
assignment in ``__init__``:

* parameters (``self.weight = nn.Parameter(...)``): learnable, in ``parameters()``;
* buffers (``self.register_buffer("running_mean", t)``): state that is saved
  but not learned;
* submodules (``self.fc = nn.Linear(...)``): children, whose state is named
  with dotted paths (``"fc.weight"``) like PyTorch.

Subclasses implement ``forward``; calling the module runs the forward
pre-hooks, ``forward`` and the forward hooks (and, when full backward hooks are
registered, routes its Tensor inputs and outputs through identity ops that
call them during backward).
"""
from __future__ import annotations

import itertools
from collections import OrderedDict, namedtuple

import numpy as np

from .. import backend
from ..autograd import Function, no_grad
from ..tensor import Tensor
from .parameter import Buffer, Parameter

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _wrapper_prefix_hint(missing, unexpected) -> str:
    """A line saying how to load a checkpoint whose every key carries a wrapper's prefix
    (DataParallel's ``module.``, torch.compile's ``_orig_mod.``), else ''."""
    for prefix in ("module.", "_orig_mod."):
        if missing and unexpected and all(k.startswith(prefix) for k in unexpected) \
                and set(missing) <= {k[len(prefix):] for k in unexpected}:
            return (f" its keys start with {prefix!r} (a wrapper's); load "
                    f"{{k.removeprefix({prefix!r}): v for k, v in state_dict.items()}}")
    return ""


class StateDictError(RuntimeError, ValueError):
    """load_state_dict found missing/unexpected keys or shape mismatches.

    Subclasses both RuntimeError (PyTorch's type) and ValueError (tinynet's
    type for bad values), so either ``except`` catches it.
    """


class RemovableHandle:
    """Returned by ``register_*_hook``; ``handle.remove()`` unregisters the hook.

    ``extra``: further dicts or sets keyed by the hook's id (e.g. which hooks take
    keyword arguments), cleared along with it.
    """

    _next_id = itertools.count()

    def __init__(self, hooks: dict, extra=()):
        self._hooks = hooks
        self._extra = tuple(extra)
        self.id = next(RemovableHandle._next_id)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)
        for store in self._extra:
            if isinstance(store, dict):
                store.pop(self.id, None)
            else:
                store.discard(self.id)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class _BackwardHookState:
    """One module call's hooks, and the output gradients once backward reaches them.

    ``n_inputs`` counts the Tensor arguments; only those that require grad
    (at ``input_slots`` among them) go through the graph, as in PyTorch, so an
    index or mask argument stays a plain constant inside ``forward``.
    """

    def __init__(self, module, hooks, n_inputs):
        self.module, self.hooks, self.n_inputs = module, hooks, n_inputs
        self.input_slots = ()
        self.grad_output = None

    def fire(self, grad_input):
        grad_input = tuple(grad_input)
        for hook in self.hooks:
            res = hook(self.module, grad_input, self.grad_output)
            if res is not None:
                res = tuple(res) if isinstance(res, (tuple, list)) else (res,)
                if len(res) != len(grad_input):
                    raise RuntimeError(
                        f"backward hook of {type(self.module).__name__} returned {len(res)} "
                        f"gradients for {len(grad_input)} inputs")
                grad_input = res
        return grad_input


class _BackwardHookInputs(Function):
    """Identity on a module's Tensor inputs that require grad; backward calls its full
    backward hooks with one gradient per Tensor argument (None for the others)."""

    uses_input_values = False

    def forward(self, *arrays, state):
        self.state = state
        return arrays if len(arrays) != 1 else arrays[0]

    def backward(self, *grads):
        slots = self.state.input_slots
        grad_input = [None] * self.state.n_inputs
        for slot, g, need in zip(slots, grads, self.needs_input_grad):
            grad_input[slot] = g if need else None
        grad_input = self.state.fire(grad_input)
        return tuple(grad_input[slot] for slot in slots)


class _BackwardHookOutputs(Function):
    """Identity on a module's outputs that require grad; backward keeps their gradients
    for the hooks (and calls the hooks itself when no input needs a gradient, as
    PyTorch does)."""

    uses_input_values = False

    def forward(self, *arrays, state, inputs_tracked, slots, n_outputs):
        self.state, self.inputs_tracked = state, inputs_tracked
        self.slots, self.n_outputs = slots, n_outputs
        return arrays if len(arrays) != 1 else arrays[0]

    def backward(self, *grads):
        grad_output = [None] * self.n_outputs
        for slot, g in zip(self.slots, grads):
            grad_output[slot] = g
        self.state.grad_output = tuple(grad_output)
        if not self.inputs_tracked:
            self.state.fire((None,) * self.state.n_inputs)
        return grads if len(grads) != 1 else grads[0]


def _parse_to_args(args, kwargs):
    """(device, dtype) from ``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or keywords.

    PyTorch's ``non_blocking`` and ``memory_format`` keywords are accepted and ignored
    (copies here are synchronous and every array is row-major).
    """
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"Module.to: unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if a is None:
            continue
        if isinstance(a, Tensor):  # to(other_tensor): its device and dtype
            device, dtype = a.device, a.dtype
            continue
        if isinstance(a, str):
            try:
                device = backend.normalize_device(a)
                continue
            except ValueError:
                pass
        try:
            dtype = np.dtype(a)
        except TypeError:
            raise TypeError(f"Module.to: cannot interpret {a!r} as a device or a dtype") from None
    if device is not None:
        device = backend.normalize_device(device)
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Module.to only accepts floating dtypes, got {dtype}")
    return device, dtype


def _addindent(s: str, spaces: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


class Module:
    """Base class of every layer and model (PyTorch's ``nn.Module`` semantics).

    Class attributes a subclass may set for ``load_state_dict``:

    * ``_optional_state_keys``: local names (e.g. ``"num_batches_tracked"``)
      that may be absent from a loaded state dict without counting as missing;
    * ``_ignored_state_keys``: local names accepted and dropped when present
      in a loaded state dict although the module has no such entry.
    """

    _optional_state_keys: tuple = ()
    _ignored_state_keys: tuple = ()

    def __init__(self):
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_hooks_with_kwargs"] = set()       # ids of hooks registered with_kwargs
        d["_forward_pre_hooks_with_kwargs"] = set()
        d["_backward_hooks"] = OrderedDict()

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    # ------------------------------------------------------------ calling and hooks
    def __call__(self, *args, **kwargs):
        pre_kw = self.__dict__.get("_forward_pre_hooks_with_kwargs", ())
        for hook_id, hook in list(self._forward_pre_hooks.items()):
            if hook_id in pre_kw:
                res = hook(self, args, kwargs)
                if res is not None:
                    if not (isinstance(res, tuple) and len(res) == 2):
                        raise RuntimeError(
                            f"forward pre-hook of {type(self).__name__} registered with_kwargs "
                            "must return None or a tuple of (new_args, new_kwargs), got "
                            f"{type(res).__name__}"
                            + (f" of length {len(res)}" if isinstance(res, tuple) else ""))
                    args, kwargs = res
            else:
                res = hook(self, args)
                if res is not None:
                    args = res if isinstance(res, tuple) else (res,)
        state = None
        if self.__dict__.get("_backward_hooks"):
            state, args = self._track_inputs(args)
        out = self.forward(*args, **kwargs)
        post_kw = self.__dict__.get("_forward_hooks_with_kwargs", ())
        for hook_id, hook in list(self._forward_hooks.items()):
            res = hook(self, args, kwargs, out) if hook_id in post_kw else hook(self, args, out)
            if res is not None:
                out = res
        if state is not None:
            out = self._track_outputs(out, state)
        return out

    def _track_inputs(self, args):
        """Route the Tensor arguments that require grad through :class:`_BackwardHookInputs`
        (full backward hooks)."""
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        state = _BackwardHookState(self, list(self._backward_hooks.values()), len(positions))
        state.input_slots = tuple(k for k, i in enumerate(positions) if args[i].requires_grad)
        state.inputs_tracked = bool(state.input_slots)
        if state.inputs_tracked:
            routed = [positions[k] for k in state.input_slots]
            tracked = _BackwardHookInputs.apply(*(args[i] for i in routed), state=state)
            tracked = tracked if isinstance(tracked, tuple) else (tracked,)
            args = list(args)
            for i, t in zip(routed, tracked):
                args[i] = t
            args = tuple(args)
        return state, args

    @staticmethod
    def _track_outputs(out, state):
        """Route the outputs that require grad (``out`` itself, or the items of a tuple,
        list or named tuple) through :class:`_BackwardHookOutputs`; the hooks get one
        ``grad_output`` entry per item, None for the others (a None, a dict...)."""
        outs = out if isinstance(out, (tuple, list)) else (out,)
        slots = tuple(i for i, o in enumerate(outs) if isinstance(o, Tensor) and o.requires_grad)
        state.grad_output = (None,) * len(outs)
        if not slots:
            return out
        tracked = _BackwardHookOutputs.apply(*(outs[i] for i in slots), state=state,
                                             inputs_tracked=state.inputs_tracked, slots=slots,
                                             n_outputs=len(outs))
        tracked = tracked if isinstance(tracked, tuple) else (tracked,)
        if not isinstance(out, (tuple, list)):
            return tracked[0]
        new = list(outs)
        for i, t in zip(slots, tracked):
            new[i] = t
        return type(out)(*new) if hasattr(out, "_fields") else type(out)(new)

    def _add_hook(self, hooks: dict, with_kwargs_ids: set, hook, prepend: bool,
                  with_kwargs: bool) -> RemovableHandle:
        handle = RemovableHandle(hooks, extra=(with_kwargs_ids,))
        hooks[handle.id] = hook
        if with_kwargs:
            with_kwargs_ids.add(handle.id)
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_pre_hook(self, hook, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args) -> None | new_args`` before each forward.

        ``args`` is the tuple of positional arguments; a returned non-tuple
        becomes the single argument. With ``with_kwargs=True`` the hook is
        ``hook(module, args, kwargs) -> None | (new_args, new_kwargs)``.
        ``prepend=True`` runs it before the hooks already registered.
        """
        d = self.__dict__
        return self._add_hook(self._forward_pre_hooks,
                              d.setdefault("_forward_pre_hooks_with_kwargs", set()), hook,
                              prepend, with_kwargs)

    def register_forward_hook(self, hook, *, prepend: bool = False,
                              with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output) -> None | new_output`` after each forward.

        With ``with_kwargs=True`` the hook is ``hook(module, args, kwargs,
        output)``. ``prepend=True`` runs it before the hooks already
        registered. For Grad-CAM style inspection, keep ``output`` and call
        ``output.register_hook`` on it to catch its gradient.
        """
        d = self.__dict__
        return self._add_hook(self._forward_hooks,
                              d.setdefault("_forward_hooks_with_kwargs", set()), hook, prepend,
                              with_kwargs)

    def register_full_backward_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output) -> None | new grad_input`` in backward.

        ``grad_input`` holds the gradients with respect to the Tensor positional
        arguments of ``forward`` (``None`` for those that need none),
        ``grad_output`` those with respect to its Tensor output(s), both
        tuples, as in PyTorch. A returned tuple replaces ``grad_input``. The
        hook runs once the inputs' gradients are known, or, when no input needs
        one, once the outputs' are. Only calls made after registering are
        hooked.
        """
        handle = RemovableHandle(self._backward_hooks)
        self._backward_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------ registration
    def _check_init(self, what):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"cannot assign {what} before Module.__init__() is called "
                               f"(call super().__init__() first in {type(self).__name__})")

    def __setattr__(self, name, value):
        d = self.__dict__
        params, buffers, modules = d.get("_parameters"), d.get("_buffers"), d.get("_modules")
        if isinstance(value, Parameter):
            self._check_init("parameters")
            self._remove_name(name, "_parameters")
            params[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter '{name}' "
                                "(nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            self._check_init("child modules")
            self._remove_name(name, "_modules")
            modules[name] = value
        elif modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module '{name}' "
                                "(nn.Module or None expected)")
            modules[name] = None
        elif isinstance(value, Buffer):
            self.register_buffer(name, value, persistent=value.persistent)
        elif buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer '{name}' "
                                "(Tensor or None expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _remove_name(self, name, keep=None):
        """Forget ``name`` everywhere except in store ``keep`` (so re-assignment keeps order)."""
        d = self.__dict__
        d.pop(name, None)
        for key in ("_parameters", "_buffers", "_modules"):
            if key != keep:
                d[key].pop(name, None)
        d["_non_persistent_buffers"].discard(name)

    def __getattr__(self, name):
        # only called when normal lookup fails; guard against a half-built module
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            store = d.get(key)
            if store is not None and name in store:
                return store[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if name in d.get(key, ()):
                del d[key][name]
                d["_non_persistent_buffers"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    def _check_name(self, name, kind, store):
        """``name`` must be a non-empty str without '.', and not already an attribute of
        another kind (PyTorch: KeyError "attribute 'x' already exists")."""
        if not isinstance(name, str):
            raise TypeError(f"{kind} name must be a str, got {type(name).__name__}")
        if name == "" or "." in name:
            raise KeyError(f"{kind} name can't be empty or contain '.', got {name!r}")
        if hasattr(self, name) and name not in self.__dict__[store]:
            raise KeyError(f"{type(self).__name__}: attribute '{name}' already exists "
                           f"(cannot register it as a {kind}; delete it first)")

    def register_parameter(self, name: str, param) -> None:
        """Add a parameter (``None`` registers an absent one, e.g. ``bias=False``)."""
        self._check_init("parameters")
        self._check_name(name, "parameter", "_parameters")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter('{name}'): expected nn.Parameter or None, "
                            f"got {type(param).__name__}")
        self._remove_name(name, "_parameters")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Add a buffer: state saved with the module but not learned (running stats, masks).

        ``persistent=False`` keeps it out of ``state_dict()``.
        """
        self._check_init("buffers")
        self._check_name(name, "buffer", "_buffers")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer('{name}'): expected a Tensor or None, "
                            f"got {type(tensor).__name__}")
        self._remove_name(name, "_buffers")
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module) -> None:
        """Add a child module (``None`` allowed) under ``name``."""
        self._check_init("child modules")
        self._check_name(name, "module", "_modules")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module('{name}'): {type(module).__name__} is not a Module")
        self._remove_name(name, "_modules")
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> "Module":
        """The submodule at dotted path ``target`` ("" is the module itself)."""
        mod = self
        for part in target.split(".") if target else []:
            if part not in mod._modules or mod._modules[part] is None:
                raise AttributeError(f"{type(mod).__name__} has no submodule '{part}' "
                                     f"(looking up '{target}')")
            mod = mod._modules[part]
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path ``target`` (e.g. ``"layer1.0.conv1.weight"``)."""
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        if name not in mod._parameters:
            raise AttributeError(f"{type(mod).__name__} has no parameter '{name}'")
        return mod._parameters[name]

    # ------------------------------------------------------------ iteration
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        """Yield ``(dotted_name, module)`` for this module and all below it, each once."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, mod in self._modules.items():
            if mod is None:
                continue
            yield from mod.named_modules(memo, prefix + ("." if prefix else "") + name,
                                         remove_duplicate)

    def modules(self):
        """Yield every module in the tree (this one first), each once."""
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        """Yield ``(name, module)`` for the direct children, each once."""
        seen = set()
        for name, mod in self._modules.items():
            if mod is not None and id(mod) not in seen:
                seen.add(id(mod))
                yield name, mod

    def children(self):
        """Yield the direct child modules."""
        for _, m in self.named_children():
            yield m

    def _named_members(self, store, prefix, recurse, remove_duplicate=True):
        mods = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                if recurse else [(prefix, self)])
        seen = set()
        for mod_prefix, mod in mods:
            for name, t in getattr(mod, store).items():
                if t is None or (remove_duplicate and id(t) in seen):
                    continue
                seen.add(id(t))
                yield mod_prefix + ("." if mod_prefix else "") + name, t

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True):
        """Yield ``(dotted_name, Parameter)``; a parameter shared by two modules comes once
        (under every name, and a shared submodule under each of its paths, with
        ``remove_duplicate=False``)."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        """Yield every Parameter (shared ones once), in registration order."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True):
        """Yield ``(dotted_name, buffer)`` for every buffer (persistent or not)."""
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        """Yield every buffer Tensor."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn) -> "Module":
        """Call ``fn(module)`` on every child (recursively), then on this module."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> "Module":
        """Set training mode (dropout active, batch-norm batch stats) on the whole tree.

        As in PyTorch, this sets ``self.training`` and calls ``train(mode)`` on each
        child, so a submodule that overrides ``train`` (e.g. to keep a frozen
        BatchNorm in eval mode) is honoured.
        """
        if not isinstance(mode, bool):
            raise TypeError(f"train(mode): mode must be a bool, got {type(mode).__name__}")
        self.__dict__["training"] = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> "Module":
        """Set evaluation mode on the whole tree (same as ``train(False)``)."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Set ``requires_grad`` on every parameter (freeze with ``False``)."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (``None``, or zeros in place)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = p.grad.detach()
                p.grad.data[...] = 0

    # ------------------------------------------------------------ devices and dtypes
    def to(self, *args, **kwargs) -> "Module":
        """Move and/or cast parameters and buffers in place; returns ``self``.

        ``m.to("cuda")``, ``m.to(tn.float16)``, ``m.to("cpu", tn.float32)``,
        ``m.to(device=..., dtype=...)``. The Parameter objects stay the same
        (only their ``.data`` and ``.grad`` are replaced), so an optimizer
        built before the move still holds them. Only floating tensors change
        dtype.
        """
        device, dtype = _parse_to_args(args, kwargs)

        def convert(a):
            if dtype is not None and a.dtype.kind == "f" and a.dtype != dtype:
                a = a.astype(dtype)
            if device is not None and backend.device_of(a) != device:
                a = backend.to_device(a, device)
            return a

        return self._apply_to_tensors(convert)

    def _apply_to_tensors(self, convert) -> "Module":
        seen = set()
        for m in self.modules():
            for t in itertools.chain(m._parameters.values(), m._buffers.values()):
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                t.data = convert(t.data)
                if t.grad is not None:
                    t.grad.data = convert(t.grad.data)
        return self

    def cuda(self, device=0) -> "Module":
        """Move to ``cuda:device`` (an int index or a device string)."""
        return self.to(device if isinstance(device, str) else f"cuda:{int(device)}")

    def cpu(self) -> "Module":
        return self.to("cpu")

    def float(self) -> "Module":
        return self.to(np.float32)

    def half(self) -> "Module":
        return self.to(np.float16)

    def double(self) -> "Module":
        return self.to(np.float64)

    # ------------------------------------------------------------ state dict
    def _own_state(self, keep_vars=False):
        """This module's own entries: parameters, then persistent buffers."""
        for name, p in self._parameters.items():
            if p is not None:
                yield name, p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers:
                yield name, b if keep_vars else b.detach()

    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False):
        """An ordered dict of dotted name -> Tensor, parameters then persistent buffers.

        Values are detached Tensors sharing memory with the module (copy them
        to snapshot). Tied parameters appear under every name, like PyTorch.
        """
        if destination is None:
            destination = OrderedDict()
        for name, t in self._own_state(keep_vars):
            destination[prefix + name] = t
        for name, mod in self._modules.items():
            if mod is not None:
                mod.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def _load_checks(self, state_dict, prefix, missing, mismatched, consumed, pending):
        """Match this module's own entries against ``state_dict`` (no copying yet).

        Records missing keys, shape mismatches and consumed keys; appends
        ``(module, local_name, target_tensor, value)`` to ``pending``. Subclasses
        with unusual state may override this.
        """
        for name, target in self._own_state(keep_vars=True):
            key = prefix + name
            if key not in state_dict:
                if name not in self._optional_state_keys:
                    missing.append(key)
                continue
            consumed.add(key)
            value = state_dict[key]
            shape = tuple(value.shape) if hasattr(value, "shape") else np.shape(value)
            if shape != tuple(target.shape):
                mismatched.append((key, tuple(target.shape), shape))
            else:
                pending.append((self, name, target, value))
        for name in self._ignored_state_keys:
            if prefix + name in state_dict:
                consumed.add(prefix + name)

    def load_state_dict(self, state_dict, strict: bool = True,
                        assign: bool = False) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into the parameters and buffers, in place.

        Values may be Tensors or numpy arrays; each is cast to the target's
        dtype and moved to its device. Every problem is found before anything
        is copied and reported in one StateDictError (a RuntimeError and
        ValueError): missing keys and unexpected keys (when ``strict``) and
        shape mismatches (always). Returns ``(missing_keys, unexpected_keys)``,
        both filled whatever ``strict`` is.

        ``assign=True`` (PyTorch's): instead of copying, each entry becomes the
        attribute itself, keeping the loaded tensor's dtype, device and memory
        (a numpy array is wrapped, not copied); a parameter stays an
        ``nn.Parameter`` with its previous ``requires_grad``. Tied parameters
        are then untied, as in PyTorch.
        """
        missing, mismatched, consumed, pending = [], [], set(), []
        for prefix, mod in self.named_modules(remove_duplicate=False):
            mod._load_checks(state_dict, prefix + "." if prefix else "", missing, mismatched,
                             consumed, pending)
        unexpected = [k for k in state_dict if k not in consumed]
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(repr(k) for k in missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(repr(k) for k in unexpected))
        if mismatched:
            problems.append("shape mismatches: " + ", ".join(
                f"{k!r} expected {e} got {g}" for k, e, g in mismatched))
        if problems:
            hint = _wrapper_prefix_hint(missing, unexpected) if strict else ""
            raise StateDictError(f"error loading state_dict into {type(self).__name__}:{hint}"
                                 "\n  " + "\n  ".join(problems))
        with no_grad():
            for mod, name, target, value in pending:
                if assign:
                    _assign_into(mod, name, target, value)
                else:
                    _copy_into(target, value)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        """Extra text inside this module's repr parentheses (e.g. layer sizes)."""
        return ""

    def __repr__(self):
        lines = [line for line in self.extra_repr().split("\n") if line]
        for name, mod in self._modules.items():
            lines.append(f"({name}): " + repr(mod))
        head = type(self).__name__ + "("
        if not lines:
            return head + ")"
        if len(lines) == 1 and not self._modules:
            return head + lines[0] + ")"
        return head + "\n" + "\n".join("  " + _addindent(line, 2) for line in lines) + "\n)"


def _assign_into(module: Module, name: str, target: Tensor, value) -> None:
    """``module.<name> = value`` for ``load_state_dict(assign=True)``: a Parameter target
    gets a Parameter sharing ``value``'s data, with the target's ``requires_grad``."""
    if not isinstance(value, Tensor):
        value = Tensor(value)
    if isinstance(target, Parameter):
        if isinstance(value, Parameter):
            value.requires_grad_(target.requires_grad)
        else:
            value = Parameter(value, requires_grad=target.requires_grad)
    setattr(module, name, value)


def _copy_into(target: Tensor, value) -> None:
    """target.data[...] = value, cast to target's dtype and moved to its device."""
    src = value.data if isinstance(value, Tensor) else value
    if backend.device_of(target.data) == "cpu":
        src = backend.to_numpy(src) if not isinstance(src, np.ndarray) else src
    else:
        src = backend.to_device(src, backend.device_of(target.data))
    target.data[...] = src.astype(target.dtype, copy=False) if hasattr(src, "astype") else src
    target._vc[0] += 1
