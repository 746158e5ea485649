"""Load a Qwen VL policy from a local path: model, processor and family, with LoRA when asked.

One code path serves released checkpoints on a GPU and the tiny offline models from ``gui-grpo init-model``
on a CPU. LoRA goes on the language model's attention and MLP projections only (the regex names
``language_model``, so the Qwen2.5-VL vision blocks' ``gate_proj``/``up_proj``/``down_proj`` are not
touched); the vision tower stays frozen unless ``train_vision`` is set.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import types
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn
from torch.nn import functional as F
from transformers import AutoModelForImageTextToText, AutoProcessor, ProcessorMixin

from gui_grpo.grpo.config import ConfigError
from gui_grpo.policy.coords import FAMILIES

DEFAULT_LORA_TARGETS: tuple[str, ...] = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)
DType = Literal["auto", "float32", "bfloat16"]
DeviceChoice = Literal["auto", "cpu", "cuda"]


class ModelLoadError(Exception):
    """A model, processor or adapter could not be loaded; the message says how to fix it."""


@dataclass
class AdapterConfig:
    """What is trained: a LoRA on the language model's projections, or every language-model weight.

    The one adapter setting of the project: the ``lora`` section of a training run, the warm start's
    ``adapter``, and what ``load_policy`` puts on a model.
    """

    r: int = 16
    """LoRA rank."""
    alpha: int = 32
    """LoRA scale numerator: the update is multiplied by alpha / r."""
    dropout: float = 0.0
    """Dropout on the LoRA input. Non-zero makes recomputed log-probs differ from the sampled ones."""
    target_modules: tuple[str, ...] = DEFAULT_LORA_TARGETS
    """Projection names inside the language model's layers that get an adapter."""
    full_finetune: bool = False
    """Train every language-model weight instead of a LoRA (tiny models trained from scratch)."""

    def __post_init__(self) -> None:
        self.target_modules = tuple(self.target_modules)
        if self.r < 1:
            raise ConfigError(f"lora r must be >= 1, got {self.r} (e.g. 16)")
        if self.alpha <= 0:
            raise ConfigError(f"lora alpha must be > 0, got {self.alpha} (e.g. 2 x r)")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"lora dropout must be in [0, 1), got {self.dropout} (usually 0)")
        if not self.target_modules or not all(re.fullmatch(r"\w+", m) for m in self.target_modules):
            raise ConfigError(
                f"lora target_modules must be module names such as {list(DEFAULT_LORA_TARGETS)}, "
                f"got {list(self.target_modules)}"
            )

    def target_regex(self) -> str:
        """A peft ``target_modules`` regex matching these projections in the language model only."""
        names = "|".join(re.escape(m) for m in self.target_modules)
        return rf"(?:.*\.)?language_model\.(?:.*\.)?(?:{names})"


class LoadedPolicy(NamedTuple):
    model: nn.Module
    processor: ProcessorMixin
    family: str
    """``config.model_type``, a key of ``gui_grpo.policy.coords.FAMILIES``."""


def detect_family(path: str | Path) -> str:
    """The family (a key of ``gui_grpo.policy.coords.FAMILIES``) of the checkpoint at ``path``."""
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(
            f"model path {path} does not exist: pass the directory of a checkpoint (a downloaded Qwen2-VL / "
            "Qwen2.5-VL / Qwen3-VL, a run's warm_start, an export), or build a tiny random model to try "
            "things with `gui-grpo init-model runs/tiny`"
        )
    config_file = path / "config.json"
    try:
        config = json.loads(config_file.read_text())
    except FileNotFoundError as e:
        raise ModelLoadError(
            f"{path} has no config.json: point to a Hugging Face checkpoint directory "
            "(config.json, weights, processor files)"
        ) from e
    except json.JSONDecodeError as e:
        raise ModelLoadError(
            f"{config_file} is not valid JSON ({e}): re-download or rebuild the model"
        ) from e
    model_type = config.get("model_type", "<missing>")
    if "vision_config" not in config:
        raise ModelLoadError(
            f"{path} is not a vision-language model (model_type {model_type!r} has no vision_config): "
            f"gui-grpo needs a checkpoint of one of {sorted(FAMILIES)}"
        )
    if model_type not in FAMILIES:
        raise ModelLoadError(
            f"{path} is a {model_type!r} model, a family without a known action format: use a checkpoint of "
            f"one of {sorted(FAMILIES)} (or add the family to gui_grpo.policy.coords.FAMILIES)"
        )
    return model_type


def resolve_device(device: DeviceChoice) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("device 'cuda' was asked for but torch sees no GPU: use device 'cpu' or 'auto'")
    if device not in ("cpu", "cuda"):
        raise ModelLoadError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda'")
    return torch.device(device)


def resolve_dtype(dtype: DType, device: torch.device) -> torch.dtype:
    """``auto`` is bfloat16 on a GPU that supports it, float32 otherwise."""
    if dtype == "auto":
        bf16_ok = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if bf16_ok else torch.float32
    if dtype not in ("float32", "bfloat16"):
        raise ModelLoadError(f"unknown dtype {dtype!r}: use 'auto', 'float32' or 'bfloat16'")
    return getattr(torch, dtype)


def vision_tower(model: nn.Module) -> nn.Module:
    """The vision encoder (``model.model.visual`` in transformers 5), under a peft wrapper or not."""
    base = model.get_base_model() if isinstance(model, PeftModel) else model
    visual = getattr(getattr(base, "model", None), "visual", None)
    if visual is None:
        raise ModelLoadError(
            f"{type(base).__name__} has no model.visual: not a Qwen VL model of transformers 5"
        )
    return visual


def patch_embed_as_matmul(model: nn.Module) -> int:
    """Run the vision patch embedding as the matrix product it is; returns how many modules changed.

    Qwen's patch embedding is a Conv3d whose kernel equals its stride, applied to inputs the processor
    already cut into one patch each, so it is a linear map of each flattened patch. On CPUs mkldnn's
    Conv3d takes about 3x the time of the product (800 patches of the tiny model: 2.4 vs 0.7 ms); the
    weights and their gradients are the module's own, unchanged.
    """
    changed = 0
    for module in model.modules():
        proj = getattr(module, "proj", None)
        if (
            type(module).__name__.endswith("PatchEmbed")
            and isinstance(proj, nn.Conv3d)
            and proj.kernel_size == proj.stride
            and all(p == 0 for p in proj.padding)
            and proj.groups == 1
        ):
            module.forward = types.MethodType(_patch_embed_forward, module)
            changed += 1
    return changed


def _patch_embed_forward(self: nn.Module, hidden_states: torch.Tensor) -> torch.Tensor:
    weight = self.proj.weight  # (E, C, T, P, P)
    patches = hidden_states.reshape(-1, weight[0].numel()).to(weight.dtype)  # (N, C·T·P·P)
    return F.linear(patches, weight.reshape(len(weight), -1), self.proj.bias)  # (N, E)


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def _load_base(path: Path, dtype: torch.dtype, device: torch.device) -> tuple[nn.Module, Any]:
    try:
        model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype)
        processor = AutoProcessor.from_pretrained(path)
    except (OSError, ValueError, KeyError) as e:
        raise ModelLoadError(
            f"could not load the model or processor at {path} ({type(e).__name__}: {e}); the "
            "directory needs config.json, weights and processor files: restore it from where it came from "
            "(a download, or the run or checkpoint that wrote it)"
        ) from e
    # Batched generation appends to the right end of every prompt.
    processor.tokenizer.padding_side = "left"
    return model.to(device), processor


def enable_gradient_checkpointing(model: nn.Module) -> None:
    """Recompute each layer's activations in the backward pass instead of keeping them."""
    # Non-reentrant: works with frozen embeddings under LoRA without enable_input_require_grads.
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.2x name
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


@contextlib.contextmanager
def _peft_quiet() -> Iterator[None]:
    """peft reads transformers' deprecated ``is_gradient_checkpointing`` when it wraps a model; the
    FutureWarning asks nothing of a user, so it is silenced there (and only there)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning
        )
        yield


def _load_adapter(model: nn.Module, adapter: Path, trainable: bool) -> PeftModel:
    if not (adapter / "adapter_config.json").is_file():
        raise ModelLoadError(
            f"adapter {adapter} has no adapter_config.json: pass a directory written by a gui-grpo "
            "checkpoint (PeftModel.save_pretrained)"
        )
    try:
        with _peft_quiet():
            return PeftModel.from_pretrained(model, adapter, is_trainable=trainable)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        detail = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise ModelLoadError(
            f"could not load adapter {adapter} onto this model ({type(e).__name__}: {detail}): "
            "was it trained on the same base checkpoint?"
        ) from e


def load_policy(
    path: str | Path,
    *,
    dtype: DType = "auto",
    device: DeviceChoice = "auto",
    lora: AdapterConfig | None = None,
    adapter: str | Path | None = None,
    gradient_checkpointing: bool = False,
    train_vision: bool = False,
) -> LoadedPolicy:
    """Load the policy at ``path``.

    - ``lora`` only: a fresh LoRA adapter on the language model.
    - ``adapter`` only: that adapter, trainable (resume or evaluate).
    - ``adapter`` and ``lora``: the adapter is merged into the base (e.g. a supervised warm start) and a fresh
      LoRA goes on top, so "adapter disabled" means the warm-started model.
    - neither, or ``lora.full_finetune``: no fresh LoRA; with no ``adapter`` every language-model weight is
      trainable (full fine-tuning), with one that adapter is trainable.

    The vision tower is frozen unless ``train_vision``; with LoRA it is then trained in full and saved with
    the adapter (peft ``modules_to_save``). The model is returned in eval mode; the tokenizer pads left.
    """
    family = detect_family(path)
    torch_device = resolve_device(device)
    # Absolute, so that an adapter saved from it names its base by a path that works from any directory.
    base = Path(os.path.abspath(path))
    model, processor = _load_base(base, resolve_dtype(dtype, torch_device), torch_device)
    model = wrap_policy(
        model,
        lora=lora,
        adapter=adapter,
        gradient_checkpointing=gradient_checkpointing,
        train_vision=train_vision,
    )
    return LoadedPolicy(model, processor, family)


def wrap_policy(
    model: nn.Module,
    *,
    lora: AdapterConfig | None = None,
    adapter: str | Path | None = None,
    gradient_checkpointing: bool = False,
    train_vision: bool = False,
) -> nn.Module:
    """What ``load_policy`` does to a loaded base model (same arguments): adapter, LoRA, frozen vision
    tower, the patch embedding as a product; returned in eval mode. For a base model built in memory
    (``scripts/gpu_check.py`` builds released-size architectures from their configs)."""
    if lora is not None and lora.full_finetune:
        lora = None
    if gradient_checkpointing:
        enable_gradient_checkpointing(model)
    if adapter is not None:
        model = _load_adapter(model, Path(adapter), trainable=lora is None)
        if lora is not None:
            model = model.merge_and_unload()
    if lora is not None:
        config = LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=lora.target_regex(),
            modules_to_save=["visual"] if train_vision else None,
            bias="none",
        )
        with _peft_quiet():
            model = get_peft_model(model, config)
    elif adapter is None:
        model.requires_grad_(True)
    if not isinstance(model, PeftModel) or not train_vision:
        vision_tower(model).requires_grad_(train_vision)
    patch_embed_as_matmul(model)
    model.eval()
    return model
