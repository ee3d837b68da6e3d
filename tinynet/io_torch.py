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
is called. Tensors come back as C-contiguous numpy arrays that own their
memory, in the file's dtype (bfloat16 widened exactly to float32, as for
safetensors); a tensor or container the file holds twice comes back once.

A hostile file can do no more than be refused, with a ValueError naming it:
everything read from the archive and built from it may total
``MAX_EXPANSION`` times the file's size (plus 16 MiB), which stops zip bombs
and tensors expanded (stride 0) or rebuilt far beyond their storages; dict
keys must be strings or numbers, and the result nests at most ``MAX_DEPTH``
deep (so no cycles), which keeps every walk over it short.
"""
from __future__ import annotations

import math
import os
import pickletools
import zipfile

import numpy as np

ZIP_MAGIC = b"PK\x03\x04"
MAX_PICKLE_BYTES = 32 << 20  # a state dict's structure is kilobytes (tensors are not in it);
                             # its objects take ~100 bytes of memory per byte of pickle
MAX_EXPANSION = 8            # bytes read and built, per byte of the file (plus _SLACK)
_SLACK = 16 << 20
MAX_DEPTH = 100              # a state dict nests a few levels; a training checkpoint, ten
_LEGACY_MAGIC = b"\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"   # torch's magic number, pickled (LONG1)
_KEYS = (str, int, float, bytes, type(None))            # hashing these cannot recurse
_LEAVES = _KEYS + (np.ndarray,)

_STORAGE_DTYPES = {
    "FloatStorage": np.dtype("f4"), "DoubleStorage": np.dtype("f8"),
    "HalfStorage": np.dtype("f2"), "BFloat16Storage": np.dtype("u2"),
    "LongStorage": np.dtype("i8"), "IntStorage": np.dtype("i4"),
    "ShortStorage": np.dtype("i2"), "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"), "BoolStorage": np.dtype("?"),
    "UntypedStorage": np.dtype("u1"),
}


def is_torch_file(path) -> bool:
    """Whether ``path`` starts like a ``torch.save`` file: a zip archive, or the pickle
    stream PyTorch wrote before 1.6 (which :func:`load_torch` refuses, saying so)."""
    with open(path, "rb") as f:
        head = f.read(32)
    return head.startswith(ZIP_MAGIC) or _is_legacy(head)


def _is_legacy(head: bytes) -> bool:
    return head[:1] == b"\x80" and _LEGACY_MAGIC in head


def load_torch(path):
    """The object a ``torch.save`` file holds, with tensors as numpy arrays.

    A state dict comes back as {name: ndarray}; a training checkpoint as the
    nested dicts, lists, tuples and numbers it was saved as. Raises ValueError
    naming the file for anything else than the zip format, for corrupt
    archives, for any callable the pickle names outside the allowed few, and
    for files that would take far more memory than their size (see above).
    """
    path = os.fspath(path)
    try:
        archive = zipfile.ZipFile(path)
    except Exception:   # zipfile's many errors (a missing file's is raised again below)
        raise ValueError(_not_zip_message(path)) from None
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise ValueError(f"{path}: not a PyTorch checkpoint (a zip archive without one "
                             f"data.pkl: {len(pickles)} found)")
        if archive.getinfo(pickles[0]).file_size > MAX_PICKLE_BYTES:
            raise ValueError(f"{path}: data.pkl is over {MAX_PICKLE_BYTES >> 20} MB, not a "
                             "state dict's structure")
        files = _Archive(archive, path, pickles[0][:-len("data.pkl")])
        obj = _Reader(path, files).run(files.read(pickles[0]))
    _check_tree(obj, path)
    return obj


def _not_zip_message(path) -> str:
    with open(path, "rb") as f:
        head = f.read(32)
    if _is_legacy(head):   # the format torch.save wrote before 1.6
        return (f"{path}: a PyTorch checkpoint in the format before PyTorch 1.6, which tinynet "
                "does not read; load it with torch once and save it again with torch.save "
                "(or as safetensors)")
    if head.startswith(ZIP_MAGIC):
        return (f"{path}: neither a safetensors file nor a readable PyTorch checkpoint (a zip "
                "archive, but corrupt or truncated)")
    return f"{path}: neither a safetensors file nor a PyTorch (zip) checkpoint"


class _Archive:
    """The archive's members, read with their errors as ValueError and within the file's
    budget; storages are read once each (tensors may share one)."""

    def __init__(self, archive, path, prefix):
        self.archive, self.path, self.prefix = archive, path, prefix
        self.left = MAX_EXPANSION * os.path.getsize(path) + _SLACK
        self.raw = {}
        order = "little"
        if prefix + "byteorder" in archive.NameToInfo:
            order = self.read(prefix + "byteorder").decode("ascii", "replace").strip()
            if order not in ("little", "big"):
                raise ValueError(f"{path}: unknown byteorder {order!r}")
        self.order = "<" if order == "little" else ">"

    def spend(self, nbytes, what):
        """Count ``nbytes`` more against the budget; refuse when it is spent."""
        if nbytes > self.left:
            raise ValueError(f"{self.path}: {what} would take this checkpoint past "
                             f"{MAX_EXPANSION} times the file's size in memory (a zip bomb, or "
                             "a tensor expanded or rebuilt far beyond its storage?)")
        self.left -= nbytes

    def read(self, name) -> bytes:
        info = self.archive.getinfo(name)
        self.spend(info.file_size, name)
        try:
            return self.archive.read(info)
        except Exception as e:   # zipfile's many: bad CRC, data, offset, method, encryption...
            raise ValueError(f"{self.path}: {name} is corrupt in the zip archive "
                             f"({type(e).__name__}: {e})") from None

    def storage(self, key, dtype, numel):
        """Storage ``key`` as a 1-D array of ``numel`` elements of ``dtype``, in the
        file's byte order (each use checks its size: one may claim more than another)."""
        if key not in self.raw:
            name = f"{self.prefix}data/{key}"
            if name not in self.archive.NameToInfo:
                raise ValueError(f"{self.path}: storage {key!r} is missing")
            self.raw[key] = self.read(name)
        raw = self.raw[key]
        if len(raw) != numel * dtype.itemsize:
            raise ValueError(f"{self.path}: storage {key!r} holds {len(raw)} bytes, "
                             f"expected {numel} x {dtype.itemsize}")
        return np.frombuffer(raw, dtype=dtype.newbyteorder(self.order))


def _check_tree(obj, path):
    """Refuse a result that is not a checkpoint's: our internal objects left in it, nesting
    over MAX_DEPTH (so cycles too). What is shared is walked once: linear time."""
    done = set()

    def visit(x, depth):
        if isinstance(x, _LEAVES) or id(x) in done:
            return
        if not isinstance(x, (dict, list, tuple)):
            what = x.name if isinstance(x, _Global) else "a storage"   # not passed to a rebuild
            raise ValueError(f"{path}: corrupt pickle ({what} left as a value)")
        if depth >= MAX_DEPTH:
            raise ValueError(f"{path}: the checkpoint nests over {MAX_DEPTH} deep, or is "
                             "cyclic: not a state dict")
        for v in x.values() if isinstance(x, dict) else x:
            visit(v, depth + 1)
        done.add(id(x))

    visit(obj, 0)


class _StorageRef:
    """A persistent id of the pickle: which storage, of which dtype."""

    def __init__(self, key, dtype, numel, bf16):
        self.key, self.dtype, self.numel, self.bf16 = key, dtype, numel, bf16


class _Global:
    """A callable the pickle named, allowed: ``call(args)`` builds the value."""

    def __init__(self, name, call=None, dtype=None, bf16=False):
        self.name, self.call, self.dtype, self.bf16 = name, call, dtype, bf16


def _is_index(n) -> bool:
    return isinstance(n, int) and 0 <= n < 2 ** 63


class _Reader:
    """A pickle stack machine that calls nothing but the allowed rebuild functions.

    As in Python's unpickler, MARKs are positions (no value can hold one) and an
    opcode cannot reach below the last one. Opcodes act only on what they act on
    in a state dict: SETITEM(S) on dicts with string or number keys, APPEND(S)
    on lists. Error messages never show the pickle's values (a repr could be huge).
    """

    def __init__(self, path, files):
        self.path, self.files = path, files

    def error(self, what) -> ValueError:
        return ValueError(f"{self.path}: {what}")

    def find(self, module, name) -> _Global:
        full = f"{module}.{name}"
        if full == "collections.OrderedDict":
            return _Global(full, self.ordered_dict)
        if full in ("torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor"):
            return _Global(full, self.rebuild_tensor)
        if full in ("torch._utils._rebuild_parameter",
                    "torch._utils._rebuild_parameter_with_state"):
            return _Global(full, self.parameter)
        if full == "_codecs.encode":
            return _Global(full, self.encode)
        if module in ("torch", "torch.storage") and name in _STORAGE_DTYPES:
            return _Global(full, dtype=_STORAGE_DTYPES[name], bf16=name == "BFloat16Storage")
        raise self.error(f"the pickle names {full}, which tinynet does not call (only state "
                         "dicts of tensors, numbers and strings are read; nothing in the file "
                         "was run). If you trust the file, save just its weights with PyTorch "
                         "and load those: torch.save(torch.load(path, weights_only=False)"
                         "['model'], 'weights.pth') (the key that holds the state dict)")

    def ordered_dict(self, args):
        if args != ():   # pickle writes OrderedDict() and then SETITEMS
            raise self.error("unexpected OrderedDict arguments")
        return {}

    def parameter(self, args):
        if not args or not isinstance(args[0], np.ndarray):
            raise self.error("unexpected _rebuild_parameter arguments")
        return args[0]

    def encode(self, args):
        if len(args) != 2 or not isinstance(args[0], str) or args[1] != "latin1":
            raise self.error("unexpected _codecs.encode arguments")
        self.files.spend(len(args[0]), "a bytes object")
        return args[0].encode("latin1")

    def persistent(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and isinstance(pid[0], str)
                and pid[0] == "storage" and isinstance(pid[1], _Global)
                and pid[1].dtype is not None and isinstance(pid[2], str) and _is_index(pid[4])):
            raise self.error("unexpected persistent id (not a storage)")
        _, kind, key, _location, numel = pid
        return _StorageRef(key, kind.dtype, numel, kind.bf16)

    def rebuild_tensor(self, args):
        if len(args) < 4 or not isinstance(args[0], _StorageRef):
            raise self.error("unexpected arguments to _rebuild_tensor")
        ref, offset, size, stride = args[:4]
        if not (isinstance(size, tuple) and isinstance(stride, tuple)
                and len(size) == len(stride) <= 64 and _is_index(offset)
                and all(_is_index(n) for n in size + stride)):
            raise self.error("a tensor's offset, size or stride is invalid")
        numel = math.prod(size)
        self.files.spend(numel * ref.dtype.itemsize * (2 if ref.bf16 else 1),
                         f"a tensor of size {size}")
        storage = self.files.storage(ref.key, ref.dtype, ref.numel)
        native = storage.dtype.newbyteorder("=")
        if numel:
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= ref.numel:
                raise self.error(f"tensor of size {size}, stride {stride}, offset {offset} "
                                 f"reaches past its storage {ref.key!r} of {ref.numel} elements")
            strides = tuple(s * storage.itemsize if n > 1 else 0 for n, s in zip(size, stride))
            view = np.lib.stride_tricks.as_strided(storage[offset:], size, strides)
            arr = np.array(view, dtype=native, order="C")
        else:
            arr = np.empty(size, dtype=native)
        if ref.bf16:   # bfloat16 is the top half of a float32
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        return arr

    def run(self, data: bytes):
        stack, marks, memo = [], [], {}

        def fence():
            return marks[-1] if marks else 0

        def pop():
            if len(stack) <= fence():
                raise self.error("corrupt pickle (stack underflow)")
            return stack.pop()

        def top(kind=object):   # what an opcode acts on, left on the stack
            if len(stack) <= fence():
                raise self.error("corrupt pickle (stack underflow)")
            if not isinstance(stack[-1], kind):
                raise self.error(f"corrupt pickle ({name} on a {type(stack[-1]).__name__})")
            return stack[-1]

        def pop_mark():
            if not marks:
                raise self.error("corrupt pickle (no MARK)")
            items = stack[marks[-1]:]
            del stack[marks.pop():]
            return items

        def set_items(target, items):
            if len(items) % 2 or not all(isinstance(k, _KEYS) for k in items[::2]):
                raise self.error("corrupt pickle (a dict key that is not a string or number)")
            target.update(zip(items[::2], items[1::2]))

        try:
            for op, arg, _pos in pickletools.genops(data):
                name = op.name
                if name in ("PROTO", "FRAME"):
                    continue
                if name == "STOP":
                    if marks or len(stack) != 1:
                        raise self.error("corrupt pickle (stack at STOP)")
                    return stack[0]
                if name == "MARK":
                    marks.append(len(stack))
                elif name in _CONSTANT_OPS:
                    stack.append(_CONSTANT_OPS[name])
                elif name in _ARG_OPS:   # the argument itself is the value
                    stack.append(arg)
                elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
                    memo[arg] = top()
                elif name == "MEMOIZE":
                    memo[len(memo)] = top()
                elif name in ("BINGET", "LONG_BINGET", "GET"):
                    if arg not in memo:
                        raise self.error(f"corrupt pickle (memo {arg} unset)")
                    stack.append(memo[arg])
                elif name == "EMPTY_DICT":
                    stack.append({})
                elif name == "EMPTY_LIST":
                    stack.append([])
                elif name == "EMPTY_TUPLE":
                    stack.append(())
                elif name == "TUPLE":
                    stack.append(tuple(pop_mark()))
                elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                    items = [pop() for _ in range(int(name[-1]))]
                    stack.append(tuple(reversed(items)))
                elif name == "LIST":
                    stack.append(pop_mark())
                elif name == "DICT":
                    items, d = pop_mark(), {}
                    set_items(d, items)
                    stack.append(d)
                elif name == "SETITEM":
                    value, key = pop(), pop()
                    set_items(top(dict), [key, value])
                elif name == "SETITEMS":
                    items = pop_mark()
                    set_items(top(dict), items)
                elif name == "APPEND":
                    value = pop()
                    top(list).append(value)
                elif name == "APPENDS":
                    items = pop_mark()
                    top(list).extend(items)
                elif name == "GLOBAL":
                    module, _, attr = arg.partition(" ")
                    stack.append(self.find(module, attr))
                elif name == "STACK_GLOBAL":
                    attr, module = pop(), pop()
                    if not (isinstance(module, str) and isinstance(attr, str)):
                        raise self.error("corrupt pickle (STACK_GLOBAL of a non-string)")
                    stack.append(self.find(module, attr))
                elif name == "REDUCE":
                    args, fn = pop(), pop()
                    if not isinstance(fn, _Global) or fn.call is None or \
                            not isinstance(args, tuple):
                        raise self.error(f"corrupt pickle (REDUCE of a {type(fn).__name__})")
                    stack.append(fn.call(args))
                elif name == "BUILD":
                    pop()   # extra state (a state dict's _metadata): not needed
                    top()
                elif name == "BINPERSID":
                    stack.append(self.persistent(pop()))
                else:
                    raise self.error(f"the pickle uses opcode {name}, which tinynet does not "
                                     "read (nothing in the file was run)")
        except (IndexError, TypeError, AttributeError, KeyError, Warning) as e:   # (-W error)
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
