"""PyTorch checkpoint files (``torch.save``: .pt, .pth, .bin) read without unpickling.

Since PyTorch 1.6 such a file is a zip archive::

    <name>/data.pkl        the saved object (a state dict), as a pickle
    <name>/data/<key>      one raw storage per key: the tensors' bytes
    <name>/byteorder       "little" or "big" (absent in older files: little)

Unpickling ``data.pkl`` with Python's ``pickle`` would run whatever callables
the file names, so a downloaded checkpoint could run code. Here the pickle is
only *read*: :func:`pickletools.genops` parses its opcodes, and a small stack
machine (:class:`_Reader`) builds the object from them. Of the callables a
pickle can name (``GLOBAL``), only the few that rebuild a state dict are
accepted, each mapped to a function of ours that never imports torch:

    collections.OrderedDict            -> dict
    torch._utils._rebuild_tensor_v2     -> an ndarray view of a storage, copied
    torch._utils._rebuild_parameter     -> its data
    torch.<Dtype>Storage                -> the storage's dtype
    _codecs.encode(s, "latin1")         -> bytes (how protocol 2 writes bytes)

Any other name raises ValueError naming the file and the name, before anything
is called. Tensors come back as numpy arrays that own their memory, in the
file's dtype (bfloat16 widened exactly to float32, as for safetensors).
"""
from __future__ import annotations

import collections
import os
import pickletools
import zipfile

import numpy as np

ZIP_MAGIC = b"PK\x03\x04"
MAX_PICKLE_BYTES = 1 << 30   # a state dict's structure is kilobytes; the tensors are not in it

_STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"), "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"), "BFloat16Storage": np.dtype("<u2"),
    "LongStorage": np.dtype("<i8"), "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"), "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"), "BoolStorage": np.dtype("?"),
    "UntypedStorage": np.dtype("u1"),
}


def is_torch_zip(path) -> bool:
    """Whether ``path`` starts like a zip archive (a ``torch.save`` file since PyTorch 1.6)."""
    with open(path, "rb") as f:
        return f.read(4) == ZIP_MAGIC


def load_torch(path):
    """The object a ``torch.save`` file holds, with tensors as numpy arrays.

    A state dict comes back as {name: ndarray}; a training checkpoint as the
    nested dicts, lists, tuples and numbers it was saved as. Raises ValueError
    naming the file for anything else than the zip format, for corrupt
    archives and for any callable the pickle names outside the allowed few.
    """
    path = os.fspath(path)
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(_not_zip_message(path)) from None
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise ValueError(f"{path}: not a PyTorch checkpoint (a zip archive without one "
                             f"data.pkl: {len(pickles)} found)")
        if archive.getinfo(pickles[0]).file_size > MAX_PICKLE_BYTES:
            raise ValueError(f"{path}: data.pkl is over {MAX_PICKLE_BYTES >> 20} MB, not a "
                             "state dict's structure")
        prefix = pickles[0][:-len("data.pkl")]
        order = "little"
        if prefix + "byteorder" in archive.namelist():
            order = archive.read(prefix + "byteorder").decode("ascii", "replace").strip()
            if order not in ("little", "big"):
                raise ValueError(f"{path}: unknown byteorder {order!r}")
        storages = _Storages(archive, prefix, order, path)
        return _Reader(path, storages).run(archive.read(pickles[0]))


def _not_zip_message(path) -> str:
    with open(path, "rb") as f:
        head = f.read(2)
    if head == b"\x80\x02":   # a pickle: the format torch.save wrote before 1.6
        return (f"{path}: a PyTorch checkpoint in the format before PyTorch 1.6, which tinynet "
                "does not read; load it with torch once and save it again with torch.save "
                "(or as safetensors)")
    return f"{path}: neither a safetensors file nor a PyTorch (zip) checkpoint"


class _Storages:
    """The raw storages of the archive, read once each (tensors may share one)."""

    def __init__(self, archive, prefix, order, path):
        self.archive, self.prefix, self.order, self.path = archive, prefix, order, path
        self.cache = {}

    def get(self, key, dtype, numel):
        """Storage ``key`` as a 1-D array of ``numel`` elements of ``dtype``."""
        if key not in self.cache:
            name = f"{self.prefix}data/{key}"
            try:
                info = self.archive.getinfo(name)
            except KeyError:
                raise ValueError(f"{self.path}: storage {key!r} is missing") from None
            if info.file_size != numel * dtype.itemsize:
                raise ValueError(f"{self.path}: storage {key!r} holds {info.file_size} bytes, "
                                 f"expected {numel} x {dtype.itemsize}")
            raw = np.frombuffer(self.archive.read(name), dtype=dtype)
            if self.order == "big":
                raw = raw.byteswap()
            self.cache[key] = raw
        return self.cache[key]


class _StorageRef:
    """A persistent id of the pickle: which storage, of which dtype."""

    def __init__(self, key, dtype, numel, bf16):
        self.key, self.dtype, self.numel, self.bf16 = key, dtype, numel, bf16


class _Global:
    """A callable the pickle named, allowed: ``call(args)`` builds the value."""

    def __init__(self, name, call=None, dtype=None, bf16=False):
        self.name, self.call, self.dtype, self.bf16 = name, call, dtype, bf16


class _Mark:
    pass


_MARK = _Mark()


class _Reader:
    """A pickle stack machine that calls nothing but the allowed rebuild functions."""

    def __init__(self, path, storages):
        self.path, self.storages = path, storages

    def error(self, what) -> ValueError:
        return ValueError(f"{self.path}: {what}")

    def find(self, module, name) -> _Global:
        full = f"{module}.{name}"
        if full == "collections.OrderedDict":
            return _Global(full, lambda args: collections.OrderedDict(*args))
        if full in ("torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor"):
            return _Global(full, self.rebuild_tensor)
        if full in ("torch._utils._rebuild_parameter",
                    "torch._utils._rebuild_parameter_with_state"):
            return _Global(full, lambda args: args[0])
        if full == "_codecs.encode":
            return _Global(full, self.encode)
        if module in ("torch", "torch.storage") and name in _STORAGE_DTYPES:
            return _Global(full, dtype=_STORAGE_DTYPES[name], bf16=name == "BFloat16Storage")
        raise self.error(f"the pickle names {full}, which tinynet does not call (only state "
                         "dicts of tensors, numbers and strings are read; nothing in the file "
                         "was run)")

    def encode(self, args):
        if len(args) != 2 or not isinstance(args[0], str) or args[1] != "latin1":
            raise self.error("unexpected _codecs.encode arguments")
        return args[0].encode("latin1")

    def persistent(self, pid):
        if (not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage"
                or not isinstance(pid[1], _Global) or pid[1].dtype is None):
            raise self.error(f"unexpected persistent id {pid!r}")
        _, kind, key, _location, numel = pid
        return _StorageRef(str(key), kind.dtype, int(numel), kind.bf16)

    def rebuild_tensor(self, args):
        if len(args) < 4 or not isinstance(args[0], _StorageRef):
            raise self.error("unexpected arguments to _rebuild_tensor")
        ref, offset, size, stride = args[:4]
        size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
        if len(size) != len(stride) or offset < 0 or any(s < 0 for s in size + stride):
            raise self.error(f"tensor of size {size}, stride {stride}, offset {offset} is invalid")
        storage = self.storages.get(ref.key, ref.dtype, ref.numel)
        if all(size):
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= ref.numel:
                raise self.error(f"tensor of size {size}, stride {stride}, offset {offset} "
                                 f"reaches past its storage {ref.key!r} of {ref.numel} elements")
            item = storage.itemsize
            view = np.lib.stride_tricks.as_strided(storage[offset:], size,
                                                   tuple(s * item for s in stride))
            arr = np.array(view, dtype=storage.dtype.newbyteorder("="))   # own, contiguous
        else:
            arr = np.empty(size, dtype=storage.dtype.newbyteorder("="))
        if ref.bf16:   # bfloat16 is the top half of a float32
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        return arr

    def run(self, data: bytes):
        stack, memo = [], {}

        def pop_mark():
            for i in range(len(stack) - 1, -1, -1):
                if stack[i] is _MARK:
                    items = stack[i + 1:]
                    del stack[i:]
                    return items
            raise self.error("corrupt pickle (no MARK)")

        try:
            for op, arg, _pos in pickletools.genops(data):
                name = op.name
                if name in ("PROTO", "FRAME"):
                    continue
                if name == "STOP":
                    if len(stack) != 1:
                        raise self.error("corrupt pickle (stack at STOP)")
                    return stack[0]
                if name == "MARK":
                    stack.append(_MARK)
                elif name in _CONSTANT_OPS:
                    stack.append(_CONSTANT_OPS[name])
                elif name in _ARG_OPS:   # the argument itself is the value
                    stack.append(arg)
                elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
                    memo[int(arg)] = stack[-1]
                elif name == "MEMOIZE":
                    memo[len(memo)] = stack[-1]
                elif name in ("BINGET", "LONG_BINGET", "GET"):
                    if int(arg) not in memo:
                        raise self.error(f"corrupt pickle (memo {arg} unset)")
                    stack.append(memo[int(arg)])
                elif name == "EMPTY_DICT":
                    stack.append({})
                elif name == "EMPTY_LIST":
                    stack.append([])
                elif name == "EMPTY_TUPLE":
                    stack.append(())
                elif name == "TUPLE":
                    stack.append(tuple(pop_mark()))
                elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                    n = int(name[-1])
                    items = tuple(stack[-n:])
                    del stack[-n:]
                    stack.append(items)
                elif name == "LIST":
                    stack.append(pop_mark())
                elif name == "DICT":
                    items = pop_mark()
                    stack.append(dict(zip(items[::2], items[1::2])))
                elif name == "SETITEM":
                    value, key = stack.pop(), stack.pop()
                    stack[-1][key] = value
                elif name == "SETITEMS":
                    items = pop_mark()
                    stack[-1].update(zip(items[::2], items[1::2]))
                elif name == "APPEND":
                    value = stack.pop()
                    stack[-1].append(value)
                elif name == "APPENDS":
                    items = pop_mark()
                    stack[-1].extend(items)
                elif name == "GLOBAL":
                    module, _, attr = arg.partition(" ")
                    stack.append(self.find(module, attr))
                elif name == "STACK_GLOBAL":
                    attr, module = stack.pop(), stack.pop()
                    stack.append(self.find(module, attr))
                elif name == "REDUCE":
                    args, fn = stack.pop(), stack.pop()
                    if not isinstance(fn, _Global) or fn.call is None or \
                            not isinstance(args, tuple):
                        raise self.error(f"corrupt pickle (REDUCE of {fn!r})")
                    stack.append(fn.call(args))
                elif name == "BUILD":
                    stack.pop()   # extra state (a state dict's _metadata): not needed
                elif name == "BINPERSID":
                    stack.append(self.persistent(stack.pop()))
                else:
                    raise self.error(f"the pickle uses opcode {name}, which tinynet does not "
                                     "read (nothing in the file was run)")
        except (IndexError, TypeError, AttributeError, KeyError) as e:
            raise self.error(f"corrupt pickle ({type(e).__name__}: {e})") from None
        except ValueError as e:
            if str(e).startswith(f"{self.path}:"):
                raise
            raise self.error(f"corrupt pickle ({e})") from None
        raise self.error("corrupt pickle (no STOP)")


_CONSTANT_OPS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_ARG_OPS = {"BININT", "BININT1", "BININT2", "LONG1", "LONG4", "INT", "LONG", "BINFLOAT",
            "FLOAT", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "UNICODE", "BINSTRING",
            "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8"}
