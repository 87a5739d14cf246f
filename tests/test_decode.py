"""decode.load_rgb: every format and mode to upright RGB; every broken input to a DecodeError."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from faceatlas.decode import DecodeError, load_rgb
from tests.conftest import data
from tests.images import broken_corpus, encoded, png_bomb


@pytest.fixture(scope="module")
def face_image() -> Image.Image:
    return Image.open(data("lfw", "Aaron_Eckhart", "Aaron_Eckhart_0001.jpg")).convert("RGB")


@pytest.mark.parametrize(
    "fmt, mode",
    [("PNG", "RGB"), ("PNG", "L"), ("PNG", "P"), ("PNG", "RGBA"), ("PNG", "LA"), ("PNG", "I;16"),
     ("JPEG", "CMYK"), ("JPEG", "L"), ("WEBP", "RGB"), ("BMP", "RGB"), ("GIF", "P"),
     ("TIFF", "RGB"), ("TIFF", "I;16"), ("PPM", "RGB"), ("PPM", "L")],
)
def test_formats_and_modes_decode_to_rgb(face_image, fmt, mode):
    image = face_image.convert("L").convert(mode) if mode == "I;16" else face_image.convert(mode)
    rgb = load_rgb(encoded(image, fmt))
    assert rgb.dtype == np.uint8 and rgb.shape == (250, 250, 3)
    # the picture survives: close to the greyscale of the original, not blank or clipped white
    grey_original = np.asarray(face_image.convert("L"), dtype=float)
    assert np.corrcoef(rgb.mean(axis=2).ravel(), grey_original.ravel())[0, 1] > 0.9


def test_sixteen_bit_is_scaled_not_clipped(face_image):
    grey = np.asarray(face_image.convert("L"), dtype=np.uint16) * 256  # full 16-bit range
    rgb = load_rgb(encoded(Image.fromarray(grey), "PNG"))
    assert rgb.max() > 200 and rgb.min() < 60


def test_alpha_is_composited_on_white():
    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    assert load_rgb(encoded(rgba, "PNG")).min() == 255


def test_animated_gif_gives_first_frame():
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255))]
    buffer = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    rgb = load_rgb(buffer)
    assert rgb[..., 0].mean() > 200 and rgb[..., 2].mean() < 50


def test_heif_when_plugin_installed(face_image):
    pytest.importorskip("pillow_heif")
    try:
        payload = encoded(face_image, "HEIF")
    except (KeyError, OSError) as err:
        pytest.skip(f"this pillow-heif build cannot encode HEIF: {err}")
    assert load_rgb(payload).shape == (250, 250, 3)


def test_exif_orientation_is_applied(face_image):
    sideways = face_image.transpose(Image.Transpose.ROTATE_90)  # stored turned left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    rgb = load_rgb(encoded(sideways, "JPEG", exif=exif.tobytes(), quality=95))
    upright = np.asarray(face_image, dtype=float)
    assert np.abs(rgb.astype(float) - upright).mean() < 6


def test_broken_files_raise_decode_error_with_reason(tmp_path):
    expected = broken_corpus(tmp_path, data("lfw", "Aaron_Eckhart", "Aaron_Eckhart_0001.jpg"))
    for name, words in expected.items():
        with pytest.raises(DecodeError, match=words):
            load_rgb(tmp_path / name)


def test_bomb_is_refused_before_decoding():
    with pytest.raises(DecodeError, match="too large"):
        load_rgb(png_bomb())


def test_own_pixel_limit(face_image):
    with pytest.raises(DecodeError, match="exceeds 10,000 pixels"):
        load_rgb(encoded(face_image, "PNG"), max_pixels=10_000)


def test_missing_file_is_a_decode_error(tmp_path):
    with pytest.raises(DecodeError, match="unreadable"):
        load_rgb(tmp_path / "gone.jpg")
