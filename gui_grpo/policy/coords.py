"""Coordinates between device pixels and the image a Qwen VL model sees.

A screenshot of ``screen_size`` device pixels is resized by ``smart_resize`` before the model sees it.
Qwen2.5-VL answers in absolute pixels of that resized image; Qwen2-VL and Qwen3-VL answer in coordinates
normalised to 0-1000. ``ScreenMapping`` converts both ways with one scale factor per axis, so a device
point mapped to model space, rounded to a whole model unit and mapped back lands within half a model unit
of where it started.

The model-space image size should come from the processor's ``image_grid_thw`` (``model_size_from_grid``),
not from the PIL image, so a second resize inside the processor cannot shift the mapping.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Family = Literal["qwen2_vl", "qwen2_5_vl", "qwen3_vl"]
CoordSystem = Literal["absolute", "norm1000"]

NORM_RANGE = 1000
MAX_ASPECT_RATIO = 200


class CoordinateError(ValueError):
    """A size, grid or family that no coordinate mapping can be built from."""


@dataclass(frozen=True)
class FamilySpec:
    """Vision constants of one model family.

    ``min_pixels`` / ``max_pixels`` are the defaults of the released checkpoints' preprocessor configs;
    training usually sets a much smaller ``max_pixels`` to bound the number of visual tokens.
    """

    patch_size: int
    merge_size: int
    temporal_patch_size: int
    coords: CoordSystem  # how the family writes points in its answers
    min_pixels: int
    max_pixels: int

    @property
    def factor(self) -> int:
        """Resized sides are multiples of this: one merged token covers factor x factor pixels."""
        return self.patch_size * self.merge_size


FAMILIES: dict[str, FamilySpec] = {
    "qwen2_vl": FamilySpec(14, 2, 2, "norm1000", min_pixels=56 * 56, max_pixels=12_845_056),
    "qwen2_5_vl": FamilySpec(14, 2, 2, "absolute", min_pixels=56 * 56, max_pixels=12_845_056),
    "qwen3_vl": FamilySpec(16, 2, 2, "norm1000", min_pixels=65_536, max_pixels=16_777_216),
}


def family_spec(family: str) -> FamilySpec:
    """The constants of ``family``; raise ``CoordinateError`` for an unknown name."""
    try:
        return FAMILIES[family]
    except KeyError:
        raise CoordinateError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}") from None


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """(height, width) of the image a Qwen VL processor makes from a ``height`` x ``width`` image.

    Both sides become multiples of ``factor``, the area lands in [min_pixels, max_pixels] where the
    factor grid allows, and the aspect ratio is kept as closely as possible. This agrees with
    ``qwen_vl_utils.smart_resize`` and transformers' ``Qwen2VLImageProcessor``; where those two differ
    (sides that would round to 0), every side here is at least ``factor``, as transformers guarantees
    when shrinking and qwen-vl-utils when rounding.
    """
    if min(height, width) <= 0 or factor <= 0:
        raise CoordinateError(
            f"image sides and factor must be positive, got {height}x{width}, factor {factor}"
        )
    if max_pixels < min_pixels:
        raise CoordinateError(f"max_pixels ({max_pixels}) must be at least min_pixels ({min_pixels})")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise CoordinateError(
            f"aspect ratio of {width}x{height} exceeds {MAX_ASPECT_RATIO}, which Qwen processors refuse"
        )
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def resized_image_size(
    family: str, screen_size: tuple[int, int], min_pixels: int | None = None, max_pixels: int | None = None
) -> tuple[int, int]:
    """(width, height) of the model image for a ``screen_size`` (width, height) screenshot."""
    spec = family_spec(family)
    width, height = screen_size
    h, w = smart_resize(
        height,
        width,
        spec.factor,
        spec.min_pixels if min_pixels is None else min_pixels,
        spec.max_pixels if max_pixels is None else max_pixels,
    )
    return w, h


def model_size_from_grid(image_grid_thw: object, patch_size: int) -> tuple[int, int]:
    """(width, height) in model pixels from one image's ``image_grid_thw`` row (t, h, w).

    Accepts a sequence of three numbers, a (1, 3) nesting of one, or a tensor/array with ``tolist``.
    """
    values = image_grid_thw.tolist() if hasattr(image_grid_thw, "tolist") else image_grid_thw
    if isinstance(values, Sequence) and len(values) == 1 and isinstance(values[0], Sequence):
        values = values[0]
    if not isinstance(values, Sequence) or len(values) != 3:
        raise CoordinateError(f"image_grid_thw must be one (t, h, w) row, got {image_grid_thw!r}")
    _, grid_h, grid_w = values
    for v in (grid_h, grid_w):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise CoordinateError(f"image_grid_thw sides must be positive integers, got {values!r}")
    if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size <= 0:
        raise CoordinateError(f"patch_size must be a positive integer, got {patch_size!r}")
    return grid_w * patch_size, grid_h * patch_size


def round_half_up(v: float) -> int:
    """Nearest integer, halves rounded up (Python's ``round`` rounds halves to even)."""
    return math.floor(v + 0.5)


def _check_size(size: object, what: str) -> tuple[int, int]:
    if not isinstance(size, tuple) or len(size) != 2:
        raise CoordinateError(f"{what} must be a (width, height) tuple, got {size!r}")
    for v in size:
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise CoordinateError(f"{what} must hold two positive integers, got {size!r}")
    return size


@dataclass(frozen=True)
class ScreenMapping:
    """Maps points between device pixels and a model's coordinate space.

    ``screen_size`` is (width, height) in device pixels; ``image_size`` is (width, height) of the
    resized image the model saw. With ``coords="absolute"`` model points are pixels of that image
    (Qwen2.5-VL); with ``"norm1000"`` they are 0-1000 fractions of each side (Qwen2-VL, Qwen3-VL).
    The screen is the closed rectangle [0, width] x [0, height]; ``device_pixel`` picks the pixel.
    """

    screen_size: tuple[int, int]
    image_size: tuple[int, int]
    coords: CoordSystem = "absolute"

    def __post_init__(self) -> None:
        _check_size(self.screen_size, "screen_size")
        _check_size(self.image_size, "image_size")
        if self.coords not in ("absolute", "norm1000"):
            raise CoordinateError(f"coords must be 'absolute' or 'norm1000', got {self.coords!r}")

    @property
    def model_extent(self) -> tuple[int, int]:
        """(width, height) of the model's coordinate space."""
        return self.image_size if self.coords == "absolute" else (NORM_RANGE, NORM_RANGE)

    @property
    def pixels_per_unit(self) -> tuple[float, float]:
        """Device pixels per model unit along x and y."""
        (sw, sh), (mw, mh) = self.screen_size, self.model_extent
        return sw / mw, sh / mh

    # Multiplying before dividing keeps whole-unit edges exact: the model's far edge maps to the
    # screen's far edge, not a rounding error beyond it.
    def to_model(self, x: float, y: float) -> tuple[float, float]:
        """A device point in model coordinates (not rounded)."""
        (sw, sh), (mw, mh) = self.screen_size, self.model_extent
        return x * mw / sw, y * mh / sh

    def to_device(self, x: float, y: float) -> tuple[float, float]:
        """A model point in device pixels (not rounded)."""
        (sw, sh), (mw, mh) = self.screen_size, self.model_extent
        return x * sw / mw, y * sh / mh

    def on_screen(self, x: float, y: float) -> bool:
        """Whether a device point (not rounded) lies on the screen, edges included."""
        sw, sh = self.screen_size
        return 0 <= x <= sw and 0 <= y <= sh

    def device_pixel(self, x: float, y: float) -> tuple[int, int]:
        """The device pixel of an on-screen point: rounded, the far edges folded onto the last pixel."""
        sw, sh = self.screen_size
        return min(round_half_up(x), sw - 1), min(round_half_up(y), sh - 1)

    def model_point(self, x: float, y: float) -> tuple[int, int]:
        """A device point as the whole model units a model would write."""
        mx, my = self.to_model(x, y)
        return round_half_up(mx), round_half_up(my)


def mapping_for(
    family: str, screen_size: tuple[int, int], image_size: tuple[int, int], coords: CoordSystem | None = None
) -> ScreenMapping:
    """The mapping for ``family``; ``coords`` overrides the family's own convention."""
    spec = family_spec(family)
    return ScreenMapping(screen_size, image_size, spec.coords if coords is None else coords)
