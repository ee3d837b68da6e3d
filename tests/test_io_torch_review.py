"""Review of tinynet/io_torch.py: hostile files (out-of-bounds views, memory and time bombs,
C-stack crashes, leaked internals, zip-level errors) must raise ValueError naming the file,
quickly; a mutation fuzz over valid files; fidelity against torch.save."""
import json
import os
import random
import struct
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import tinynet as tn
from tinynet.io_torch import load_torch
from torch_pickles import glob as _glob
from torch_pickles import integer as _int
from torch_pickles import ints as _ints
from torch_pickles import storage as _storage
from torch_pickles import tensor as _tensor
from torch_pickles import text as _str
from torch_pickles import write_zip


# ---------------------------------------------------------------- hand-built pickles (protocol 2)

def _dict(**items):
    return b"}(" + b"".join(_str(k) + v for k, v in items.items()) + b"u"


def _zip(path, pkl, storages=None, method=zipfile.ZIP_STORED):
    return write_zip(path, pkl, storages, method=method)


def _refused(path, match=None, loader=load_torch, seconds=10.0):
    # a hang guard, not a speed goal: the hostile files this refuses took minutes, or
    # forever, before (exponential walks); a refusal takes milliseconds
    start = time.perf_counter()
    with pytest.raises(ValueError, match=match) as err:
        loader(str(path))
    assert os.path.basename(str(path)) in str(err.value)
    assert time.perf_counter() - start < seconds
    return str(err.value)


def _in_subprocess(code, timeout=30):
    """Run ``code`` in a fresh interpreter: a hang or a crash (segfault) fails, not kills, the
    test session."""
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"timed out after {timeout} s")
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    return proc.stdout


F32 = np.arange(12, dtype="<f4")


# ---------------------------------------------------------------- out-of-bounds and sizes

def test_a_storage_reused_with_a_larger_numel_cannot_read_past_its_bytes(tmp_path):
    # the storage cache checked the size only on first use: the second reference declared
    # 100000 elements of a 12-element storage and read the process's heap
    pkl = b"\x80\x02" + _dict(a=_tensor("0", "FloatStorage", 12, 0, (12,), (1,)),
                              b=_tensor("0", "FloatStorage", 100000, 0, (100000,), (1,))) + b"."
    _refused(_zip(tmp_path / "oob.pth", pkl, {"0": F32.tobytes()}), "holds 48 bytes")


def test_one_storage_read_as_two_dtypes_is_exactly_its_bytes(tmp_path):
    # torch.save never writes this, but a file may: each view reads the same bytes
    pkl = b"\x80\x02" + _dict(f=_tensor("0", "FloatStorage", 12, 0, (12,), (1,)),
                              u=_tensor("0", "ByteStorage", 48, 4, (4,), (1,))) + b"."
    out = load_torch(_zip(tmp_path / "two.pth", pkl, {"0": F32.tobytes()}))
    np.testing.assert_array_equal(out["f"], F32)
    assert out["u"].dtype == np.uint8
    np.testing.assert_array_equal(out["u"], np.frombuffer(F32.tobytes(), np.uint8)[4:8])


def test_any_stride_of_a_size_one_dimension_is_ignored_as_in_torch(tmp_path):
    pkl = b"\x80\x02" + _tensor("0", "FloatStorage", 12, 2, (1, 3), (2 ** 62, 1)) + b"."
    np.testing.assert_array_equal(load_torch(_zip(tmp_path / "s1.pth", pkl,
                                                  {"0": F32.tobytes()})), [[2, 3, 4]])


@pytest.mark.parametrize("offset, size, stride", [
    (0, (1,), (2 ** 70,)),            # not an int64: was OverflowError
    (2 ** 70, (0,), (1,)),
    (0, (0, 2 ** 70), (1, 1)),
    (0, (2,) * 65, (0,) * 65),        # more dimensions than an array has
    (-1, (2,), (1,)),
    (0, (2, 2), (1,)),
])
def test_impossible_geometry_is_a_value_error(tmp_path, offset, size, stride):
    pkl = b"\x80\x02" + _tensor("0", "FloatStorage", 12, offset, size, stride) + b"."
    _refused(_zip(tmp_path / "geom.pth", pkl, {"0": F32.tobytes()}))


def test_sizes_must_be_integers(tmp_path):
    pkl = (b"\x80\x02" + _glob("torch._utils", "_rebuild_tensor_v2") + b"("
           + _storage("0", "FloatStorage", 12) + _int(0) + b"(" + _str("3") + b"t(" + _int(1)
           + b"t\x89" + _glob("collections", "OrderedDict") + b")RtR.")
    _refused(_zip(tmp_path / "strsize.pth", pkl, {"0": F32.tobytes()}), "size")


# ---------------------------------------------------------------- memory out of proportion

def test_an_expanded_tensor_far_larger_than_the_file_is_refused(tmp_path):
    # 4 bytes of storage, stride 0: a 1 GiB array from a 400-byte file
    pkl = b"\x80\x02" + _tensor("0", "FloatStorage", 1, 0, (2 ** 14, 2 ** 14), (0, 0)) + b"."
    _refused(_zip(tmp_path / "expand.pth", pkl, {"0": b"\0" * 4}), "times the file")
    pkl = b"\x80\x02" + _tensor("0", "FloatStorage", 1, 0, (2 ** 31 - 1,) * 2, (0, 0)) + b"."
    _refused(_zip(tmp_path / "expand2.pth", pkl, {"0": b"\0" * 4}), "times the file")


def test_one_storage_rebuilt_again_and_again_is_refused(tmp_path):
    # the arguments memoized once, the call repeated: 3 bytes a 1 MiB copy
    fn, args = _glob("torch._utils", "_rebuild_tensor_v2"), (
        b"(" + _storage("0", "ByteStorage", 2 ** 20) + _int(0) + _ints((2 ** 20,)) + _ints((1,))
        + b"\x89}tq\x01")
    pkl = b"\x80\x02(" + fn + b"q\x00" + args + b"R" + b"h\x00h\x01R" * 200 + b"l."
    _refused(_zip(tmp_path / "again.pth", pkl, {"0": b"\0" * 2 ** 20}), "times the file")


def test_a_string_encoded_again_and_again_is_refused(tmp_path):
    enc = _glob("_codecs", "encode") + b"q\x00(" + _str("x" * 2 ** 20) + _str("latin1") + b"tq\x01"
    pkl = b"\x80\x02(" + enc + b"R" + b"h\x00h\x01R" * 200 + b"l."
    _refused(_zip(tmp_path / "enc.pth", pkl), "times the file")


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    bomb = np.zeros(2 ** 25, np.float32).tobytes()   # 128 MiB of zeros: ~130 KB deflated
    pkl = b"\x80\x02" + _tensor("0", "FloatStorage", 2 ** 25, 0, (1,), (1,)) + b"."
    path = _zip(tmp_path / "bomb.pth", pkl, {"0": bomb}, zipfile.ZIP_DEFLATED)
    assert os.path.getsize(path) < 2 ** 20
    _refused(path, "times the file")
    _zip(path, b"\x80\x02(" + b"N" * 2 ** 25 + b"l.", method=zipfile.ZIP_DEFLATED)   # data.pkl
    _refused(path, "times the file|data.pkl is over")


# ---------------------------------------------------------------- crashes and exponential time

def _dag(levels):
    """A tuple of depth ``levels`` whose two halves are the same object (memo): tiny in the
    file, 2**levels leaves to a walk that does not remember what it has seen."""
    pkl = b"]q\x00"
    for k in range(1, levels):
        pkl += b"h" + bytes([k - 1]) + b"\x86q" + bytes([k])
    return pkl


HANG_OR_CRASH = {
    # hashing a 200000-deep tuple (a dict key) overflowed the C stack: a segfault
    "deep dict key": b"\x80\x02}N" + b"\x85" * 200000 + b"Ns.",
    "deep OrderedDict key": (b"\x80\x02" + _glob("collections", "OrderedDict") + b"N"
                             + b"\x85" * 200000 + b"N\x86\x85\x85R."),
    "deep STACK_GLOBAL name": b"\x80\x04" + _str("torch") + b"N" + b"\x85" * 200000 + b"\x93.",
    # repr() of a shared-memo DAG in an error message took 2**40 steps
    "DAG in REDUCE error": b"\x80\x02" + _dag(40) + b")R.",
    "DAG in STACK_GLOBAL": b"\x80\x04" + _dag(40) + _str("x") + b"\x93.",
    "DAG as persistent id": b"\x80\x02" + _dag(40) + b"Q.",
}


@pytest.mark.parametrize("case", list(HANG_OR_CRASH))
def test_no_file_crashes_or_hangs_the_reader(tmp_path, case):
    path = _zip(tmp_path / "nasty.pth", HANG_OR_CRASH[case])
    out = _in_subprocess(f"""
from tinynet.io_torch import load_torch
try:
    load_torch({str(path)!r})
except ValueError as e:
    print("ValueError", e)
""", timeout=20)
    assert out.startswith("ValueError") and "nasty.pth" in out


def test_a_shared_structure_loads_in_linear_time_and_stays_shared(tmp_path):
    # tn.load walked the DAG as a tree: 2**40 visits
    path = _zip(tmp_path / "dag.pth", b"\x80\x02" + _dag(40) + b".")
    out = _in_subprocess(f"""
import tinynet as tn
x = tn.load({str(path)!r})
print(x[0] is x[1], x[0][0] is x[1][1])
""", timeout=20)
    assert out.split() == ["True", "True"]


def test_one_tensor_saved_twice_is_one_tensor(tmp_path):
    t = _tensor("0", "FloatStorage", 12, 0, (12,), (1,))
    pkl = b"\x80\x02}(" + _str("a") + t + b"q\x63" + _str("b") + b"h\x63u."
    out = tn.load(str(_zip(tmp_path / "twice.pth", pkl, {"0": F32.tobytes()})))
    assert out["a"] is out["b"]


@pytest.mark.parametrize("pkl, match", [
    (b"\x80\x02]q\x00h\x00a.", "cyclic"),                            # a list holding itself
    (b"\x80\x02}q\x00" + _str("me") + b"h\x00s.", "cyclic"),          # a dict holding itself
    (b"\x80\x02N" + b"\x85" * 5000 + b".", "deep"),
])
def test_cyclic_and_absurdly_deep_structures_are_refused_by_load_torch_too(tmp_path, pkl, match):
    _refused(_zip(tmp_path / "cyc.pth", pkl), match)


# ---------------------------------------------------------------- opcodes on the wrong things

@pytest.mark.parametrize("pkl", [
    b"\x80\x02(\x85.",                                                  # a MARK in a tuple
    b"\x80\x02(\x94.",                                                  # a MARK memoized
    b"\x80\x02" + _glob("torch", "FloatStorage") + b".",                # a class as a value
    b"\x80\x02" + _storage("0", "FloatStorage", 12) + b".",             # a storage as a value
    b"\x80\x02" + _dict(w=_storage("0", "FloatStorage", 12)) + b".",
    b"\x80\x02" + _tensor("0", "FloatStorage", 12, 0, (3,), (1,)) + _int(0) + _int(5) + b"s.",
    b"\x80\x02]N" + _int(1) + b"s.",                                    # SETITEM on a list
    b"\x80\x02" + _str("ab") + b"(" + _int(1) + _int(2) + b"u.",        # SETITEMS on a str
    b"\x80\x02}(" + _str("a") + b"u.",                                  # odd SETITEMS
    b"\x80\x02(" + _str("a") + b"d.",                                   # odd DICT
    b"\x80\x02}" + _str("k") + b"a.",                                   # APPEND on a dict
    b"\x80\x02}]" + _int(1) + b"s.",                                    # unhashable key
    b"\x80\x02}" + b"]\x85" + _int(1) + b"s.",                          # a key holding a list
    b"\x80\x02" + _glob("collections", "OrderedDict") + b"]\x85R.",     # OrderedDict([])
    b"\x80\x02" + _glob("torch._utils", "_rebuild_parameter") + b"(" + _str("x") + b"\x89"
    + b"}tR.",                                                          # a parameter of a str
    b"\x80\x02" + _glob("_codecs", "encode") + b"(" + _str("\u0394") + _str("latin1") + b"tR.",
    b"\x80\x04" + _int(1) + _str("x") + b"\x93.",                       # STACK_GLOBAL of an int
    b"\x80\x02N\x81.",                                                  # NEWOBJ
    b"\x80\x02(" + _str("os") + _str("system") + b"i" + b"os\nsystem\n.",   # INST
    b"\x80\x02(" + _glob("os", "system") + b"o.",                      # OBJ: the name is refused
    b"\x80\x02\x82\x01.",                                               # EXT1
    b"\x80\x02\x83\x01\x00.", b"\x80\x02\x84\x01\x00\x00\x00.",        # EXT2, EXT4
    b"\x80\x02P0\n.",                                                   # PERSID (text)
    b"\x80\x02N(\x86.",                                                 # a pop below a MARK
    b"\x80\x02(.",                                                      # STOP on a MARK
    b"\x80\x02NN.",                                                     # two values at STOP
    b"\x80\x02h\x05.",                                                  # memo unset
    b"\x80\x02L" + b"9" * 5000 + b"L\n.",                               # int too long to parse
])
def test_misused_opcodes_are_value_errors(tmp_path, pkl):
    _refused(_zip(tmp_path / "op.pth", pkl, {"0": F32.tobytes()}))


# ---------------------------------------------------------------- zip-level errors

def _patch_headers(data, field, value):
    """Set a field of every local (offset ``field[0]``) and central (``field[1]``) header."""
    out = bytearray(data)
    for sig, off in ((b"PK\x03\x04", field[0]), (b"PK\x01\x02", field[1])):
        at = out.find(sig)
        while at >= 0:
            out[at + off:at + off + 2] = struct.pack("<H", value(out[at + off:at + off + 2]))
            at = out.find(sig, at + 4)
    return bytes(out)


def test_zip_level_corruption_is_a_value_error_naming_the_file(tmp_path):
    pkl = b"\x80\x02" + _dict(x=_tensor("0", "FloatStorage", 12, 0, (12,), (1,))) + b"."
    good = _zip(tmp_path / "good.pth", pkl, {"0": F32.tobytes()}).read_bytes()
    at = good.index(F32.tobytes())
    flag = lambda bits: (lambda old: struct.unpack("<H", old)[0] | bits)   # noqa: E731
    cases = {
        "crc": good[:at] + b"\x01" + good[at + 1:],                       # was BadZipFile
        "encrypted": _patch_headers(good, (6, 8), flag(1)),               # was RuntimeError
        "method 99": _patch_headers(good, (8, 10), lambda old: 99),       # NotImplementedError
        "not deflate": _patch_headers(good, (8, 10), lambda old: 8),      # was zlib.error
        "truncated": good[:at + 10],
    }
    for name, data in cases.items():
        path = tmp_path / "corrupt.pth"
        path.write_bytes(data)
        assert "corrupt" in _refused(path, loader=tn.load), name


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_legacy_torch_file_says_so_through_tn_load(tmp_path, protocol):
    # tn.load sent a pre-1.6 file to the safetensors reader: "oversized header"
    torch = pytest.importorskip("torch")
    path = tmp_path / "old.pt"
    torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=False,
               pickle_protocol=protocol)
    _refused(path, "before PyTorch 1.6", loader=tn.load)
    _refused(path, "before PyTorch 1.6", loader=load_torch)
    assert tn.load_metadata(str(path)) == {}   # (examples ask it first: no safetensors error)
    # a safetensors file whose 640-byte header makes it start b"\x80\x02" is not mistaken
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(struct.pack("<Q", 640) + header.encode().ljust(640) + bytes(8))
    np.testing.assert_array_equal(tn.load(str(weights))["w"].numpy(), [0, 0])


def test_a_big_endian_file_of_every_width_is_read_in_native_order(tmp_path):
    values = {"FloatStorage": np.array([1.5, -2.0], ">f4"),
              "ShortStorage": np.array([1, -300], ">i2"),
              "LongStorage": np.array([2 ** 40, -1], ">i8"), "BoolStorage": np.array([1, 0], "?"),
              "BFloat16Storage": np.array([0x3FC0, 0xC000], ">u2")}      # 1.5, -2.0
    pkl = b"\x80\x02" + _dict(**{kind: _tensor(str(i), kind, 2, 0, (2,), (1,))
                                  for i, kind in enumerate(values)}) + b"."
    path = tmp_path / "be.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", b"big")
        for i, arr in enumerate(values.values()):
            z.writestr(f"archive/data/{i}", arr.tobytes())
    out = load_torch(path)
    for kind, arr in values.items():
        expect = [1.5, -2.0] if kind == "BFloat16Storage" else arr
        np.testing.assert_array_equal(out[kind], expect, err_msg=kind)
        assert out[kind].dtype.isnative, kind


# ---------------------------------------------------------------- mutation fuzz

def _walk_ok(obj, depth=0):
    assert depth < 200
    if isinstance(obj, dict):
        return all(_walk_ok(k, depth + 1) and _walk_ok(v, depth + 1) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return all(_walk_ok(v, depth + 1) for v in obj)
    return obj is None or isinstance(obj, (str, bytes, int, float, np.ndarray))


def _seeds(tmp_path):
    """data.pkl and storages of a few valid files, torch's own when torch is there."""
    seeds = [(b"\x80\x02" + _dict(w=_tensor("0", "FloatStorage", 12, 1, (3, 2), (1, 3)),
                                  b=_tensor("1", "BFloat16Storage", 2, 0, (2,), (1,)),
                                  n=_int(7), s=_str("x")) + b".",
              {"0": F32.tobytes(), "1": b"\x80\x3f\x00\x40"})]
    try:
        import torch
    except ImportError:
        return seeds
    lin = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    for proto in (2, 4):
        path = tmp_path / f"seed{proto}.pt"
        torch.save({"model": lin.state_dict(), "epoch": 3, "b": b"\x00", "l": [1.5, None],
                    "v": torch.arange(6.)[1::2]}, path, pickle_protocol=proto)
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            pkl = z.read(next(n for n in names if n.endswith("data.pkl")))
            storages = {n.rsplit("/", 1)[1]: z.read(n) for n in names if "/data/" in n}
        seeds.append((pkl, storages))
    return seeds


def _mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data) + 1)
        kind = rng.randrange(5)
        if kind == 0 and at < len(data):
            data[at] ^= 1 << rng.randrange(8)
        elif kind == 1 and at < len(data):
            data[at] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        elif kind == 2:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        elif kind == 3:
            del data[at:at + rng.randint(1, 8)]
        else:
            data = data[:at]
    return bytes(data)


@pytest.mark.filterwarnings("error")   # pickletools warns of bad escapes: -W error raises them
def test_mutated_files_load_or_raise_value_error_naming_the_file(tmp_path):
    rng = random.Random(1234)
    seeds = _seeds(tmp_path)
    path = tmp_path / "fuzz.pth"
    deadline = time.perf_counter() + 2.0
    runs = 0
    while time.perf_counter() < deadline:
        pkl, storages = rng.choice(seeds)
        whole = rng.random() < 0.25            # sometimes the zip itself, not data.pkl
        _zip(path, pkl if whole else _mutate(rng, pkl), storages)
        if whole:
            path.write_bytes(_mutate(rng, path.read_bytes()))
        use_tn = rng.random() < 0.3
        try:
            out = tn.load(str(path)) if use_tn else load_torch(path)
        except ValueError as e:
            assert "fuzz.pth" in str(e), str(e)
        else:
            assert use_tn or _walk_ok(out), out
        runs += 1
    assert runs > 100


# ---------------------------------------------------------------- fidelity against torch

@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_views_and_layouts_equal_torch_for_every_protocol(tmp_path, torch, protocol):
    torch.manual_seed(0)
    base = torch.randn(4, 6)
    obj = {
        "offset": base.flatten()[5:11], "transposed": base.T, "sliced": base[1:, ::2],
        "expanded": torch.randn(3, 1).expand(3, 5),
        "position_ids": torch.arange(8).expand((1, -1)),            # HF's expanded buffer
        "scalar": torch.tensor(3), "empty": torch.empty_strided((0, 3), (7, 2)),
        "empty_view": torch.zeros(3, 0, 2)[:, :, 1:],
        "channels_last": torch.randn(2, 3, 4, 5).to(memory_format=torch.channels_last),
        "a": base[0], "b": base[1:3], "same": base,                 # one storage, shared
        "size1": torch.randn(5, 7)[2:3, 1:4],                        # size-1 dim, stride 7
        "bf16": torch.randn(2, 3).bfloat16().T, "half": torch.randn(3).half(),
        "bytes": b"\x00\xfe", "nested": {"l": [1, (2.5, None)], "flag": True},
    }
    path = tmp_path / "views.pt"
    torch.save(obj, path, pickle_protocol=protocol)
    out = load_torch(path)
    assert list(out) == list(obj)
    for key, value in obj.items():
        if isinstance(value, torch.Tensor):
            ref = (value.float() if value.dtype == torch.bfloat16 else value).numpy()
            assert out[key].dtype == ref.dtype and out[key].shape == ref.shape, key
            np.testing.assert_array_equal(out[key], ref, err_msg=key)
            assert out[key].flags.c_contiguous and out[key].flags.writeable, key   # a copy
        else:
            assert out[key] == value, key


def test_a_module_state_dict_with_buffers_and_metadata_equals_torch(tmp_path, torch):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                              torch.nn.Flatten(), torch.nn.LazyLinear(2))
    net(torch.randn(2, 3, 8, 8))                     # statistics and num_batches_tracked move
    sd = net.state_dict()
    assert sd._metadata                               # saved by BUILD, ignored on reading
    path = tmp_path / "net.pth"
    torch.save(sd, path)
    out = tn.load(str(path))
    assert list(out) == list(sd)
    for key, value in sd.items():
        np.testing.assert_array_equal(out[key].numpy(), value.numpy(), err_msg=key)
    assert out["1.num_batches_tracked"].dtype == np.int64 and out["1.num_batches_tracked"].ndim == 0


@pytest.mark.parametrize("name, make", [
    ("torch.Size", lambda torch: torch.Size([2, 3])),
    ("torch.device", lambda torch: torch.device("cpu")),
    ("torch.float16", lambda torch: torch.float16),
    ("multiarray", lambda torch: np.ones(2)),
    ("multiarray.scalar", lambda torch: np.float64(1.5)),
    ("ComplexFloatStorage", lambda torch: torch.randn(3, dtype=torch.complex64)),
    pytest.param("_rebuild_qtensor", lambda torch: torch.quantize_per_tensor(
        torch.randn(3), 0.1, 0, torch.qint8), marks=pytest.mark.filterwarnings("ignore")),
    ("_rebuild_sparse_tensor", lambda torch: torch.randn(3, 3).to_sparse()),
    ("_rebuild_tensor_v3", lambda torch: torch.ones(3, dtype=torch.uint16)),
    ("_rebuild_meta_tensor", lambda torch: torch.empty(3, device="meta")),
])
def test_objects_outside_a_state_dict_name_what_is_refused(tmp_path, torch, name, make):
    path = tmp_path / "other.pt"
    torch.save({"x": make(torch)}, path)
    message = _refused(path, name)
    assert "nothing in the file was run" in message


def test_sharded_pytorch_model_bin_loads_through_gpt_from_pretrained(tmp_path, torch):
    transformers = pytest.importorskip("transformers")
    from tinynet.models.gpt import GPT
    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=100,
                                  n_positions=64, bos_token_id=99, eos_token_id=99)
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    hf.save_pretrained(tmp_path)                  # config.json; its weights are replaced
    os.remove(tmp_path / "model.safetensors")
    sd = hf.state_dict()
    names = list(sd)
    shards = {"pytorch_model-00001-of-00002.bin": names[: len(names) // 2],
              "pytorch_model-00002-of-00002.bin": names[len(names) // 2:]}
    weight_map = {}
    for shard, keys in shards.items():
        torch.save({k: sd[k] for k in keys}, tmp_path / shard)
        weight_map.update(dict.fromkeys(keys, shard))
    (tmp_path / "pytorch_model.bin.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map}))
    model = GPT.from_pretrained(tmp_path)
    ids = np.random.default_rng(0).integers(0, 100, (2, 12))
    with torch.no_grad():
        ref = hf(torch.tensor(ids)).logits.numpy()
    np.testing.assert_allclose(model(tn.tensor(ids))[0].numpy(), ref, atol=1e-4)
