"""ImageFolder on the files a user's own photo folder holds: phone photos with an
EXIF orientation, 16-bit scans, palette PNGs with transparency."""
import warnings

import numpy as np
import pytest
from PIL import Image

from tinynet.data import ImageFolder, pil_loader


def test_exif_orientation_turns_a_phone_photo_upright(tmp_path):
    # stored 4 wide x 2 high, left column red; orientation 6 = "rotate 90 clockwise to view"
    a = np.zeros((2, 4, 3), np.uint8)
    a[:, 0] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "c" / "phone.png"
    path.parent.mkdir()
    Image.fromarray(a).save(path, exif=exif)
    (tmp_path / "d").mkdir()
    Image.fromarray(a).save(tmp_path / "d" / "plain.png")

    img, _ = ImageFolder(tmp_path)[0]
    assert img.size == (2, 4)                       # upright: 2 wide x 4 high
    up = np.asarray(img)
    assert (up[0] == (255, 0, 0)).all() and (up[1:, :, 0] == 0).all()  # the red column is on top
    assert ImageFolder(tmp_path, exif_transpose=False)[0][0].size == (4, 2)  # torchvision's pixels
    assert ImageFolder(tmp_path)[1][0].size == (4, 2)                      # no tag: unchanged


def test_16_bit_grayscale_is_scaled_not_clipped_to_white(tmp_path):
    a = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)   # 0, 1, 128, 255 in 8 bits
    path = tmp_path / "scan.png"
    Image.fromarray(a).save(path)
    with Image.open(path) as img:
        assert img.mode == "I;16"
    assert np.asarray(pil_loader(path)).tolist() == [[[v] * 3 for v in (0, 1, 128, 255)]]
    assert np.asarray(pil_loader(path, "L")).tolist() == [[0, 1, 128, 255]]
    assert np.asarray(pil_loader(path, "I")).tolist() == [a.tolist()[0]]  # asked for: kept


def test_palette_png_with_transparency_loads_without_a_warning(tmp_path):
    path = tmp_path / "icon.png"
    img = Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4)).convert("P")
    img.save(path, transparency=bytes([0, 128] + [255] * 254))  # per-entry alpha: bytes
    with Image.open(path) as img:
        assert isinstance(img.info["transparency"], bytes)
        expected = np.asarray(img.convert("RGBA"))[..., :3]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rgb = pil_loader(path)
    assert rgb.mode == "RGB" and np.array_equal(np.asarray(rgb), expected)


def test_a_16_bit_image_opened_as_mode_I_is_scaled_too(tmp_path):
    # older Pillow opens 16-bit grayscale PNGs as 32-bit 'I'; the same scaling applies
    a = np.array([[0, 257, 32896, 65535]], dtype=np.int32)
    path = tmp_path / "scan.tif"
    Image.fromarray(a, "I").save(path)
    with Image.open(path) as img:
        assert img.mode == "I"
    assert np.asarray(pil_loader(path, "L")).tolist() == [[0, 1, 128, 255]]
    wide = tmp_path / "wide.tif"
    Image.fromarray(np.array([[0, 70000]], dtype=np.int32), "I").save(wide)
    with pytest.raises(OSError, match="wide.tif.*outside 16 bits"):
        pil_loader(wide)
