"""decode.load_rgb: every format and mode to upright RGB; every broken input to a DecodeError."""

from __future__ import annotations

import io
import re
import struct

import numpy as np
import pytest
from PIL import Image, ImageFile

from faceatlas.decode import (
    IMAGE_FORMATS,
    DecodeError,
    ImageTooLarge,
    available_formats,
    image_format,
    load_rgb,
)
from faceatlas.errors import FaceatlasError
from tests.conftest import data
from tests.images import broken_corpus, encoded, png_bomb
from tests.test_hostile_inputs import retyped_tiff


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


def test_decode_errors_are_faceatlas_errors():
    assert issubclass(DecodeError, FaceatlasError)
    assert issubclass(ImageTooLarge, DecodeError) and issubclass(ImageTooLarge, ValueError)


def test_only_the_listed_formats_are_decoded(face_image):
    postscript = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    Image.init()
    assert "EPS" in Image.OPEN  # Pillow would hand this to Ghostscript...
    with Image.open(io.BytesIO(postscript)) as unrestricted:
        assert unrestricted.format == "EPS"
    with pytest.raises(DecodeError, match="not an image"):  # ...faceatlas never does
        load_rgb(postscript)
    with pytest.raises(DecodeError, match="not an image"):  # a format Pillow reads, not listed
        load_rgb(encoded(face_image, "PCX"))
    assert not {"EPS", "PDF", "PCX", "ICO", "PSD"} & set(IMAGE_FORMATS)
    assert {"JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "PPM"} <= set(available_formats())
    assert set(available_formats()) <= set(IMAGE_FORMATS)


def test_image_format_reads_only_the_header(face_image, tmp_path):
    for fmt in ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "PPM"):
        assert image_format(encoded(face_image, fmt)) == fmt
    stream = io.BytesIO(encoded(face_image, "PNG"))
    stream.seek(5)
    assert image_format(stream) == "PNG" and stream.tell() == 5  # left where it was
    (tmp_path / "photo.bin").write_bytes(encoded(face_image, "WEBP"))
    assert image_format(tmp_path / "photo.bin") == "WEBP"
    for data_ in (b"%!PS-Adobe-3.0\n", b"%PDF-1.4\n", encoded(face_image, "PCX"), b""):
        with pytest.raises(DecodeError):
            image_format(data_)


@pytest.mark.parametrize("field_type", [12, 5, 11, 10, 2, 7])  # DOUBLE, RATIONAL, FLOAT...
def test_tiff_with_a_retyped_strip_offsets_tag_is_a_decode_error(field_type):
    with pytest.raises(DecodeError, match="corrupt"):
        load_rgb(retyped_tiff(field_type))


@pytest.mark.parametrize(
    "raised, words",
    [(KeyError("x"), "corrupt image (KeyError"), (ZeroDivisionError(), "ZeroDivisionError"),
     (IndexError("y"), "IndexError"), (RuntimeError("z"), "RuntimeError"),
     (struct.error("w"), "corrupt or truncated image: w"), (MemoryError(), "too large")],
)
def test_whatever_the_decoder_raises_becomes_a_decode_error(monkeypatch, raised, words):
    payload = encoded(Image.new("RGB", (4, 4)), "PNG")

    def fail(self):
        raise raised

    monkeypatch.setattr(Image.Image, "load", fail)
    monkeypatch.setattr(ImageFile.ImageFile, "load", fail)
    with pytest.raises(DecodeError, match=re.escape(words)):
        load_rgb(payload)


def test_byte_limit_for_data_and_files(tmp_path, face_image):
    payload = encoded(face_image, "PNG")
    with pytest.raises(ImageTooLarge, match="image too large"):
        load_rgb(payload, max_bytes=len(payload) - 1)
    assert load_rgb(payload, max_bytes=len(payload)).shape == (250, 250, 3)
    (tmp_path / "a.png").write_bytes(payload)
    with pytest.raises(ImageTooLarge, match="file too large"):
        load_rgb(tmp_path / "a.png", max_bytes=100)
