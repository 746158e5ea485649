"""Prompts: screenshots and instruction in, model inputs out.

A prompt is the family's own chat template over: a system message declaring the tool, its action set and
the screen resolution; a user message with the instruction, a short text history of previous actions,
the last k screenshots, and (in ``pixels+elements`` mode) the numbered interactive elements.

Screenshots are resized once, here, with qwen-vl-utils (the same ``smart_resize`` Qwen's own pipelines
use), and handed to the processor with ``do_resize=False`` so they are never resized twice. The size the
model saw is read back from ``image_grid_thw`` × patch size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from PIL import Image
from qwen_vl_utils import fetch_image

from emulators.elements import Element
from gui_grpo.policy.actions import resolve_format, tool_description
from gui_grpo.policy.coords import family_spec

ObservationMode = Literal["pixels", "pixels+elements"]


class PromptTooLong(ValueError):
    """A prompt does not fit the token budget."""


@dataclass(frozen=True)
class PromptConfig:
    """How observations become prompts. Recorded in every run config."""

    observation: ObservationMode = "pixels"
    """``pixels``: screenshot only, coordinate actions (what released Qwen checkpoints expect).
    ``pixels+elements``: also the numbered elements, so actions may target an element by index."""
    action_format: str | None = None
    """None: the family's default (``mobile_use`` for qwen2_5_vl, ``mobile_use_norm1000`` otherwise)."""
    screenshots: int = 1
    """How many of the most recent screenshots the prompt carries."""
    history: int = 8
    """How many previous actions the text history lists."""
    min_pixels: int = 4 * 28 * 28
    max_pixels: int = 512 * 28 * 28
    """Screenshots are downscaled to at most this many pixels (about 512 visual tokens at factor 28)."""
    max_prompt_tokens: int = 8192
    max_elements: int = 40

    def __post_init__(self) -> None:
        if self.observation not in ("pixels", "pixels+elements"):
            raise ValueError(f"observation must be 'pixels' or 'pixels+elements', got {self.observation!r}")
        if self.screenshots < 1:
            raise ValueError("screenshots must be >= 1: the model needs the current screen")
        if not 0 < self.min_pixels <= self.max_pixels:
            raise ValueError("need 0 < min_pixels <= max_pixels")


@dataclass
class Prompt:
    """One prompt before tokenisation: chat text plus the resized images it refers to."""

    text: str
    images: list[Image.Image]
    screen_size: tuple[int, int]
    elements: list[Element] | None = None
    model_image_size: tuple[int, int] = (0, 0)  # set by encode(), from image_grid_thw
    meta: dict[str, Any] = field(default_factory=dict)


SYSTEM_PROMPT = (
    "You are a helpful assistant that operates an Android phone to complete the user's task.\n"
    "Each turn you see the current screen and answer with exactly one action.\n"
    "Use `answer` to reply to questions about what is on the phone, and `terminate` when the task is "
    "done or impossible.\n\n"
)


class PromptBuilder:
    """Builds and encodes prompts for one processor and family."""

    def __init__(self, processor: Any, family: str, cfg: PromptConfig) -> None:
        self.processor = processor
        self.family = family
        self.cfg = cfg
        self.action_format = resolve_format(family, cfg.action_format)
        self.patch_size = family_spec(family).patch_size

    def resize(self, screenshot: Image.Image) -> Image.Image:
        """Resize a device screenshot to what the model sees (once)."""
        return fetch_image(
            {"image": screenshot, "min_pixels": self.cfg.min_pixels, "max_pixels": self.cfg.max_pixels},
            image_patch_size=self.patch_size,
        )

    def build(
        self,
        instruction: str,
        screenshots: list[Image.Image],
        history: list[str],
        screen_size: tuple[int, int],
        elements: list[Element] | None = None,
    ) -> Prompt:
        """Chat text for one step. ``screenshots`` are resized images, oldest first."""
        images = screenshots[-self.cfg.screenshots :]
        image_size = images[-1].size
        with_elements = self.cfg.observation == "pixels+elements"
        system = SYSTEM_PROMPT + tool_description(
            self.family, self.action_format, image_size, with_elements=with_elements
        )
        lines = [f"Task: {instruction}"]
        recent = history[-self.cfg.history :]
        if recent:
            first = len(history) - len(recent) + 1
            lines.append("Previous actions:")
            lines += [f"Step {first + i}: {h}" for i, h in enumerate(recent)]
        else:
            lines.append("Previous actions: none")
        content: list[dict[str, Any]] = [{"type": "text", "text": "\n".join(lines) + "\n"}]
        for i, img in enumerate(images):
            label = "Current screen:" if i == len(images) - 1 else f"Screen {i - len(images) + 1}:"
            content.append({"type": "text", "text": label})
            content.append({"type": "image", "image": img})
        shown = None
        if with_elements:
            shown = list(elements or [])[: self.cfg.max_elements]
            # Centres are device pixels, not the model's coordinates: list elements by index only.
            listing = "\n".join(e.describe(with_center=False) for e in shown) or "(no interactive elements)"
            content.append({"type": "text", "text": "\nInteractive elements:\n" + listing})
        messages = [
            {"role": "system", "content": [{"type": "text", "text": system}]},
            {"role": "user", "content": content},
        ]
        text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return Prompt(text=text, images=images, screen_size=screen_size, elements=shown)

    def encode(
        self, prompts: list[Prompt], completions: list[list[int]] | None = None
    ) -> dict[str, torch.Tensor]:
        """Tokenise a batch, left-padded; appends completion ids when given (for the loss).

        Left padding aligns every row's end, so completion tokens are the last ``len(c)`` positions.
        """
        tok = self.processor.tokenizer
        tok.padding_side = "left"
        images = [img for p in prompts for img in p.images]
        batch = self.processor(
            text=[p.text for p in prompts], images=images, do_resize=False, padding=True, return_tensors="pt"
        )
        self._set_model_sizes(prompts, batch["image_grid_thw"])
        lengths = batch["attention_mask"].sum(dim=1)
        too_long = [int(n) for n in lengths if int(n) > self.cfg.max_prompt_tokens]
        if too_long:
            raise PromptTooLong(
                f"a prompt has {max(too_long)} tokens; the budget is {self.cfg.max_prompt_tokens}. "
                "Lower max_pixels or screenshots, or raise max_prompt_tokens."
            )
        if completions is not None:
            batch = append_completions(batch, completions, tok.pad_token_id)
        return dict(batch)

    def _set_model_sizes(self, prompts: list[Prompt], grid_thw: torch.Tensor) -> None:
        i = 0
        for p in prompts:
            i += len(p.images)
            _, h, w = (int(v) for v in grid_thw[i - 1])  # the current (last) screen of this prompt
            p.model_image_size = (w * self.patch_size, h * self.patch_size)


def append_completions(batch: Any, completions: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Append each row's completion after its prompt, keeping rows right-aligned (left padding)."""
    ids, mask = batch["input_ids"], batch["attention_mask"]  # (B, P)
    width = max((len(c) for c in completions), default=0)
    rows_ids, rows_mask = [], []
    for row_ids, row_mask, comp in zip(ids, mask, completions, strict=True):
        extra = width - len(comp)
        comp_t = torch.tensor(comp, dtype=ids.dtype)
        pad = torch.full((extra,), pad_id, dtype=ids.dtype)
        rows_ids.append(torch.cat([pad, row_ids, comp_t]))  # (extra + P + len(comp),)
        rows_mask.append(torch.cat([torch.zeros(extra, dtype=mask.dtype), row_mask, torch.ones_like(comp_t)]))
    out = dict(batch)
    out["input_ids"] = torch.stack(rows_ids)  # (B, P + width)
    out["attention_mask"] = torch.stack(rows_mask)
    if "mm_token_type_ids" in out:
        tt = out["mm_token_type_ids"]
        out["mm_token_type_ids"] = torch.stack(
            [
                torch.cat(
                    [torch.zeros(width - len(c), dtype=tt.dtype), r, torch.zeros(len(c), dtype=tt.dtype)]
                )
                for r, c in zip(tt, completions, strict=True)
            ]
        )
    return out
