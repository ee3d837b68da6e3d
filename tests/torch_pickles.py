"""Hand-assembled pickle opcodes (protocol 2) and zip archives in torch.save's layout, for
tests of tinynet/io_torch.py that need no torch."""
import struct
import zipfile


def text(s):
    """BINUNICODE ``s``."""
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def glob(module, name):
    """GLOBAL ``module.name``."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def integer(n):
    """BININT for 32-bit ``n``, else LONG1."""
    return b"J" + struct.pack("<i", n) if -2 ** 31 <= n < 2 ** 31 else b"\x8a\x09" + \
        n.to_bytes(9, "little", signed=True)


def ints(values):
    """A tuple of integers."""
    return b"(" + b"".join(integer(n) for n in values) + b"t"


def storage(key, kind, numel):
    """The persistent id torch writes for storage ``key`` of ``torch.<kind>``."""
    return b"(" + text("storage") + glob("torch", kind) + text(key) + text("cpu") + \
        integer(numel) + b"tQ"


def tensor(key, kind, numel, offset, size, stride):
    """``_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())``."""
    return (glob("torch._utils", "_rebuild_tensor_v2") + b"(" + storage(key, kind, numel)
            + integer(offset) + ints(size) + ints(stride) + b"\x89"
            + glob("collections", "OrderedDict") + b")RtR")


def write_zip(path, pkl, storages=None, byteorder=b"little", method=zipfile.ZIP_STORED):
    """``path`` as torch.save lays it out: archive/data.pkl, byteorder, data/<key>."""
    with zipfile.ZipFile(path, "w", method) as z:
        z.writestr("archive/data.pkl", pkl)
        if byteorder is not None:
            z.writestr("archive/byteorder", byteorder)
        for key, data in (storages or {}).items():
            z.writestr(f"archive/data/{key}", data)
    return path
