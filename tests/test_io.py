"""tinynet.io: safetensors save/load, validation of malformed files, atomic
writes, compatibility with the reference implementation, training states."""
import json
import math
import os
import pickle

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

from tinynet import backend
from tinynet import io as tio
from tinynet.tensor import Tensor

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
          "I32": np.int32, "I16": np.int16, "I8": np.int8, "U64": np.uint64,
          "U32": np.uint32, "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_}


def _header(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return n, json.loads(f.read(n))


def _raw(path, header, data=b"", n=None):
    """Write a hand-made safetensors file (possibly malformed)."""
    blob = header if isinstance(header, bytes) else json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write((len(blob) if n is None else n).to_bytes(8, "little") + blob + data)
    return path


def _sample(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    return rng.standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------- round trips

@pytest.mark.parametrize("code", sorted(DTYPES))
@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (5,), (2, 3, 4)])
def test_round_trip_every_dtype_and_shape(tmp_path, device, code, shape):
    a = _sample(DTYPES[code], shape)
    p = tmp_path / "x.safetensors"
    tio.save({"x": a}, p)
    out = tio.load(p, device=device)["x"]
    assert isinstance(out, Tensor) and out.device == device and not out.requires_grad
    assert out.dtype == a.dtype and out.shape == a.shape
    np.testing.assert_array_equal(backend.to_numpy(out.data), a)
    _, h = _header(p)
    assert h["x"]["dtype"] == code and h["x"]["shape"] == list(shape)


@given(hnp.arrays(st.sampled_from([np.float32, np.float64, np.float16, np.int32, np.uint8,
                                   np.bool_]), hnp.array_shapes(min_dims=0, min_side=0,
                                                                max_side=4)))
def test_round_trip_property(tmp_path_factory, a):
    p = tmp_path_factory.mktemp("h") / "a.safetensors"
    tio.save({"a": a}, p)
    out = tio.load(p)["a"].data
    assert out.dtype == a.dtype and out.shape == a.shape
    # bitwise equal, NaN payloads included
    assert out.tobytes() == np.ascontiguousarray(a).tobytes()


def test_layout_header_and_names(tmp_path):
    sd = {"z.weight": np.ones((2, 2), np.float32), "layer.0.bias": np.arange(3, dtype=np.int64),
          "a": np.zeros((), np.float16), "ünï.cödé": np.array([True])}
    p = tmp_path / "m.safetensors"
    tio.save(sd, p, metadata={"framework": "tinynet"})
    n, h = _header(p)
    assert n % 8 == 0
    with open(p, "rb") as f:
        assert f.read(9)[8:] == b"{"
    assert h.pop("__metadata__") == {"framework": "tinynet"}
    assert list(h) == list(sd)  # header keeps the caller's order
    by_offset = sorted(h, key=lambda k: h[k]["data_offsets"][0])
    assert by_offset == sorted(sd)  # bytes laid out in sorted-name order
    assert os.path.getsize(p) == 8 + n + sum(a.nbytes for a in sd.values())
    out = tio.load(p)
    assert list(out) == list(sd)
    for k in sd:
        np.testing.assert_array_equal(out[k].data, sd[k])
    assert tio.load_metadata(p) == {"framework": "tinynet"}


def test_tensors_views_and_byte_order(tmp_path):
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    sd = {"t": Tensor(base, requires_grad=True), "view": base.T[::2],
          "big": base.astype(">f4"), "int_be": np.arange(5, dtype=">i8")}
    p = tmp_path / "v.safetensors"
    tio.save(sd, p)
    out = tio.load(p)
    np.testing.assert_array_equal(out["t"].data, base)
    np.testing.assert_array_equal(out["view"].data, base.T[::2])
    assert out["big"].dtype == np.float32 and out["big"].dtype.isnative
    np.testing.assert_array_equal(out["big"].data, base)
    np.testing.assert_array_equal(out["int_be"].data, np.arange(5))
    assert tio.load_metadata(p) == {}


def test_empty_state_dict(tmp_path):
    p = tmp_path / "e.safetensors"
    tio.save({}, p)
    assert tio.load(p) == {}


def test_load_takes_pytorchs_map_location_and_weights_only(tmp_path):
    # model.load_state_dict(torch.load(PATH, map_location=device, weights_only=True))
    p = tmp_path / "m.pt"
    tio.save({"w": np.ones(3, dtype=np.float32)}, p)
    for kwargs in ({"map_location": "cpu"}, {"map_location": backend.device("cpu")},
                   {"weights_only": True}, {"map_location": "cpu", "weights_only": False}):
        w = tio.load(p, **kwargs)["w"]
        assert w.device == "cpu" and w.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(TypeError, match="map_location must be a device"):
        tio.load(p, map_location=lambda storage, loc: storage)


def test_save_of_a_whole_checkpoint_loads_back_as_it_was(tmp_path):
    # torch.save({'model': ..., 'optimizer': ..., 'iter_num': ...}, path); torch.load(path)
    p = tmp_path / "ckpt.pt"
    ckpt = {"model": {"w": Tensor(np.arange(3, dtype=np.float32))},
            "optimizer": {"state": {0: {"step": 2, "m": np.ones(2)}},
                          "param_groups": [{"lr": 0.1, "betas": (0.9, 0.95), "params": [0]}]},
            "model_args": {"n_layer": 2, "bias": True}, "iter_num": 7,
            "best_val_loss": Tensor(np.array(1.5, np.float32)), "l": [1, 2]}
    tio.save(ckpt, p)
    back = tio.load(p, map_location="cpu")
    _same(back, ckpt)
    _same(tio.load_training_state(p), ckpt)
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.95)
    # still a plain safetensors file for other readers: the tensors under dotted names
    assert sorted(_header(p)[1]) == ["__metadata__", "best_val_loss", "model.w",
                                     "optimizer.state.0.m"]


def test_loaded_arrays_own_their_memory(tmp_path):
    p = tmp_path / "o.safetensors"
    tio.save({"a": np.arange(10, dtype=np.float32)}, p)
    a = tio.load(p)["a"].data
    os.remove(p)  # the file is closed and nothing maps it
    assert a.flags.writeable and a.flags.c_contiguous
    a[0] = 7.0
    assert a[0] == 7.0 and a[9] == 9.0


def test_save_rejects_bad_input(tmp_path):
    p = tmp_path / "bad.safetensors"
    with pytest.raises(TypeError, match="complex64"):
        tio.save({"c": np.zeros(2, np.complex64)}, p)
    with pytest.raises(TypeError, match="names must be str"):
        tio.save({0: np.zeros(2)}, p)
    with pytest.raises(TypeError, match="'model' is not a tensor.*metadata= goes with a flat"):
        tio.save({"model": {"w": np.zeros(2)}, "epoch": 3}, p, metadata={"a": "b"})
    with pytest.raises(TypeError, match="top-level keys must be str, got 0"):
        tio.save({"model": {"w": np.zeros(2)}, 0: 3}, p)
    with pytest.raises(ValueError, match="reserved"):
        tio.save({"__metadata__": np.zeros(2)}, p)
    with pytest.raises(TypeError, match="metadata"):
        tio.save({}, p, metadata={"a": 1})
    assert not os.listdir(tmp_path)


@pytest.mark.skipif(not backend.cuda_is_available(), reason="needs CuPy and a GPU")
def test_cuda_save_and_load(tmp_path):
    cp = backend.xp_for("cuda")
    p = tmp_path / "g.safetensors"
    tio.save({"g": cp.arange(6, dtype=cp.float32).reshape(2, 3)}, p)
    out = tio.load(p, device="cuda")["g"]
    assert out.device == "cuda:0"
    np.testing.assert_array_equal(backend.to_numpy(out.data), np.arange(6).reshape(2, 3))


# ---------------------------------------------------------------- reference compatibility

def test_compatible_with_safetensors_package(tmp_path):
    stn = pytest.importorskip("safetensors.numpy")
    safetensors = pytest.importorskip("safetensors")
    sd = {f"{code.lower()}.w": _sample(dt, (3, 2), i)
          for i, (code, dt) in enumerate(DTYPES.items())}
    sd["scalar"], sd["empty"] = np.array(2.5, np.float32), np.zeros((0, 4), np.int32)
    ours = tmp_path / "ours.safetensors"
    tio.save(sd, ours, metadata={"k": "v"})
    theirs = stn.load_file(str(ours))
    assert set(theirs) == set(sd)
    for k in sd:
        assert theirs[k].dtype == sd[k].dtype and theirs[k].shape == sd[k].shape
        np.testing.assert_array_equal(theirs[k], sd[k])
    with safetensors.safe_open(str(ours), "np") as f:
        assert f.metadata() == {"k": "v"}

    ref = tmp_path / "ref.safetensors"
    stn.save_file(sd, str(ref), metadata={"format": "np"})
    back = tio.load(ref)
    assert set(back) == set(sd)
    for k in sd:
        assert back[k].dtype == sd[k].dtype and back[k].shape == sd[k].shape
        np.testing.assert_array_equal(back[k].data, sd[k])
    assert tio.load_metadata(ref) == {"format": "np"}


def test_bf16_loads_as_float32(tmp_path):
    # bf16 bit patterns of 1.0, -2.5, 3.140625, 0, inf: the top 16 bits of the float32
    vals = np.array([1.0, -2.5, 3.140625, 0.0, np.inf], np.float32)
    bits = (vals.view(np.uint32) >> 16).astype("<u2")
    p = _raw(tmp_path / "bf.safetensors",
             {"b": {"dtype": "BF16", "shape": [5], "data_offsets": [0, 10]}}, bits.tobytes())
    out = tio.load(p)["b"]
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.data, vals)


def test_bf16_from_torch(tmp_path):
    torch = pytest.importorskip("torch")
    stt = pytest.importorskip("safetensors.torch")
    t = torch.randn(4, 3).to(torch.bfloat16)
    p = tmp_path / "t.safetensors"
    stt.save_file({"w": t}, str(p))
    np.testing.assert_array_equal(tio.load(p)["w"].data, t.float().numpy())


# ---------------------------------------------------------------- malformed files

F32_2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
MALFORMED = {
    "short": (lambda p: p.write_bytes(b"\x01\x02\x03"), "shorter than"),
    "header_longer_than_file": (lambda p: _raw(p, {}, n=4096), "larger than the file"),
    "oversized": (lambda p: _raw(p, {}, n=200 * 1024 * 1024), "oversized header"),
    "bad_json": (lambda p: _raw(p, b"{not json"), "not valid UTF-8 JSON"),
    "bad_utf8": (lambda p: _raw(p, b'{"\xff": 1}'), "not valid UTF-8 JSON"),
    "not_a_dict": (lambda p: _raw(p, b"[1, 2]"), "JSON object"),
    "entry_not_a_dict": (lambda p: _raw(p, {"x": [1]}), "'dtype', 'shape'"),
    "unknown_dtype": (lambda p: _raw(p, {"x": {"dtype": "C64", "shape": [1],
                                              "data_offsets": [0, 8]}}, bytes(8)),
                      "unknown dtype 'C64'"),
    "bad_shape": (lambda p: _raw(p, {"x": {"dtype": "U8", "shape": [-1],
                                          "data_offsets": [0, 0]}}), "shape must be"),
    "bad_offsets": (lambda p: _raw(p, {"x": {"dtype": "U8", "shape": [1],
                                            "data_offsets": [1, 0]}}), "data_offsets must"),
    "shape_offset_mismatch": (lambda p: _raw(p, {"x": {"dtype": "F32", "shape": [3],
                                                      "data_offsets": [0, 8]}}, bytes(8)),
                              "shape/offset mismatch"),
    "out_of_bounds": (lambda p: _raw(p, {"x": {"dtype": "F32", "shape": [2],
                                              "data_offsets": [0, 8]}}, bytes(4)),
                      "out of bounds"),
    "truncated": (lambda p: _raw(p, {"a": F32_2, "b": {"dtype": "F32", "shape": [2],
                                                     "data_offsets": [8, 16]}}, bytes(12)),
                  "truncated data"),
    "overlap": (lambda p: _raw(p, {"a": F32_2, "b": {"dtype": "F32", "shape": [1],
                                                     "data_offsets": [4, 8]}}, bytes(8)),
                "overlap"),
    "gap": (lambda p: _raw(p, {"a": F32_2, "b": {"dtype": "F32", "shape": [1],
                                                 "data_offsets": [12, 16]}}, bytes(16)),
            "gap"),
    "trailing_bytes": (lambda p: _raw(p, {"a": F32_2}, bytes(12)), "trailing bytes"),
    "bad_metadata": (lambda p: _raw(p, {"__metadata__": {"a": 1}}), "__metadata__"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file_raises_value_error_naming_file(tmp_path, case):
    make, message = MALFORMED[case]
    p = tmp_path / f"{case}.safetensors"
    make(p)
    with pytest.raises(ValueError, match=message) as err:
        tio.load(p)
    assert str(p) in str(err.value)
    if case != "short":
        with pytest.raises(ValueError):
            tio.load_metadata(p)


def test_header_only_files_are_valid(tmp_path):
    p = _raw(tmp_path / "h.safetensors", {"__metadata__": {"a": "b"}})
    assert tio.load(p) == {} and tio.load_metadata(p) == {"a": "b"}


# ---------------------------------------------------------------- atomic writes

def _write_and_crash(tmp_path, monkeypatch, target, exc=OSError("disk on fire")):
    p = tmp_path / "ckpt.safetensors"
    tio.save({"w": np.arange(4, dtype=np.float32)}, p)
    before = p.read_bytes()
    monkeypatch.setattr(*target)
    with pytest.raises(type(exc)):
        tio.save({"w": np.zeros(1000, np.float32), "x": np.ones(3, np.float32)}, p)
    monkeypatch.undo()
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]  # no temp file left behind
    np.testing.assert_array_equal(tio.load(p)["w"].data, np.arange(4))


def test_crash_mid_write_leaves_old_file(tmp_path, monkeypatch):
    calls = []
    real = tio._write_array

    def flaky(f, arr, le):
        calls.append(1)
        if len(calls) == 2:  # first tensor written, second one fails
            raise OSError("disk full")
        real(f, arr, le)
    _write_and_crash(tmp_path, monkeypatch, (tio, "_write_array", flaky))


def test_interrupt_mid_write_leaves_old_file(tmp_path, monkeypatch):
    def interrupt(f, arr, le):
        raise KeyboardInterrupt
    _write_and_crash(tmp_path, monkeypatch, (tio, "_write_array", interrupt), KeyboardInterrupt())


def test_crash_at_fsync_leaves_old_file(tmp_path, monkeypatch):
    def boom(fd):
        raise OSError("fsync failed")
    _write_and_crash(tmp_path, monkeypatch, (os, "fsync", boom))


def test_save_replaces_atomically_and_keeps_umask_mode(tmp_path):
    p = tmp_path / "m.safetensors"
    tio.save({"a": np.ones(2, np.float32)}, p)
    tio.save({"a": np.zeros(3, np.float32)}, p)
    np.testing.assert_array_equal(tio.load(p)["a"].data, np.zeros(3))
    assert os.listdir(tmp_path) == ["m.safetensors"]
    if os.name == "posix":
        umask = os.umask(0)
        os.umask(umask)
        assert os.stat(p).st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.skipif(os.name != "posix", reason="symlinks and permission bits are POSIX")
def test_save_writes_through_a_symlink_and_keeps_the_file_mode(tmp_path):
    target, link = tmp_path / "m.safetensors", tmp_path / "latest.safetensors"
    tio.save({"a": np.ones(2, np.float32)}, target)
    os.chmod(target, 0o600)
    os.symlink("m.safetensors", link)
    tio.save({"a": np.zeros(3, np.float32)}, link)
    assert os.path.islink(link) and sorted(os.listdir(tmp_path)) == sorted([target.name, link.name])
    np.testing.assert_array_equal(tio.load(target)["a"].data, np.zeros(3))
    assert os.stat(target).st_mode & 0o777 == 0o600


# ---------------------------------------------------------------- no pickle

def test_load_never_unpickles(tmp_path, monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("pickle used while loading")
    for name in ("load", "loads", "Unpickler", "_Unpickler", "_load", "_loads"):
        if hasattr(pickle, name):
            monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(np, "load", forbidden)
    p, q = tmp_path / "a.safetensors", tmp_path / "s.safetensors"
    tio.save({"a": np.arange(3)}, p)
    tio.save_training_state(q, opt={"state": {0: {"m": np.ones(2)}}}, epoch=1)
    assert tio.load(p)["a"].shape == (3,)
    assert tio.load_metadata(p) == {}
    assert tio.load_training_state(q)["epoch"] == 1
    import inspect
    import re
    assert not re.search(r"\bimport pickle\b|\bpickle\.\w|allow_pickle", inspect.getsource(tio))


# ---------------------------------------------------------------- training states

def _same(a, b, where="root"):
    """Deep equality that also checks types, dtypes and NaNs."""
    if isinstance(a, Tensor):
        assert isinstance(b, Tensor), where
        a, b = a.data, b.data
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for (ka, va), kb in zip(a.items(), b):
            assert type(ka) is type(kb), f"{where}: key {ka!r}"
            _same(va, b[kb], f"{where}.{ka}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b), where
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), where
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) ==
                                                     math.copysign(1, b)), f"{where}: {a} {b}"
    else:
        assert a == b, where


def test_adam_state_dict_round_trip(tmp_path):
    opt = {"state": {0: {"step": 3, "exp_avg": np.arange(4, dtype=np.float32),
                         "exp_avg_sq": np.full((2, 2), 0.5, np.float32)},
                     1: {"step": 3, "exp_avg": np.zeros((), np.float64),
                         "exp_avg_sq": Tensor(np.ones(3, np.float32))}},
            "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8,
                              "weight_decay": 0.0, "amsgrad": False, "params": [0, 1]}]}
    model = {"fc.weight": Tensor(np.ones((2, 3), np.float32)), "fc.bias": np.zeros(2, np.float32)}
    parts = dict(model=model, optimizer=opt, scheduler={"last_epoch": 7, "base_lrs": [0.1],
                                                        "gamma": 1 / 3, "note": None},
                 epoch=4, step=1234, best=float("inf"))
    p = tmp_path / "train.safetensors"
    tio.save_training_state(p, **parts)
    back = tio.load_training_state(p)
    _same(parts, back)
    assert list(back["optimizer"]["state"]) == [0, 1]  # int keys stay ints
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    names = set(_header(p)[1]) - {"__metadata__"}  # arrays are ordinary, readable tensors
    stn = pytest.importorskip("safetensors.numpy")
    assert set(stn.load_file(str(p))) == names
    assert {"model.fc\\.weight", "optimizer.state.0.exp_avg",
            "optimizer.state.1.exp_avg_sq"} <= names


def test_rng_state_round_trip_restores_stream(tmp_path):
    """get_rng_state covers the CPU generator (the one DataLoaders and init draw from)."""
    backend.manual_seed(123)
    backend.get_generator("cpu").random(5)
    p = tmp_path / "rng.safetensors"
    tio.save_training_state(p, rng=backend.get_rng_state())
    expected = backend.get_generator("cpu").random(4)
    backend.manual_seed(999)
    backend.set_rng_state(tio.load_training_state(p)["rng"])
    np.testing.assert_array_equal(backend.get_generator("cpu").random(4), expected)


def test_training_state_key_collisions_and_odd_values(tmp_path):
    parts = {"d": {0: np.ones(1), "0": np.zeros(1), "a.b": np.full(1, 2.0),
                   "a": {"b": np.full(1, 3.0)}, (1, "x"): "tuple key", None: -0.0,
                   2.5: float("nan"), True: [np.int8(-3), np.float32(0.25), 10 ** 40]},
             "empty": {}, "s": "text", "unicode": "λ→∞"}
    p = tmp_path / "odd.safetensors"
    tio.save_training_state(p, **parts)
    _same(parts, tio.load_training_state(p))


def test_training_state_errors(tmp_path):
    p = tmp_path / "t.safetensors"
    with pytest.raises(TypeError, match="part 'x'.*set"):
        tio.save_training_state(p, x={"a": {1, 2}})
    with pytest.raises(TypeError, match="dict key"):
        tio.save_training_state(p, x={frozenset(): 1})
    assert not os.listdir(tmp_path)
    tio.save({"a": np.ones(1)}, p)
    with pytest.raises(ValueError, match="not a training-state file"):
        tio.load_training_state(p)


_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                  st.text(max_size=5),
                  hnp.arrays(st.sampled_from([np.float32, np.int64, np.uint8]),
                             hnp.array_shapes(min_dims=0, max_side=3)))
_tree = st.recursive(_leaf, lambda c: st.one_of(
    st.lists(c, max_size=3), st.tuples(c, c),
    st.dictionaries(st.one_of(st.integers(-5, 5), st.text(max_size=4)), c, max_size=3)),
    max_leaves=12)


@given(_tree)
def test_training_state_round_trip_property(tmp_path_factory, tree):
    p = tmp_path_factory.mktemp("ts") / "t.safetensors"
    tio.save_training_state(p, tree=tree)
    _same({"tree": tree}, tio.load_training_state(p))


def test_save_and_load_through_file_objects(tmp_path):
    """``with open(f, 'wb') as f: torch.save(sd, f)`` and ``torch.load(f)``, as PyTorch does:
    a file object is written at its position and left open, and read to its end."""
    import io

    sd = {"w": Tensor(np.arange(6, dtype=np.float32).reshape(2, 3)),
          "n": np.array([1, 2], dtype=np.int64)}
    path = str(tmp_path / "model.pt")
    with open(path, "wb") as f:
        tio.save(sd, f)
        assert not f.closed
    with open(path, "rb") as f:
        back = tio.load(f)
    assert list(back) == ["w", "n"] and back["w"].numpy().tolist() == [[0, 1, 2], [3, 4, 5]]
    assert back["n"].dtype == np.int64
    assert tio.load(path)["w"].shape == (2, 3)   # the same file, by its path

    buf = io.BytesIO()   # a whole checkpoint, in memory
    tio.save({"model": sd, "epoch": 3}, buf)
    buf.seek(0)
    ckpt = tio.load(buf)
    assert ckpt["epoch"] == 3 and ckpt["model"]["w"].shape == (2, 3)

    buf = io.BytesIO()   # save_training_state writes to a file object too: read it back
    tio.save_training_state(buf, model=sd, epoch=3)
    buf.seek(0)
    assert tio.load_training_state(buf)["epoch"] == 3
    buf.seek(0)
    assert tio.load_metadata(buf)["format"] == "tinynet-training-state-v1"

    with pytest.raises(ValueError, match="BytesIO: not a safetensors file"):
        tio.load(io.BytesIO(b"abc"))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(open(path, "rb").read()[:-4])
    with open(bad, "rb") as f, pytest.raises(ValueError, match=r"bad\.pt: .*truncated"):
        tio.load(f)   # errors name the file object's file


def test_saving_a_whole_module_says_to_save_its_state_dict(tmp_path):
    # torch.save(model, path) pickles the model object; tinynet files never hold pickles
    import tinynet as tn
    with pytest.raises(TypeError, match=r"got Linear; .*save Linear's \.state_dict\(\)"):
        tn.save(tn.nn.Linear(2, 2), tmp_path / "model.pt")
    assert not (tmp_path / "model.pt").exists()
