"""PyTorch checkpoints (tinynet/io_torch.py) read without unpickling: values equal torch's
for every dtype, views, shared storages and nesting; anything but a state dict's few
callables refused before it runs; corrupt and legacy files named in the error."""
import collections
import os
import pickle
import zipfile

import numpy as np
import pytest

import tinynet as tn
from tinynet.io_torch import load_torch
from torch_pickles import glob as _global
from torch_pickles import integer as _int
from torch_pickles import tensor as _tensor_pickle
from torch_pickles import text as _unicode
from torch_pickles import write_zip as _write_zip


# ---------------------------------------------------------------- files built by hand (no torch)

def test_hand_built_state_dict_with_a_strided_view(tmp_path):
    storage = np.arange(12, dtype="<f4")
    pkl = (b"\x80\x02" + _global("collections", "OrderedDict") + b")R(" + _unicode("w")
           + _tensor_pickle("0", "FloatStorage", 12, 1, (3, 2), (1, 3))
           + _unicode("n") + _int(7) + b"u.")
    path = tmp_path / "hand.pth"
    _write_zip(path, pkl, {"0": storage.tobytes()})
    out = load_torch(path)
    expect = np.lib.stride_tricks.as_strided(storage[1:], (3, 2), (4, 12))
    np.testing.assert_array_equal(out["w"], expect)
    assert out["w"].flags.owndata and out["n"] == 7
    loaded = tn.load(str(path))                       # tn.load recognises the format
    assert isinstance(loaded["w"], tn.Tensor) and loaded["w"].dtype == np.float32


def test_big_endian_file_is_read_in_native_order(tmp_path):
    storage = np.array([1.5, -2.0, 3.25], dtype=">f8")
    pkl = (b"\x80\x02}(" + _unicode("x") + _tensor_pickle("0", "DoubleStorage", 3, 0, (3,), (1,))
           + b"u.")
    path = tmp_path / "be.pt"
    _write_zip(path, pkl, {"0": storage.tobytes()}, byteorder=b"big")
    np.testing.assert_array_equal(load_torch(path)["x"], [1.5, -2.0, 3.25])


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    _write_zip(path, pickle.dumps({"w": _Evil(marker)}, protocol=2), {})
    with pytest.raises(ValueError, match=r"evil\.pth.*(posix|os|nt)\.system.*nothing in the file"):
        tn.load(str(path))
    assert not marker.exists()
    for proto in (4, 5):      # STACK_GLOBAL instead of GLOBAL
        _write_zip(path, pickle.dumps(_Evil(marker), protocol=proto), {})
        with pytest.raises(ValueError, match="system"):
            load_torch(path)
    assert not marker.exists()


def test_object_building_opcodes_are_refused(tmp_path):
    path = tmp_path / "obj.pth"
    _write_zip(path, pickle.dumps(collections.Counter(a=1), protocol=2), {})   # a class: refused
    with pytest.raises(ValueError, match=r"collections.Counter.*If you trust the file, save "
                                         r"just its weights with PyTorch"):
        load_torch(path)
    _write_zip(path, b"\x80\x02" + _global("collections", "OrderedDict") + b")\x81.", {})  # NEWOBJ
    with pytest.raises(ValueError, match="opcode NEWOBJ"):
        load_torch(path)


@pytest.mark.parametrize("case, message", [
    ("short storage", "holds 8 bytes, expected 12 x 4"),
    ("past the end", "reaches past its storage"),
    ("missing storage", "storage '0' is missing"),
    ("no data.pkl", "without one data.pkl"),
    ("truncated pickle", "corrupt pickle"),
])
def test_corrupt_files_name_the_file_and_the_problem(tmp_path, case, message):
    path = tmp_path / "bad.pth"
    good = (b"\x80\x02}(" + _unicode("x") + _tensor_pickle("0", "FloatStorage", 12, 0, (3, 4),
                                                         (4, 1)) + b"u.")
    data = {"0": np.zeros(12, "<f4").tobytes()}
    if case == "short storage":
        data["0"] = data["0"][:8]
    elif case == "past the end":
        good = good.replace(_int(4) + _int(1), _int(5) + _int(1))
    elif case == "missing storage":
        data = {}
    if case == "no data.pkl":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("archive/other", b"")
    else:
        _write_zip(path, good[:-6] if case == "truncated pickle" else good, data)
    with pytest.raises(ValueError, match=message) as err:
        load_torch(path)
    assert "bad.pth" in str(err.value)


def test_legacy_and_unknown_files_say_what_they_are(tmp_path):
    legacy = tmp_path / "old.pth"
    legacy.write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + b"...")
    with pytest.raises(ValueError, match="before PyTorch 1.6"):
        load_torch(legacy)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="junk.bin: neither"):
        tn.load(str(junk))


# ---------------------------------------------------------------- files written by torch

def test_every_dtype_view_and_nesting_equals_torch(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    base = torch.randn(4, 6)
    lin = torch.nn.Linear(3, 2)
    obj = {
        "model": lin.state_dict(),                    # OrderedDict with _metadata (BUILD)
        "f32": torch.randn(2, 3), "f64": torch.randn(3, dtype=torch.float64),
        "f16": torch.randn(5).half(), "bf16": torch.tensor([1.5, -2.25, 3e38]).bfloat16(),
        "i64": torch.arange(-3, 3), "i32": torch.arange(4, dtype=torch.int32),
        "i16": torch.arange(4, dtype=torch.int16), "i8": torch.arange(-2, 2, dtype=torch.int8),
        "u8": torch.arange(4, dtype=torch.uint8), "bool": torch.tensor([True, False]),
        "scalar": torch.tensor(2.5), "empty": torch.zeros(0, 3),
        "transposed": base.T, "sliced": base[1:, ::2],           # views keep strides
        "shared_a": base[0], "shared_b": base[2],                 # one storage, two tensors
        "param": torch.nn.Parameter(torch.ones(2)),
        "epoch": 3, "lr": 0.1, "name": "résumé", "flags": [True, None], "pair": (1, 2),
        "raw": b"\x00\xffbytes",
    }
    path = tmp_path / "ckpt.pt"
    torch.save(obj, path)
    out = load_torch(path)
    for key, value in obj.items():
        if isinstance(value, torch.Tensor):
            ref = value.detach().float() if value.dtype == torch.bfloat16 else value.detach()
            assert out[key].dtype == ref.numpy().dtype, key
            np.testing.assert_array_equal(out[key], ref.numpy(), err_msg=key)
        elif key == "model":
            assert list(out[key]) == ["weight", "bias"]
            np.testing.assert_array_equal(out[key]["weight"], lin.weight.detach().numpy())
        else:
            assert out[key] == value, key
    loaded = tn.load(str(path))
    assert isinstance(loaded["model"]["bias"], tn.Tensor) and loaded["epoch"] == 3
    assert tn.load_metadata(str(path)) == {}


def test_a_huge_declared_storage_is_refused_before_reading(tmp_path):
    pkl = (b"\x80\x02}(" + _unicode("x") + _tensor_pickle("0", "FloatStorage", 2 ** 31 - 1, 0,
                                                        (1,), (1,)) + b"u.")
    path = tmp_path / "lie.pth"
    _write_zip(path, pkl, {"0": b"\x00" * 4})
    with pytest.raises(ValueError, match="holds 4 bytes"):
        load_torch(path)


def test_a_cyclic_structure_is_an_error_not_a_crash(tmp_path):
    path = tmp_path / "cycle.pth"
    loop = []
    loop.append(loop)
    _write_zip(path, pickle.dumps(loop, protocol=2), {})
    with pytest.raises(ValueError, match="cyclic"):
        tn.load(str(path))
