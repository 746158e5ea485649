"""Build a tiny Qwen VL checkpoint offline: tokenizer, processors, config and seeded random weights.

The result is saved with ``save_pretrained`` so that ``AutoModelForImageTextToText.from_pretrained(out)`` and
``AutoProcessor.from_pretrained(out)`` load it like a released checkpoint. Departures from the released
architectures, all in the config only:

- rope_theta is 10 instead of 1e6 (5e5 for Qwen3-VL): with head dim 32 the default base leaves the
  multimodal (temporal, height, width) positions of an image almost invisible to a tiny model;
- ``mrope_section`` is scaled to head_dim / 2 = 16 ([4, 6, 6], and [6, 5, 5] interleaved for Qwen3-VL);
- the vision tower is 2 blocks wide 64-128, with Qwen3-VL's learned position grid at 16 x 16 and one
  deepstack layer.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import torch
from transformers import AutoModelForImageTextToText, GenerationConfig, PretrainedConfig, ProcessorMixin
from transformers.models.qwen2_5_vl import Qwen2_5_VLConfig, Qwen2_5_VLProcessor
from transformers.models.qwen2_vl import Qwen2VLConfig, Qwen2VLImageProcessor, Qwen2VLProcessor
from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor
from transformers.models.qwen3_vl import Qwen3VLConfig, Qwen3VLProcessor
from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

from gui_grpo.modeling.pretrain import PretrainConfig, PretrainResult
from gui_grpo.modeling.pretrain import pretrain as run_pretraining
from gui_grpo.modeling.tokenizer import build_tokenizer
from gui_grpo.policy.coords import FAMILIES, family_spec

FamilyName = Literal["qwen2_vl", "qwen2_5_vl", "qwen3_vl"]
Size = Literal["tiny", "small"]
ROPE_THETA = 10.0
OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


@dataclass(frozen=True)
class TinyDims:
    """Widths and depths of one size preset."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vision_hidden: int
    vision_depth: int
    vision_heads: int


SIZES: dict[str, TinyDims] = {
    "tiny": TinyDims(
        hidden=128,
        intermediate=256,
        layers=2,
        heads=4,
        kv_heads=2,
        vision_hidden=64,
        vision_depth=2,
        vision_heads=2,
    ),
    "small": TinyDims(
        hidden=256,
        intermediate=768,
        layers=4,
        heads=8,
        kv_heads=4,
        vision_hidden=128,
        vision_depth=2,
        vision_heads=4,
    ),
}
HEAD_DIM = 32  # every preset: hidden / heads
assert all(d.hidden == d.heads * HEAD_DIM for d in SIZES.values())


def vision_token_ids(tokenizer: Any) -> dict[str, int]:
    """The config fields naming the vision placeholder tokens, as ``tokenizer`` numbers them."""
    ids = tokenizer.convert_tokens_to_ids
    return {
        "image_token_id": ids("<|image_pad|>"),
        "video_token_id": ids("<|video_pad|>"),
        "vision_start_token_id": ids("<|vision_start|>"),
        "vision_end_token_id": ids("<|vision_end|>"),
    }


def _text_config(family: FamilyName, dims: TinyDims, vocab_size: int, tokenizer: Any) -> dict[str, Any]:
    interleaved = family == "qwen3_vl"
    rope: dict[str, Any] = {
        "rope_type": "default",
        "rope_theta": ROPE_THETA,
        "mrope_section": [6, 5, 5] if interleaved else [4, 6, 6],
    }
    if interleaved:
        rope["mrope_interleaved"] = True
    assert sum(rope["mrope_section"]) == HEAD_DIM // 2
    text = {
        "vocab_size": vocab_size,
        "hidden_size": dims.hidden,
        "intermediate_size": dims.intermediate,
        "num_hidden_layers": dims.layers,
        "num_attention_heads": dims.heads,
        "num_key_value_heads": dims.kv_heads,
        "max_position_embeddings": 32768,
        "rope_parameters": rope,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    if interleaved:
        text["head_dim"] = HEAD_DIM
    return text


def _vision_config(family: FamilyName, dims: TinyDims) -> dict[str, Any]:
    common = {
        "depth": dims.vision_depth,
        "num_heads": dims.vision_heads,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "patch_size": family_spec(family).patch_size,
    }
    if family == "qwen2_vl":
        return {**common, "embed_dim": dims.vision_hidden, "hidden_size": dims.hidden, "mlp_ratio": 2}
    width = {
        "hidden_size": dims.vision_hidden,
        "intermediate_size": 2 * dims.vision_hidden,
        "out_hidden_size": dims.hidden,
    }
    if family == "qwen2_5_vl":
        return {**common, **width, "window_size": 112, "fullatt_block_indexes": [dims.vision_depth - 1]}
    return {**common, **width, "num_position_embeddings": 256, "deepstack_visual_indexes": [0]}


CONFIG_CLASSES: dict[str, type[PretrainedConfig]] = {
    "qwen2_vl": Qwen2VLConfig,
    "qwen2_5_vl": Qwen2_5_VLConfig,
    "qwen3_vl": Qwen3VLConfig,
}


def build_config(family: FamilyName, size: Size, tokenizer: Any) -> PretrainedConfig:
    """The model config of a ``size`` preset, with token ids taken from ``tokenizer``."""
    dims = SIZES[size]
    vocab_size = -(-len(tokenizer) // 64) * 64  # round up: room for added tokens, aligned matmuls
    return CONFIG_CLASSES[family](
        text_config=_text_config(family, dims, vocab_size, tokenizer),
        vision_config=_vision_config(family, dims),
        tie_word_embeddings=False,
        **vision_token_ids(tokenizer),
    )


def build_processor(family: FamilyName, tokenizer: Any) -> ProcessorMixin:
    """The family's processor: its image and video processors around ``tokenizer``."""
    spec = family_spec(family)
    factor = spec.factor
    # Image limits are the released checkpoints' (the prompt builder resizes first, so nothing is resized
    # twice); video limits are the transformers defaults.
    image_size = {"shortest_edge": spec.min_pixels, "longest_edge": spec.max_pixels}
    video_size = {"shortest_edge": 128 * factor * factor, "longest_edge": 768 * factor * factor}
    mean, std = ([0.5] * 3, [0.5] * 3) if family == "qwen3_vl" else (OPENAI_CLIP_MEAN, OPENAI_CLIP_STD)
    shape = {
        "patch_size": spec.patch_size,
        "merge_size": spec.merge_size,
        "temporal_patch_size": spec.temporal_patch_size,
        "image_mean": mean,
        "image_std": std,
    }
    image_processor = Qwen2VLImageProcessor(size=image_size, **shape)
    video_class = Qwen3VLVideoProcessor if family == "qwen3_vl" else Qwen2VLVideoProcessor
    video_processor = video_class(size=video_size, **shape)
    processor_class = {
        "qwen2_vl": Qwen2VLProcessor,
        "qwen2_5_vl": Qwen2_5_VLProcessor,
        "qwen3_vl": Qwen3VLProcessor,
    }[family]
    return processor_class(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=tokenizer.chat_template,
    )


class BuiltModel(NamedTuple):
    path: Path
    parameters: int
    vocab_size: int
    pretrained: PretrainResult | None = None


def init_model(
    out: str | Path,
    *,
    family: FamilyName = "qwen2_5_vl",
    size: Size = "tiny",
    seed: int = 0,
    pretrain: PretrainConfig | None = None,
    log: Callable[[str], None] | None = None,
) -> BuiltModel:
    """Build a ``size`` model of ``family`` with seeded random weights and save it under ``out``; with
    ``pretrain``, first train its text side on the generic reading exercises of ``modeling.pretrain``
    (the result is written to ``OUT/pretraining.json``)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {sorted(FAMILIES)}")
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {sorted(SIZES)}")
    out = Path(out)
    tokenizer = build_tokenizer(family, seed=seed)
    processor = build_processor(family, tokenizer)
    config = build_config(family, size, tokenizer)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
    finally:
        torch.random.set_rng_state(generator_state)
    pretrained, record = None, None
    if pretrain is not None:
        pretrained = run_pretraining(model, tokenizer, pretrain, log=log)
        record = {"config": dataclasses.asdict(pretrain), **dataclasses.asdict(pretrained)}
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.pad_token_id,
        eos_token_id=[tokenizer.eos_token_id, tokenizer.pad_token_id],
        pad_token_id=tokenizer.pad_token_id,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    if record is not None:
        (out / "pretraining.json").write_text(json.dumps(record, indent=2) + "\n")
    parameters = sum(p.numel() for p in model.parameters())
    return BuiltModel(out, parameters, config.text_config.vocab_size, pretrained)
