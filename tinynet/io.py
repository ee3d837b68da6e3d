"""Checkpoints in the safetensors format, written atomically, read without pickle.

File layout (https://github.com/huggingface/safetensors, implemented here from
the spec, without the ``safetensors`` package)::

    8 bytes   N, the header length, unsigned little-endian 64-bit
    N bytes   UTF-8 JSON: {name: {"dtype": "F32", "shape": [2, 3],
                                  "data_offsets": [begin, end]}, ...,
                           "__metadata__": {str: str}}   (optional)
              padded with spaces so that 8 + N is a multiple of 8
    rest      the tensors' bytes, C order, little-endian; offsets are
              relative to the start of this buffer

``save`` lays the tensors out in sorted-name order (the header lists them in
the order given). ``load`` checks everything the header claims against the
file before it reads a byte of data, and it only ever decodes JSON and raw
numbers: nothing in a file can run code.

Training checkpoints (model + optimizer + scheduler + RNG + epoch) hold nested
Python structures besides arrays; :func:`save_training_state` stores the
arrays as tensors and the structure as JSON in the metadata, still one
safetensors file and still no pickle.
"""
from __future__ import annotations

import io
import json
import math
import os
import secrets
import stat
import time

import numpy as np

from . import backend, io_torch

MAX_HEADER_BYTES = 100_000_000  # the reference implementation's limit

# safetensors dtype name <-> numpy dtype. BF16 has no numpy dtype: it is read
# as uint16 and widened to float32 (see _decode_bf16); it cannot be saved.
_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"), "U64": np.dtype("<u8"), "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"), "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
    "BF16": np.dtype("<u2"),
}
_NAMES = {np.dtype(dt).newbyteorder("="): name for name, dt in _DTYPES.items() if name != "BF16"}


# ---------------------------------------------------------------- helpers

def _as_numpy(value, what: str) -> np.ndarray:
    """A numpy array of a Tensor / numpy / cupy value (``what`` names it in errors)."""
    from .tensor import Tensor
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray) or type(value).__module__.startswith("cupy"):
        return backend.to_numpy(value)
    raise TypeError(f"{what}: expected a tn.Tensor, numpy or cupy array, "
                    f"got {type(value).__name__}")


def _is_array(value) -> bool:
    from .tensor import Tensor
    return isinstance(value, (Tensor, np.ndarray)) or type(value).__module__.startswith("cupy")


def _make_tensor(array):
    """A tn.Tensor (not requiring grad) that wraps ``array``."""
    from .tensor import Tensor
    return Tensor(array)


def _is_file(path) -> bool:
    """Whether ``path`` is an open file object (torch.save(obj, f) style) rather than a path."""
    return hasattr(path, "write") or hasattr(path, "read")


def _where(path) -> str:
    """``path`` as a string for messages and opening: a path, or a file object's name."""
    if _is_file(path):
        return str(getattr(path, "name", type(path).__name__))
    return os.fspath(path)


def _atomic_write(path: str, write) -> None:
    """Call ``write(fileobj)`` on a temp file next to ``path``, then rename it over ``path``.

    The temp file is flushed and fsynced before ``os.replace``, so ``path`` is
    always either the old file or the complete new one; on any error the temp
    file is removed and ``path`` is untouched. A symlink is written through (its
    target is replaced, the link stays), and a file that is replaced keeps its
    permission bits, as with ``torch.save``. Temp files of ``path`` that a killed
    process left behind (older than :data:`STALE_TEMP_SECONDS`) are removed after a
    successful save.
    """
    given, path = path, os.path.realpath(path)
    folder, base = os.path.split(path)
    if not os.path.isdir(folder):
        hint = (" ('~' is not expanded: pass os.path.expanduser(path))"
                if given.startswith("~") else "")
        raise FileNotFoundError(f"save {path}: folder {folder} does not exist{hint}")
    while True:
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
        try:  # 0o666 so the final file gets the usual umask-derived mode
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
            break
        except FileExistsError:
            continue
        except OSError as e:   # e.g. a read-only folder
            raise _save_error(e, path) from e
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        except FileNotFoundError:   # a new file: the umask-derived mode
            pass
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError) and e.filename in (None, tmp):
            # e.g. disk full: a failed write names no file, a failed rename the temp file
            raise _save_error(e, path) from e
        raise
    _remove_stale_temps(folder, base)
    try:  # make the rename itself durable (POSIX); harmless to skip elsewhere
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


STALE_TEMP_SECONDS = 3600   # no save takes this long; a temp file this old was abandoned


def _remove_stale_temps(folder: str, base: str) -> None:
    """Delete ``.<base>.<12 hex>.tmp`` files in ``folder`` not written to for
    :data:`STALE_TEMP_SECONDS`: what saves killed mid-write (SIGKILL, power loss) leave,
    each as big as a checkpoint. Younger ones may be another process's save in flight."""
    prefix, now = f".{base}.", time.time()
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        middle = name[len(prefix):-len(".tmp")]
        if not (name.startswith(prefix) and name.endswith(".tmp") and len(middle) == 12
                and all(c in "0123456789abcdef" for c in middle)):
            continue
        try:
            if now - os.stat(os.path.join(folder, name)).st_mtime > STALE_TEMP_SECONDS:
                os.unlink(os.path.join(folder, name))
        except OSError:   # gone already, or not ours to remove
            pass


def _save_error(e: OSError, path: str) -> OSError:
    """``e``, raised while writing ``path`` through a temp file, as an OSError of the
    same kind (errno kept) that names ``path`` and says it was left as it was.

    (A failed ``f.write``, e.g. disk full, names no file at all, and a failed
    ``open``/``rename`` of the temp file names that file, which no longer exists.)
    """
    why = (f"{e.strerror or str(e) or type(e).__name__}; nothing was saved (a file already "
           "there is unchanged)")
    if e.errno is None:
        return OSError(f"save {path}: {why}")
    return OSError(e.errno, why, path)   # the subclass of errno: PermissionError, ...


# ---------------------------------------------------------------- save

def save(state_dict, path, metadata=None) -> None:
    """Write ``state_dict`` ({name: Tensor | numpy | cupy array}) to ``path`` as safetensors.

    A dict with other values, PyTorch's whole-checkpoint habit
    (``tn.save({"model": m.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, p)``),
    is written as :func:`save_training_state` writes it, and :func:`load` gives it back
    as it was.

    metadata: optional {str: str} stored under ``"__metadata__"``.
    dtypes: float64/32/16, int64/32/16/8, uint64/32/16/8 and bool. The file is
    written to a temp file in the same folder and renamed into place, so a
    crash never leaves a half-written checkpoint. Readable by
    ``safetensors.numpy.load_file`` and ``safetensors.torch.load_file``.

    path may also be a binary file object, as with ``torch.save(obj, f)``: the file is
    written at its position and left open (not atomically: it is the caller's file).
    """
    fileobj = path if _is_file(path) else None
    path = _where(path)
    if not isinstance(state_dict, dict):
        hint = ""
        if hasattr(state_dict, "state_dict"):   # torch.save(model, path) pickles the object
            hint = (f"; tinynet files hold tensors, never pickled objects: save "
                    f"{type(state_dict).__name__}'s .state_dict() and load it into a new "
                    f"instance with load_state_dict")
        raise TypeError(f"save {path}: state_dict must be a dict, got "
                        f"{type(state_dict).__name__}{hint}")
    arrays = {}
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"save {path}: tensor names must be str, got {name!r}")
        if name == "__metadata__":
            raise ValueError(f"save {path}: '__metadata__' is reserved and cannot name a tensor")
        if not _is_array(value):   # torch.save({"model": ..., "epoch": 3}): a whole checkpoint
            if metadata is not None:
                raise TypeError(f"save {path}: {name!r} is not a tensor (type "
                                f"{type(value).__name__}); metadata= goes with a flat "
                                "{name: tensor} dict only")
            bad = [k for k in state_dict if not isinstance(k, str)]
            if bad:
                raise TypeError(f"save {path}: a checkpoint's top-level keys must be str, "
                                f"got {bad[0]!r}")
            return _save_state(fileobj or path, state_dict, "save")
        arr = _as_numpy(value, f"save {path}: tensor {name!r}")
        if arr.dtype.newbyteorder("=") not in _NAMES:
            raise TypeError(f"save {path}: tensor {name!r} has dtype {arr.dtype}, which "
                            "safetensors cannot store (supported: "
                            f"{', '.join(sorted(_NAMES.values()))})")
        arrays[name] = arr
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError(f"save {path}: metadata must be a dict of str -> str")

    header, offset, layout = {}, 0, []
    for name in sorted(arrays):
        arr = arrays[name]
        code = _NAMES[arr.dtype.newbyteorder("=")]
        layout.append((arr, _DTYPES[code]))
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    header = {name: header[name] for name in arrays}  # list in the caller's order
    if metadata is not None:
        header = {"__metadata__": dict(metadata), **header}
    blob = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    blob += b" " * (-len(blob) % 8)

    def write(f):
        f.write(len(blob).to_bytes(8, "little"))
        f.write(blob)
        for arr, le in layout:
            _write_array(f, arr, le)

    if fileobj is not None:
        write(fileobj)
    else:
        _atomic_write(path, write)


def _write_array(f, arr: np.ndarray, le: np.dtype) -> None:
    """Write ``arr``'s bytes in C order as dtype ``le`` (a view, no copy, when it already is)."""
    f.write(np.ascontiguousarray(arr, dtype=le).reshape(-1).view(np.uint8))


# ---------------------------------------------------------------- load

def _read_header(f, path: str):
    """Parse and validate the header; return (entries, metadata, data_start).

    entries: list of (name, code, shape, begin, end) in the header's order.
    Raises ValueError naming ``path`` for anything inconsistent with the file.
    """
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    if size < 8:
        raise ValueError(f"{path}: not a safetensors file: {size} bytes, shorter than the "
                         "8-byte header length")
    n = int.from_bytes(f.read(8), "little")
    if n > MAX_HEADER_BYTES:
        raise ValueError(f"{path}: oversized header: length {n} exceeds the "
                         f"{MAX_HEADER_BYTES}-byte limit (corrupt or not a safetensors file)")
    if n > size - 8:
        raise ValueError(f"{path}: header length {n} is larger than the file "
                         f"({size} bytes): truncated or not a safetensors file")
    raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{path}: header is not valid UTF-8 JSON ({e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: header must be a JSON object, got {type(header).__name__}")

    metadata = header.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError(f"{path}: '__metadata__' must be an object of string values")

    entries = []
    for name, info in header.items():
        where = f"{path}: tensor {name!r}"
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise ValueError(f"{where}: entry must have 'dtype', 'shape' and 'data_offsets'")
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if code not in _DTYPES:
            raise ValueError(f"{where}: unknown dtype {code!r} (supported: "
                             f"{', '.join(_DTYPES)})")
        if not isinstance(shape, list) or not all(
                type(d) is int and d >= 0 for d in shape):
            raise ValueError(f"{where}: shape must be a list of non-negative ints, got {shape!r}")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(
                type(o) is int and o >= 0 for o in offsets) or offsets[0] > offsets[1]:
            raise ValueError(f"{where}: data_offsets must be [begin, end] with "
                             f"0 <= begin <= end, got {offsets!r}")
        begin, end = offsets
        expected = math.prod(shape) * _DTYPES[code].itemsize
        if end - begin != expected:
            raise ValueError(f"{where}: shape/offset mismatch: shape {shape} of {code} needs "
                             f"{expected} bytes but data_offsets {offsets} span {end - begin}")
        entries.append((name, code, tuple(shape), begin, end))

    data_start = 8 + n
    available = size - data_start
    pos = 0  # the tensors must tile the data buffer exactly, in offset order
    for name, _, _, begin, end in sorted(entries, key=lambda e: (e[3], e[4])):
        if begin != pos:
            kind = "overlap" if begin < pos else "gap"
            raise ValueError(f"{path}: tensor {name!r}: data_offsets {[begin, end]} {kind} "
                             f"with the previous tensor (expected begin {pos})")
        if end > available:
            raise ValueError(f"{path}: tensor {name!r}: data_offsets {[begin, end]} out of "
                             f"bounds: truncated data, the file holds only {available} "
                             "bytes after the header")
        pos = end
    if pos != available:
        raise ValueError(f"{path}: {available - pos} trailing bytes after the last tensor "
                         f"(tensor data ends at {pos}, buffer is {available} bytes)")
    return entries, metadata, data_start


def _decode_bf16(u16: np.ndarray) -> np.ndarray:
    """bfloat16 bits (uint16) -> float32: bf16 is the top half of a float32."""
    return (u16.astype(np.uint32) << 16).view(np.float32)


def _read_arrays(path, where=None):
    """(dict name -> numpy array, metadata) read from a safetensors file, or from an
    ``io.BytesIO`` of one (``load`` reads a file object's bytes into one) named ``where``."""
    f = path if isinstance(path, io.BytesIO) else open(os.fspath(path), "rb")
    path = where or _where(path)
    out = {}
    with f:
        entries, metadata, data_start = _read_header(f, path)
        for name, code, shape, begin, end in entries:
            arr = np.empty(shape, dtype=_DTYPES[code])
            f.seek(data_start + begin)
            if end > begin and f.readinto(arr.reshape(-1).view(np.uint8)) != end - begin:
                raise ValueError(f"{path}: tensor {name!r}: truncated data (file changed "
                                 "while reading?)")
            if code == "BF16":
                arr = _decode_bf16(arr)
            elif arr.dtype.byteorder not in "=|":  # big-endian host
                arr = arr.astype(arr.dtype.newbyteorder("="))
            out[name] = arr
    return out, metadata


def load(path, device="cpu", *, map_location=None, weights_only=None) -> dict:
    """Read a safetensors file into {name: tn.Tensor} on ``device``.

    PyTorch's ``map_location`` (a device or device string) is another name for
    ``device``; ``weights_only`` is accepted and ignored, since loading never runs
    pickled code whatever it says
    (``model.load_state_dict(tn.load(PATH, map_location=device, weights_only=True))``).

    Every dtype ``save`` writes comes back unchanged; BF16 (written by other
    tools) is widened exactly to float32. Tensors come back in the header's
    order, do not require grad, and own their memory (the file is closed).
    Malformed files raise ValueError naming the file and the problem. Never
    unpickles. A file :func:`save` wrote from a nested checkpoint (or
    :func:`save_training_state` wrote) comes back as that checkpoint.

    A PyTorch checkpoint (``torch.save``: .pt, .pth, .bin, recognised by its zip
    header) is read too, without unpickling (see :mod:`tinynet.io_torch`): a
    state dict as {name: Tensor}, anything nested (``{"model": ..., "epoch":
    3}``) with its tensors as Tensors; a tensor saved twice is one Tensor. One
    in torch's format before 1.6 raises ValueError saying so.

    path may also be a binary file object (``with open(p, 'rb') as f: tn.load(f)``), read
    from its position to its end; PyTorch checkpoints are read from paths only.
    """
    if map_location is not None:
        if not isinstance(map_location, str):
            raise TypeError(f"load {path}: map_location must be a device or device string "
                            f"('cpu', 'cuda:0'), got {type(map_location).__name__}")
        device = map_location
    device = backend.normalize_device(device)
    where = _where(path)
    if _is_file(path):
        path = _read_fileobj(path, f"load {where}")
    elif io_torch.is_torch_file(path):
        return _tensors_in(io_torch.load_torch(path), device, {})
    arrays, metadata = _read_arrays(path, where)
    if _STATE_KEY in metadata:
        return _decode_state(where, arrays, metadata, device)
    return {name: _make_tensor(backend.to_device(a, device)) for name, a in arrays.items()}


def _tensors_in(obj, device, done):
    """``obj`` with every ndarray in its dicts, lists and tuples made a Tensor on ``device``.
    What the file holds twice (``done``: by id) is converted once and stays shared, so a
    structure of shared parts takes linear time (``load_torch`` refused cycles)."""
    if id(obj) not in done:
        if isinstance(obj, np.ndarray):
            done[id(obj)] = _make_tensor(backend.to_device(obj, device))
        elif isinstance(obj, dict):
            done[id(obj)] = {k: _tensors_in(v, device, done) for k, v in obj.items()}
        elif isinstance(obj, (list, tuple)):
            done[id(obj)] = type(obj)(_tensors_in(v, device, done) for v in obj)
        else:
            return obj
    return done[id(obj)]


def _read_fileobj(f, what) -> io.BytesIO:
    """The rest of binary file object ``f`` as a BytesIO; a PyTorch checkpoint raises
    ValueError (``what`` starts the message): those are read from paths only."""
    buf = io.BytesIO(f.read())
    head = buf.getvalue()[:32]
    if head.startswith(io_torch.ZIP_MAGIC) or io_torch._is_legacy(head):
        raise ValueError(f"{what}: a PyTorch checkpoint; tinynet reads those from "
                         "a path only: pass the file's path")
    return buf


def load_metadata(path) -> dict:
    """The ``"__metadata__"`` {str: str} of a safetensors file ({} if none).

    Reads and validates only the header, so it is cheap on large checkpoints.
    ``path`` may be a binary file object, as with :func:`load`.
    """
    if _is_file(path):
        where = _where(path)
        return _read_header(_read_fileobj(path, f"load_metadata {where}"), where)[1]
    path = os.fspath(path)
    if io_torch.is_torch_file(path):
        return {}   # a PyTorch checkpoint has no such metadata (load says if it is unreadable)
    with open(path, "rb") as f:
        return _read_header(f, path)[1]


# ---------------------------------------------------------------- training state

_STATE_KEY = "tinynet.training_state"
_FORMAT_KEY = "format"
_FORMAT = "tinynet-training-state-v1"


def _encode(obj, name: str, arrays: dict, where: str):
    """JSON-able form of ``obj``; arrays go to ``arrays`` under a dotted name.

    Plain JSON (str, bool, int, finite float, None, list) stays as it is; every
    other kind is an object with a tag key, so decoding is unambiguous:
    {"dict": [[key, value], ...]} (keys encoded too: int keys stay ints),
    {"tuple": [...]}, {"float": "nan"|"inf"|"-inf"}, {"tensor": name, "kind": k}.
    """
    from .tensor import Tensor
    if obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, np.generic):  # before float: np.float64 subclasses float
        kind, arr = "numpy_scalar", np.asarray(obj)
    elif isinstance(obj, int):
        return int(obj)
    elif isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else {"float": repr(float(obj))}
    elif isinstance(obj, (list, tuple)):
        items = [_encode(v, f"{name}.{i}", arrays, where) for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else {"tuple": items}
    elif isinstance(obj, dict):
        return {"dict": [[_encode_key(k, where),
                          _encode(v, f"{name}.{_escape(k)}", arrays, where)]
                         for k, v in obj.items()]}
    elif isinstance(obj, Tensor):
        kind, arr = "tensor", _as_numpy(obj, where)
    elif _is_array(obj):
        kind, arr = "ndarray", _as_numpy(obj, where)
    else:
        raise TypeError(f"{where}: cannot store a {type(obj).__name__} in a training state "
                        "(allowed: dict, list, tuple, str, int, float, bool, None, numpy "
                        "scalars, arrays, Tensors)")
    key, i = name, 1
    while key in arrays:  # e.g. {0: a, "0": b} both want "x.0"
        key, i = f"{name}~{i}", i + 1
    arrays[key] = arr
    return {"tensor": key, "kind": kind}


def _encode_key(key, where: str):
    """A dict key: None, str, bool, int, float or a tuple of those.

    numpy scalar keys are stored as the equal Python scalar (``np.int64(3)`` -> ``3``).
    """
    if isinstance(key, np.generic):
        key = key.item()
    if key is None or isinstance(key, (str, bool, int, float)):
        return _encode(key, "", {}, where)
    if isinstance(key, tuple):
        return {"tuple": [_encode_key(k, where) for k in key]}
    raise TypeError(f"{where}: cannot store a dict key of type {type(key).__name__} "
                    "(allowed: None, str, bool, int, float, tuple)")


def _escape(key) -> str:
    """A dict key as one component of a dotted tensor name ('.' and '\\' escaped)."""
    return str(key).replace("\\", "\\\\").replace(".", "\\.")


def _decode(obj, arrays: dict, device: str):
    if isinstance(obj, list):
        return [_decode(v, arrays, device) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "tensor" in obj:
        arr, kind = arrays[obj["tensor"]], obj["kind"]
        if kind == "numpy_scalar":
            return arr[()]
        arr = backend.to_device(arr, device)
        return _make_tensor(arr) if kind == "tensor" else arr
    (tag, value), = obj.items()
    if tag == "dict":
        return {_decode(k, arrays, device): _decode(v, arrays, device) for k, v in value}
    if tag == "tuple":
        return tuple(_decode(v, arrays, device) for v in value)
    if tag == "float":
        return float(value)
    raise ValueError(f"unknown tag {tag!r}")


def save_training_state(path, **parts) -> None:
    """Save a whole training checkpoint, e.g.
    ``save_training_state(p, model=m.state_dict(), optimizer=opt.state_dict(),
    scheduler=sched.state_dict(), rng=tn.backend.get_rng_state(), epoch=3)``.

    Each part may nest dicts (any str/int/float/bool/None/tuple keys), lists,
    tuples, str, int, float, bool, None, numpy/cupy arrays, numpy scalars and
    Tensors. Arrays become safetensors tensors named by their dotted path
    (``optimizer.state.0.exp_avg``, a '.' inside a key escaped as '\\.');
    the rest is JSON in the metadata. Ints stay ints (any size, dict keys
    too), floats round-trip exactly (NaN, inf and -0.0 included), tuples stay
    tuples, array dtypes and shapes are preserved; ``requires_grad`` is not
    stored. The result is an ordinary safetensors file, written atomically
    like :func:`save` (or into a file object, as :func:`save` does).
    """
    _save_state(path, parts, "save_training_state")


def _save_state(path, parts: dict, op: str) -> None:
    """:func:`save_training_state` of ``parts``, its errors naming ``op``."""
    arrays = {}
    tree = {k: _encode(v, _escape(k), arrays, f"{op} {_where(path)}: part {k!r}")
            for k, v in parts.items()}
    meta = {_FORMAT_KEY: _FORMAT, _STATE_KEY: json.dumps(tree, separators=(",", ":"))}
    save(arrays, path, metadata=meta)


def load_training_state(path, device="cpu") -> dict:
    """The ``parts`` given to :func:`save_training_state`, as a dict.

    Tensors come back as tn.Tensor (not requiring grad), numpy/cupy arrays as
    arrays, both on ``device``; numpy scalars as numpy scalars. Never unpickles.
    ``path`` may be a binary file object, as with :func:`load`.
    """
    source, path = path, _where(path)
    device = backend.normalize_device(device)
    if _is_file(source):
        source = _read_fileobj(source, f"load_training_state {path}")
    elif io_torch.is_torch_file(path):   # else "header length ... larger than the file"
        raise ValueError(f"{path}: a PyTorch checkpoint (torch.save), not a training-state "
                         "file written by tn.io.save_training_state; tn.load reads its tensors")
    arrays, metadata = _read_arrays(source, path)
    if _STATE_KEY not in metadata:
        raise ValueError(f"{path}: not a training-state file (no {_STATE_KEY!r} metadata); "
                         "use tn.load for plain state dicts")
    return _decode_state(path, arrays, metadata, device)


def _decode_state(path, arrays, metadata, device) -> dict:
    """The parts of a training-state file from its arrays and metadata."""
    if metadata.get(_FORMAT_KEY) != _FORMAT:
        raise ValueError(f"{path}: training-state format {metadata.get(_FORMAT_KEY)!r} is not "
                         f"{_FORMAT!r}")
    try:
        tree = json.loads(metadata[_STATE_KEY])
        return {k: _decode(v, arrays, device) for k, v in tree.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{path}: corrupt training-state metadata ({type(e).__name__}: {e})") \
            from None
