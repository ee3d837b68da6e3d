"""Image transforms: shapes, exact pixels where defined, seeded determinism, Normalize math."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image, ImageEnhance

import tinynet as tn
from tinynet.data import transforms as T


def image(h=12, w=16, mode="RGB", seed=0):
    shape = (h, w, 3) if mode == "RGB" else (h, w)
    a = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    return Image.fromarray(a)


def arr(img):
    return np.asarray(img)


@pytest.fixture(autouse=True)
def reset_rng():
    yield
    T.set_transform_rng(None)


def test_resize_int_matches_smaller_edge_and_keeps_aspect():
    assert T.Resize(6)(image(12, 16)).size == (8, 6)  # PIL size is (w, h)
    assert T.Resize(8)(image(20, 10)).size == (8, 16)
    assert T.Resize((5, 7))(image()).size == (7, 5)
    assert T.Resize(4, interpolation="nearest")(image(8, 8)).size == (4, 4)
    with pytest.raises(ValueError, match="interpolation"):
        T.Resize(4, interpolation="cubicle")(image())


def test_center_crop_is_the_middle_window():
    img = image(12, 16)
    out = T.CenterCrop((4, 6))(img)
    np.testing.assert_array_equal(arr(out), arr(img)[4:8, 5:11])
    big = T.CenterCrop(20)(image(12, 16))  # larger than the image: zero padding
    assert big.size == (20, 20) and arr(big)[0].max() == 0


def test_random_crop_with_padding_is_a_window_of_the_padded_image():
    img = image(8, 8)
    T.set_transform_rng(np.random.default_rng(0))
    out = arr(T.RandomCrop(8, padding=2)(img))
    assert out.shape == (8, 8, 3)
    padded = np.pad(arr(img), ((2, 2), (2, 2), (0, 0)))
    windows = [padded[i:i + 8, j:j + 8] for i in range(5) for j in range(5)]
    assert any(np.array_equal(out, w) for w in windows)
    assert T.RandomCrop(10, pad_if_needed=True)(image(6, 6)).size == (10, 10)
    assert T.RandomCrop(4, padding=1, padding_mode="reflect")(image(6, 6)).size == (4, 4)
    with pytest.raises(ValueError, match="larger than"):
        T.RandomCrop(20)(image(8, 8))


def test_random_resized_crop_shape_and_scale_one_is_identity():
    out = T.RandomResizedCrop(7)(image(30, 40))
    assert out.size == (7, 7)
    assert T.RandomResizedCrop((5, 9))(image()).size == (9, 5)
    img = image(10, 10)
    same = T.RandomResizedCrop(10, scale=(1.0, 1.0), ratio=(1.0, 1.0))(img)
    np.testing.assert_array_equal(arr(same), arr(img))


def test_horizontal_flip_mirrors_pil_and_arrays():
    img = image()
    np.testing.assert_array_equal(arr(T.RandomHorizontalFlip(p=1.0)(img)), arr(img)[:, ::-1])
    assert T.RandomHorizontalFlip(p=0.0)(img) is img
    chw = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(chw), chw[:, :, ::-1])
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(chw), chw[:, ::-1, :])
    t = tn.tensor(chw)   # after ToTensor: flips give tensors, as torchvision's do
    h, v = T.RandomHorizontalFlip(p=1.0)(t), T.RandomVerticalFlip(p=1.0)(t)
    assert isinstance(h, tn.Tensor) and isinstance(v, tn.Tensor)
    np.testing.assert_array_equal(h.numpy(), chw[:, :, ::-1])
    np.testing.assert_array_equal(v.numpy(), chw[:, ::-1, :])
    flips = [T.RandomHorizontalFlip()(img) is not img for _ in range(200)]
    assert 60 < sum(flips) < 140
    hwc = np.zeros((6, 5, 3), np.uint8)   # an OpenCV-style image: its colours must not swap
    for flip in (T.RandomHorizontalFlip(1.0), T.RandomVerticalFlip(1.0)):
        with pytest.raises(ValueError, match=r"Flip: .*\(6, 5, 3\) looks like an \(H, W, C\)"):
            flip(hwc)


def test_rotation_by_fixed_angles():
    img = image(8, 8)
    np.testing.assert_array_equal(arr(T.RandomRotation((90, 90))(img)), np.rot90(arr(img)))
    np.testing.assert_array_equal(arr(T.RandomRotation(0)(img)), arr(img))
    assert T.RandomRotation(30, expand=True)(image(8, 16)).size[1] > 8


def test_color_jitter_factors_match_pillow_and_hue_rotates():
    img = image()
    out = T.ColorJitter(brightness=(1.5, 1.5))(img)
    np.testing.assert_array_equal(arr(out), arr(ImageEnhance.Brightness(img).enhance(1.5)))
    assert T.ColorJitter()(img) is img
    red = Image.new("RGB", (2, 2), (255, 0, 0))
    shifted = arr(T.ColorJitter(hue=(1 / 3, 1 / 3))(red))[0, 0]
    assert shifted[1] > 200 and shifted[0] < 60  # a third of a turn: red -> green
    gray = T.ColorJitter(0.4, 0.4, 0.4, 0.1)(image(mode="L"))
    assert gray.mode == "L"
    with pytest.raises(ValueError, match="hue"):
        T.ColorJitter(hue=0.7)


def test_to_tensor_gives_chw_float32_in_unit_range():
    img = image(5, 7)
    x = T.ToTensor()(img)
    # a Tensor, as torchvision's: the tutorials' transform(img).unsqueeze(0).to(device) runs
    assert isinstance(x, tn.Tensor) and x.shape == (3, 5, 7) and x.dtype == np.float32
    assert x.device == "cpu" and not x.requires_grad and x.unsqueeze(0).shape == (1, 3, 5, 7)
    np.testing.assert_array_equal(x, arr(img).transpose(2, 0, 1).astype(np.float32) / 255)
    g = T.ToTensor()(image(5, 7, mode="L"))
    assert g.shape == (1, 5, 7) and 0 <= g.min() and g.max() <= 1
    f = T.ToTensor()(np.full((2, 2, 1), 3.5, dtype=np.float64))
    assert f.dtype == np.float32 and f.max() == 3.5
    with pytest.raises(TypeError, match="PIL image or numpy array"):
        T.ToTensor()([1, 2])


@pytest.mark.parametrize("dtype", ["<u2", ">u2"])
def test_to_tensor_scales_16_bit_images_of_either_byte_order(dtype):
    a = np.array([[0, 65535], [32768, 1000]], dtype=dtype)
    np.testing.assert_allclose(T.ToTensor()(a)[0], a.astype(np.float64) / 65535, rtol=1e-6)
    img = Image.fromarray(a.astype(np.uint16))          # Pillow's 16-bit grayscale, I;16
    np.testing.assert_allclose(T.ToTensor()(img)[0], a.astype(np.float64) / 65535, rtol=1e-6)


@settings(max_examples=30, deadline=None)
@given(c=st.integers(1, 4), seed=st.integers(0, 1000), batched=st.booleans())
def test_normalize_math(c, seed, batched):
    rng = np.random.default_rng(seed)
    x = rng.random(((2,) if batched else ()) + (c, 3, 4)).astype(np.float32)
    mean, std = rng.random(c), rng.random(c) + 0.5
    out = T.Normalize(mean, std)(x)
    expect = (x - mean.reshape(-1, 1, 1)) / std.reshape(-1, 1, 1)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expect, rtol=1e-5, atol=1e-6)
    t = T.Normalize(mean, std)(tn.tensor(x))
    assert isinstance(t, tn.Tensor)
    np.testing.assert_allclose(t.numpy(), expect, rtol=1e-5, atol=1e-6)


def test_normalize_inplace_and_errors():
    x = np.ones((3, 2, 2), np.float32)
    assert T.Normalize([1, 1, 1], [2, 2, 2], inplace=True)(x) is x and x.max() == 0
    t = tn.ones(3, 2, 2)   # what ToTensor gives: written in place too, as torchvision's
    assert T.Normalize([1, 1, 1], [2, 2, 2], inplace=True)(t) is t and t.numpy().max() == 0
    with pytest.raises(ValueError, match="3 channels"):
        T.Normalize([0.5, 0.5], [1, 1])(np.zeros((3, 2, 2), np.float32))
    with pytest.raises(ValueError, match="zero"):
        T.Normalize([0.5], [0.0])


def test_normalize_refuses_integer_pixels():
    # np.asarray(img) without ToTensor: uint8 in [0, 255]; torchvision raises TypeError too
    for x in (np.full((3, 2, 2), 255, np.uint8), tn.tensor(np.ones((3, 2, 2), np.int64))):
        with pytest.raises(TypeError, match="ToTensor"):
            T.Normalize((0.5,) * 3, (0.25,) * 3)(x)


def test_compose_lambda_grayscale():
    pipe = T.Compose([T.Grayscale(), T.Resize((4, 4)), T.ToTensor(), T.Lambda(lambda a: a * 2)])
    out = pipe(image())
    assert out.shape == (1, 4, 4) and out.max() <= 2
    assert "Resize" in repr(pipe)
    assert T.Grayscale(3)(image()).mode == "RGB"


AUGMENT = T.Compose([T.RandomResizedCrop(8), T.RandomHorizontalFlip(), T.RandomRotation(20),
                     T.ColorJitter(0.3, 0.3, 0.3, 0.05), T.RandomCrop(8, padding=1), T.ToTensor()])


def test_seeded_generator_makes_augmentation_deterministic():
    img = image(20, 20)
    T.set_transform_rng(np.random.default_rng(42))
    a = [AUGMENT(img) for _ in range(3)]
    T.set_transform_rng(np.random.default_rng(42))
    b = [AUGMENT(img) for _ in range(3)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], a[1])
    with T.transform_rng(7):
        c = AUGMENT(img)
    with T.transform_rng(np.random.default_rng(7)):
        np.testing.assert_array_equal(AUGMENT(img), c)


def test_default_rng_follows_manual_seed():
    img = image(20, 20)
    tn.manual_seed(5)
    a = AUGMENT(img)
    tn.manual_seed(5)
    np.testing.assert_array_equal(AUGMENT(img), a)


def test_pil_only_transforms_say_so():
    with pytest.raises(TypeError, match="before ToTensor"):
        T.RandomCrop(2)(np.zeros((3, 4, 4)))


def test_resize_max_size_and_antialias_as_torchvision():
    img = image(30, 50)                                  # h 30, w 50
    assert T.Resize(20)(img).size == (33, 20)
    # the longer edge would be 33 > 25: scaled to 25 instead, the shorter int(25 * 20 / 33)
    assert T.Resize(20, max_size=25)(img).size == (25, 15)
    assert T.Resize([20], max_size=40)(img).size == (33, 20)   # under max_size: as without
    assert T.Resize(20, antialias=True)(img).size == (33, 20)
    with pytest.raises(ValueError, match="max_size=20 needs an int size smaller"):
        T.Resize(20, max_size=20)
    with pytest.raises(ValueError, match="max_size"):
        T.Resize((20, 30), max_size=40)
    with pytest.raises(TypeError, match="Resize: size must be an int or a sequence of ints"):
        T.Resize(2.5)
