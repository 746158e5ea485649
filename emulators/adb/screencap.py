"""Decode what ``screencap`` writes: PNG (``screencap -p``) or raw pixels after a small header.

The raw header is ``width, height, format`` (three u32, before Android 9) or ``width, height, format,
colorspace`` (four u32, Android 9 on). Which one a device wrote is decided by which header makes the
payload exactly ``width * height * bytes_per_pixel`` long, so a short (truncated) capture is refused.
"""

from __future__ import annotations

import io
import struct

from PIL import Image, UnidentifiedImageError

from emulators.errors import DeviceError

# PixelFormat values from android/hardware: bytes per pixel and the Pillow raw mode of the data.
RAW_FORMATS: dict[int, tuple[int, str]] = {
    1: (4, "RGBA"),  # RGBA_8888
    2: (4, "RGBX"),  # RGBX_8888
    3: (3, "RGB"),  # RGB_888
    4: (2, "BGR;16"),  # RGB_565
    5: (4, "BGRA"),  # BGRA_8888
}
MAX_SIDE = 16384


class BadScreenshot(DeviceError):
    """Screenshot bytes that do not decode to a whole image (truncated or not a screenshot)."""


def decode_png(data: bytes, source: str = "device") -> Image.Image:
    """An RGB image from ``screencap -p`` output; a truncated or corrupt PNG raises ``BadScreenshot``."""
    try:
        image = Image.open(io.BytesIO(data))
        if image.format != "PNG":
            raise BadScreenshot(f"{source}: screencap -p returned {image.format}, not PNG")
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise BadScreenshot(f"{source}: screencap -p returned {len(data)} bytes that are not a whole PNG "
                            f"({e}); retry, or use the raw screenshot format") from e
    return image.convert("RGB")


def raw_header(data: bytes) -> tuple[int, int, int, int]:
    """(width, height, format, header size) of a raw capture, choosing the header whose sizes add up."""
    for size in (16, 12):
        if len(data) < size:
            continue
        width, height, fmt = struct.unpack_from("<3I", data)
        bpp = RAW_FORMATS.get(fmt, (0, ""))[0]
        sane = 0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE
        if bpp and sane and len(data) - size == width * height * bpp:
            return width, height, fmt, size
    head = struct.unpack_from("<3I", data) if len(data) >= 12 else ()
    raise BadScreenshot(f"raw screencap of {len(data)} bytes does not match its header {head}: "
                        "truncated, or an unknown pixel format")


def decode_raw(data: bytes, source: str = "device") -> Image.Image:
    """An RGB image from plain ``screencap`` output (either header version)."""
    try:
        width, height, fmt, offset = raw_header(data)
    except BadScreenshot as e:
        raise BadScreenshot(f"{source}: {e}") from e
    _bpp, mode = RAW_FORMATS[fmt]
    if mode == "BGR;16":
        image = Image.frombuffer("RGB", (width, height), data[offset:], "raw", mode, 0, 1)
    else:
        image = Image.frombuffer("RGBA" if mode != "RGB" else "RGB", (width, height), data[offset:], "raw",
                                 mode, 0, 1)
    return image.convert("RGB")


def encode_raw(image: Image.Image, with_colorspace: bool = True) -> bytes:
    """``image`` as plain ``screencap`` writes it (RGBA_8888), with the Android 9+ header by default."""
    rgba = image.convert("RGBA")
    header = struct.pack("<3I", rgba.width, rgba.height, 1)
    if with_colorspace:
        header += struct.pack("<I", 1)  # sRGB
    return header + rgba.tobytes()
