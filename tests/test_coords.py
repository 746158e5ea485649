"""smart_resize against Qwen's own implementations, grid-derived sizes, and the device<->model mapping."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image
from qwen_vl_utils import fetch_image
from qwen_vl_utils.vision_process import smart_resize as qwen_vl_utils_smart_resize
from transformers import Qwen2VLImageProcessor
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize as transformers_smart_resize

from gui_grpo.policy.coords import (
    FAMILIES,
    NORM_RANGE,
    CoordinateError,
    ScreenMapping,
    family_spec,
    mapping_for,
    model_size_from_grid,
    resized_image_size,
    round_half_up,
    smart_resize,
)

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

pixel_budgets = st.sampled_from([(3136, 3136), (3136, 401_408), (4096, 1_003_520), (65_536, 16_777_216)])


def test_family_constants() -> None:
    assert family_spec("qwen2_vl").factor == 28
    assert family_spec("qwen2_5_vl").factor == 28
    assert family_spec("qwen3_vl").factor == 32
    assert (FAMILIES["qwen3_vl"].patch_size, FAMILIES["qwen3_vl"].merge_size) == (16, 2)
    assert family_spec("qwen2_5_vl").coords == "absolute"
    assert family_spec("qwen2_vl").coords == family_spec("qwen3_vl").coords == "norm1000"
    with pytest.raises(CoordinateError, match="unknown model family"):
        family_spec("llava")


def test_smart_resize_known_values() -> None:
    # A 1080x2400 phone screen at the released Qwen2.5-VL limits keeps its size up to the factor grid.
    assert smart_resize(2400, 1080, 28, 3136, 12_845_056) == (2408, 1092)
    # Under a 512-token budget it shrinks, both sides multiples of 28, the area within the budget.
    h, w = smart_resize(2400, 1080, 28, 3136, 512 * 28 * 28)
    assert h % 28 == 0 and w % 28 == 0 and h * w <= 512 * 28 * 28
    assert (h, w) == (924, 420)


@FAST
@given(
    height=st.integers(1, 9000),
    width=st.integers(1, 9000),
    factor=st.sampled_from([28, 32]),
    budget=pixel_budgets,
)
def test_smart_resize_matches_qwen_vl_utils(height: int, width: int, factor: int, budget: tuple) -> None:
    min_pixels, max_pixels = budget
    if max(height, width) / min(height, width) > 200:
        with pytest.raises(CoordinateError):
            smart_resize(height, width, factor, min_pixels, max_pixels)
        return
    theirs = qwen_vl_utils_smart_resize(height, width, factor, min_pixels, max_pixels)
    ours = smart_resize(height, width, factor, min_pixels, max_pixels)
    assert min(ours) >= factor and ours[0] % factor == 0 and ours[1] % factor == 0
    # qwen-vl-utils can floor a side to 0 at extreme aspect ratios; everywhere else the two agree.
    if min(theirs) > 0:
        assert ours == theirs


@FAST
@given(
    height=st.integers(28, 9000),
    width=st.integers(28, 9000),
    factor=st.sampled_from([28, 32]),
    budget=pixel_budgets,
)
def test_smart_resize_matches_transformers(height: int, width: int, factor: int, budget: tuple) -> None:
    assume(max(height, width) / min(height, width) <= 200)
    min_pixels, max_pixels = budget
    expected = transformers_smart_resize(height, width, factor, min_pixels, max_pixels)
    assert smart_resize(height, width, factor, min_pixels, max_pixels) == expected


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
@pytest.mark.parametrize("size", [(1080, 2400), (720, 1280), (333, 517), (1440, 3120), (100, 40)])
def test_image_processor_grid_gives_the_resized_size(family: str, size: tuple[int, int]) -> None:
    spec = family_spec(family)
    min_pixels, max_pixels = 4 * spec.factor**2, 256 * spec.factor**2
    processor = Qwen2VLImageProcessor(
        patch_size=spec.patch_size,
        merge_size=spec.merge_size,
        size={"shortest_edge": min_pixels, "longest_edge": max_pixels},
    )
    width, height = size
    out = processor(images=[torch.zeros(3, height, width, dtype=torch.uint8)], return_tensors="pt")
    grid = out["image_grid_thw"]  # (1, 3)
    assert model_size_from_grid(grid, spec.patch_size) == resized_image_size(
        family, size, min_pixels, max_pixels
    )
    assert model_size_from_grid(grid[0], spec.patch_size) == model_size_from_grid(
        grid.tolist(), spec.patch_size
    )


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_fetch_image_resizes_to_the_same_size(family: str) -> None:
    spec = family_spec(family)
    image = Image.new("RGB", (1080, 2400))
    resized = fetch_image(
        {"image": image, "min_pixels": 4 * spec.factor**2, "max_pixels": 512 * spec.factor**2},
        image_patch_size=spec.patch_size,
    )
    assert resized.size == resized_image_size(family, (1080, 2400), 4 * spec.factor**2, 512 * spec.factor**2)


def test_model_size_from_grid_rejects_bad_input() -> None:
    assert model_size_from_grid([1, 34, 16], 14) == (224, 476)
    for bad in ([1, 2], [[1, 2, 3], [1, 2, 3]], [1, 0, 4], [1, 2.5, 4], "abc", [1, True, 4]):
        with pytest.raises(CoordinateError):
            model_size_from_grid(bad, 14)
    with pytest.raises(CoordinateError):
        model_size_from_grid([1, 2, 4], 0)


def test_smart_resize_rejects_bad_arguments() -> None:
    with pytest.raises(CoordinateError, match="positive"):
        smart_resize(0, 100, 28, 3136, 1_000_000)
    with pytest.raises(CoordinateError, match="at least min_pixels"):
        smart_resize(100, 100, 28, 10_000, 5_000)
    with pytest.raises(CoordinateError, match="aspect ratio"):
        smart_resize(10, 2100, 28, 3136, 1_000_000)


def test_mapping_absolute_and_normalised() -> None:
    absolute = ScreenMapping((1080, 2400), (540, 1200), "absolute")
    assert absolute.to_device(270, 600) == (540.0, 1200.0)
    assert absolute.to_model(540, 1200) == (270.0, 600.0)
    norm = ScreenMapping((1080, 2400), (540, 1200), "norm1000")
    assert norm.to_device(500, 500) == (540.0, 1200.0)
    assert norm.model_point(1079, 2399) == (999, 1000)
    assert norm.pixels_per_unit == (1.08, 2.4)
    # The far edge of the screen is on the screen and folds onto the last pixel; beyond it is not.
    assert norm.on_screen(*norm.to_device(NORM_RANGE, NORM_RANGE))
    assert norm.device_pixel(*norm.to_device(NORM_RANGE, NORM_RANGE)) == (1079, 2399)
    assert not norm.on_screen(*norm.to_device(1001, 10))
    assert not norm.on_screen(*norm.to_device(-1, 10))
    # An image side whose scale is not a binary fraction still maps its far edge exactly onto the screen's.
    odd = ScreenMapping((1153, 324), (588, 140), "absolute")
    assert odd.to_device(588, 140) == (1153.0, 324.0)
    assert odd.on_screen(*odd.to_device(588, 140))
    assert mapping_for("qwen3_vl", (1080, 2400), (540, 1200)).coords == "norm1000"
    assert mapping_for("qwen3_vl", (1080, 2400), (540, 1200), "absolute").coords == "absolute"


def test_mapping_rejects_bad_sizes() -> None:
    for screen, image in [
        ((0, 10), (10, 10)),
        ((10, 10), (10.0, 10)),
        ((10, 10, 1), (10, 10)),
        ([10, 10], (10, 10)),
    ]:
        with pytest.raises(CoordinateError):
            ScreenMapping(screen, image)  # type: ignore[arg-type]
    with pytest.raises(CoordinateError):
        ScreenMapping((10, 10), (10, 10), "relative")  # type: ignore[arg-type]


@st.composite
def mappings(draw: st.DrawFn) -> ScreenMapping:
    family = draw(st.sampled_from(sorted(FAMILIES)))
    width = draw(st.integers(100, 4000))
    height = draw(st.integers(100, 4000))
    factor = family_spec(family).factor
    max_pixels = draw(st.sampled_from([64, 256, 512, 1280, 4096])) * factor**2
    image_size = resized_image_size(family, (width, height), 4 * factor**2, max_pixels)
    coords = draw(st.sampled_from(["absolute", "norm1000"]))
    return ScreenMapping((width, height), image_size, coords)


@FAST
@given(mapping=mappings(), fx=st.floats(0, 1, exclude_max=True), fy=st.floats(0, 1, exclude_max=True))
def test_round_trip_is_exact_to_half_a_model_unit(mapping: ScreenMapping, fx: float, fy: float) -> None:
    width, height = mapping.screen_size
    x, y = int(fx * width), int(fy * height)
    back_x, back_y = mapping.to_device(*mapping.model_point(x, y))
    unit_x, unit_y = mapping.pixels_per_unit
    assert abs(back_x - x) <= unit_x / 2 + 1e-9
    assert abs(back_y - y) <= unit_y / 2 + 1e-9
    assert mapping.on_screen(back_x, back_y)
    # Without rounding the mapping is its own inverse.
    ux, uy = mapping.to_device(*mapping.to_model(x, y))
    assert ux == pytest.approx(x, abs=1e-6) and uy == pytest.approx(y, abs=1e-6)


@FAST
@given(mapping=mappings(), fx=st.floats(0, 1), fy=st.floats(0, 1))
def test_points_a_model_can_write_survive_the_round_trip(
    mapping: ScreenMapping, fx: float, fy: float
) -> None:
    extent_x, extent_y = mapping.model_extent
    mx, my = round_half_up(fx * extent_x), round_half_up(fy * extent_y)
    x, y = (round_half_up(v) for v in mapping.to_device(mx, my))
    width, height = mapping.screen_size
    assume(x < width and y < height)
    assert mapping.device_pixel(*mapping.to_device(*mapping.model_point(x, y))) == (x, y)
