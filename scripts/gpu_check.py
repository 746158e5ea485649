"""One-command check of the real-size training path: Qwen2.5-VL 3B and 7B and Qwen3-VL 8B built at their
released configurations with random weights, each driven through GRPO steps on one PhoneSim screen.

Per configuration:

- the architecture from the released ``config.json`` dimensions (``RELEASED`` below) with random weights
  (bf16 on a GPU), the tiny offline tokenizer's ids (``gui_grpo.modeling.build.vision_token_ids``, pad and
  EOS) inside the real vocabulary size, so embedding table, logits and sampling are full width (ids past
  the tiny vocabulary decode to nothing);
- LoRA r = 16, alpha 32 on q/k/v/o/gate/up/down of the language model (``AdapterConfig`` through
  ``policy.model.wrap_policy``, what ``load_policy`` does to a loaded checkpoint); the vision tower frozen;
- one prompt: a ``smoke`` task's start screen on PhoneSim at the trainer's ``rollout.sim_resolution``,
  resized to the default ``max_pixels`` (``PromptBuilder``);
- a step: G = 8 samples of up to 64 new tokens through ``HFEngine`` (``Policy.sample``, temperature 1,
  one shared prefill); rewards 0/1 alternating, group advantages; the loss pass
  (``train.loss_pass.LossPass``, shared prefix: the prompt runs once); gradient clipping; AdamW step.
  2 warm-up steps, then 5 timed (medians reported). Then one step at G = 16 and one at G = 8 with gradient
  checkpointing, each reported as fitting or not (``torch.cuda.OutOfMemoryError`` caught, memory freed).
  The checkpointed step runs the plain loss pass (G full rows): checkpointed layers drop the KV cache
  that the shared-prefix pass needs.

The update is ``Trainer.update``'s sequence (``LossPass.micro_batches``, per-micro-batch loss scales,
``LossPass.backward``, ``clip_grad_norm_``, ``AdamW.step``), split where it is timed. The ``Trainer`` itself
is not used: it loads its model from a checkpoint directory, and 17 GB of random weights are built in GPU
memory instead of written to disk.

MFU of the loss pass: ``6 * N * T / (loss_pass_s * peak)``. N: the language model's parameters without the
input embedding table (``lm_head`` counted). T: the tokens the pass runs (the prompt once, plus every
completion token). 6 N per token is the full-training convention (forward 2 N, backward 4 N); a LoRA
backward skips the base weights' gradients (about 4 N actually computed), and attention scores and the
frozen vision tower (forward only) are not counted. ``peak``: ``--peak-tflops``, by default the H200's
dense bf16 figure. ``tokens_per_s``: sampled tokens per second of sampling.

    PYTHONPATH=. python scripts/gpu_check.py                    # CUDA: the three released sizes
    PYTHONPATH=. python scripts/gpu_check.py --size small       # any machine: the init-model small configs

Prints one JSON line per configuration (docs/BENCHMARKS.md, "GPU check").
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import torch

H200_BF16_DENSE_TFLOPS = 989.0
G, G_LARGE, NEW_TOKENS, LORA_R = 8, 16, 64, 16
SUITE = "smoke"
MIN_TRANSFORMERS = "5.20"  # pyproject.toml's pin


@dataclass(frozen=True)
class Released:
    """A released checkpoint's architecture: its config.json dimensions (token ids: the tokenizer's)."""

    family: str
    text: dict[str, Any]
    vision: dict[str, Any]
    tie_word_embeddings: bool


QWEN2_5_VISION = {
    "depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16, "patch_size": 14,
    "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112, "hidden_act": "silu",
    "fullatt_block_indexes": [7, 15, 23, 31], "tokens_per_second": 2,
}
QWEN2_5_ROPE = {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]}
RELEASED: dict[str, Released] = {
    "qwen2_5_vl_3b": Released(  # Qwen/Qwen2.5-VL-3B-Instruct
        "qwen2_5_vl",
        {"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": 36,
         "num_attention_heads": 16, "num_key_value_heads": 2, "max_position_embeddings": 128000,
         "rms_norm_eps": 1e-6, "rope_parameters": QWEN2_5_ROPE},
        {**QWEN2_5_VISION, "out_hidden_size": 2048},
        tie_word_embeddings=True,
    ),
    "qwen2_5_vl_7b": Released(  # Qwen/Qwen2.5-VL-7B-Instruct
        "qwen2_5_vl",
        {"vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
         "num_attention_heads": 28, "num_key_value_heads": 4, "max_position_embeddings": 128000,
         "rms_norm_eps": 1e-6, "rope_parameters": QWEN2_5_ROPE},
        {**QWEN2_5_VISION, "out_hidden_size": 3584},
        tie_word_embeddings=False,
    ),
    "qwen3_vl_8b": Released(  # Qwen/Qwen3-VL-8B-Instruct
        "qwen3_vl",
        {"vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 36,
         "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
         "max_position_embeddings": 262144, "rms_norm_eps": 1e-6,
         "rope_parameters": {"rope_type": "default", "rope_theta": 5e6, "mrope_section": [24, 20, 20],
                             "mrope_interleaved": True}},
        {"depth": 27, "hidden_size": 1152, "intermediate_size": 4304, "num_heads": 16, "patch_size": 16,
         "spatial_merge_size": 2, "temporal_patch_size": 2, "hidden_act": "gelu_pytorch_tanh",
         "num_position_embeddings": 2304, "deepstack_visual_indexes": [8, 16, 24], "out_hidden_size": 4096},
        tie_word_embeddings=False,
    ),
}
RELEASED_PARAMS: dict[str, int] = {  # the checkpoints' safetensors totals, as their model pages give them
    "qwen2_5_vl_3b": 3_754_622_976, "qwen2_5_vl_7b": 8_292_166_656, "qwen3_vl_8b": 8_767_123_696,
}
SMALL: dict[str, str] = {"qwen2_5_vl_small": "qwen2_5_vl", "qwen3_vl_small": "qwen3_vl"}
"""``--size small``: the ``small`` preset of ``gui-grpo init-model`` (hidden 256, 4 layers), per family."""


class CheckError(Exception):
    """The check cannot run as asked; the message says what to do instead."""


def family_of(name: str) -> str:
    return RELEASED[name].family if name in RELEASED else SMALL[name]


def model_config(name: str, tokenizer: Any) -> Any:
    """The model config of configuration ``name``, with ``tokenizer``'s ids."""
    from gui_grpo.modeling.build import CONFIG_CLASSES, build_config, vision_token_ids

    if name in SMALL:
        return build_config(SMALL[name], "small", tokenizer)  # type: ignore[arg-type]
    spec = RELEASED[name]
    ids = {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.pad_token_id,
           "eos_token_id": tokenizer.eos_token_id}
    return CONFIG_CLASSES[spec.family](
        text_config={**spec.text, **ids},
        vision_config=dict(spec.vision),
        tie_word_embeddings=spec.tie_word_embeddings,
        **vision_token_ids(tokenizer),
    )


def build_base(config: Any, device: torch.device, dtype: torch.dtype, seed: int = 0) -> Any:
    """Random weights for ``config``, created on ``device`` (a 7B model is never materialised on the CPU)."""
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(seed)
    with device:
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    return model.to(device)  # a no-op where every weight was created there already


def language_params(model: Any) -> int:
    """N of the MFU: the language model's weights without its input embeddings, plus ``lm_head`` (counted
    when tied to the embeddings too: the product runs either way); LoRA factors not counted."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    body = base.model.language_model.named_parameters()
    return sum(p.numel() for n, p in body if "lora_" not in n and "embed_tokens" not in n) + (
        base.lm_head.weight.numel()
    )


def count_params(name: str) -> dict[str, Any]:
    """Parameter counts of configuration ``name`` built on the meta device (nothing allocated), with LoRA."""
    from gui_grpo.modeling.tokenizer import build_tokenizer
    from gui_grpo.policy.model import AdapterConfig, parameter_counts, wrap_policy

    tokenizer = build_tokenizer(family_of(name), seed=0)  # type: ignore[arg-type]
    model = build_base(model_config(name, tokenizer), torch.device("meta"), torch.bfloat16)
    _, total = parameter_counts(model)
    n_lm = language_params(model)
    trainable, _ = parameter_counts(wrap_policy(model, lora=AdapterConfig(r=LORA_R, alpha=2 * LORA_R)))
    return {"config": name, "family": family_of(name), "params": total,
            "released_params": RELEASED_PARAMS.get(name), "language_params": n_lm,
            "trainable_params": trainable, "lora_r": LORA_R}


@dataclass
class Rig:
    """The pieces of one configuration's training step."""

    model: Any
    policy: Any
    loss_pass: Any
    optimizer: torch.optim.Optimizer
    params: list[torch.nn.Parameter]
    max_grad_norm: float
    device: torch.device


def build_rig(name: str, device: torch.device, dtype: torch.dtype) -> tuple[Rig, Any]:
    """Model, LoRA, prompt builder, engine, loss pass and optimizer as the trainer sets them up, with the
    trainer's defaults (``TrainConfig``) except G; returns the rig and the training config."""
    from gui_grpo.modeling.build import build_processor
    from gui_grpo.modeling.tokenizer import build_tokenizer
    from gui_grpo.policy.engine import HFEngine, Policy
    from gui_grpo.policy.model import AdapterConfig, wrap_policy
    from gui_grpo.policy.prompts import PromptBuilder
    from gui_grpo.train.config import RolloutConfig, TrainConfig
    from gui_grpo.train.loss_pass import LossPass

    family = family_of(name)
    cfg = TrainConfig(model=f"<{name}, built in memory>", rollout=RolloutConfig(group_size=G),
                      lora=AdapterConfig(r=LORA_R, alpha=2 * LORA_R))
    tokenizer = build_tokenizer(family, seed=0)  # type: ignore[arg-type]
    processor = build_processor(family, tokenizer)  # type: ignore[arg-type]
    processor.tokenizer.padding_side = "left"  # as load_policy: batched prompts end at the right edge
    model = wrap_policy(build_base(model_config(name, tokenizer), device, dtype), lora=cfg.lora)
    builder = PromptBuilder(processor, family, cfg.prompt)
    engine = HFEngine(model, processor, max_new_tokens=NEW_TOKENS, temperature=cfg.rollout.temperature)
    loss_pass = LossPass(
        model, builder, cfg.loss_config(), temperature=cfg.rollout.temperature,
        banned_ids=engine.banned_ids, pad_id=processor.tokenizer.pad_token_id,
        micro_batch_tokens=cfg.optim.micro_batch_tokens,
    )
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    rig = Rig(model, Policy(builder, engine), loss_pass, optimizer, params, cfg.optim.max_grad_norm, device)
    return rig, cfg


@dataclass
class PhonePrompt:
    prompt: Any
    png: bytes
    screen_size: tuple[int, int]


def phone_prompt(builder: Any, resolution: str) -> PhonePrompt:
    """A ``smoke`` task's start screen on PhoneSim in a prompt at the builder's ``max_pixels``."""
    from emulators.phonesim import SimDevice
    from gui_grpo.rollout.records import png_bytes
    from tasks.suites import instances

    task = instances(SUITE, "train", 1, seed=0)[0]
    device = SimDevice(seed=0, resolution=resolution)
    task.setup(device)
    screen = device.screenshot()
    image = builder.resize(screen)
    prompt = builder.build(task.instruction, [image], [], screen.size)
    return PhonePrompt(prompt, png_bytes(image), screen.size)


def clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def samples_of(shown: PhonePrompt, comps: list[Any], loss_cfg: Any) -> list[Any]:
    """One sample per completion: alternating 0/1 rewards, the group's advantages, weight 1."""
    from gui_grpo.grpo.advantages import group_advantages
    from gui_grpo.rollout.records import Step
    from gui_grpo.train.samples import Sample

    rewards = torch.tensor([float(m % 2) for m in range(len(comps))])  # (G,)
    adv = group_advantages(rewards, torch.zeros(len(comps), dtype=torch.long), scale=loss_cfg.scale_std)
    prompt = shown.prompt
    return [
        Sample(Step(prompt.text, [shown.png], shown.screen_size, prompt.model_image_size, c.token_ids,
                    c.logprobs, c.text, "", True, prompt_tokens=c.prompt_tokens), a, 1.0)
        for c, a in zip(comps, adv.tolist(), strict=True)
    ]


def grpo_step(rig: Rig, shown: PhonePrompt, g: int, step: int) -> dict[str, float]:
    """Sample ``g`` completions, one loss pass, one optimizer step; seconds of each and token counts."""
    t0 = clock(rig.device)
    comps = rig.policy.sample([shown.prompt] * g, [1000 * step + m for m in range(g)], False, g)
    t1 = clock(rig.device)
    samples = samples_of(shown, comps, rig.loss_pass.loss_cfg)
    rig.model.train()
    chunks = rig.loss_pass.micro_batches(samples)
    norms = [rig.loss_pass.normalizer(c) for c in chunks]
    constant = rig.loss_pass.loss_cfg.aggregation == "constant"
    scales = [1.0 if constant else n / sum(norms) for n in norms]  # as Trainer._loss_scales, one rank
    rig.optimizer.zero_grad(set_to_none=True)
    sums = rig.loss_pass.backward(chunks, scales, len(samples), reuse_kept=False)
    t2 = clock(rig.device)
    grad_norm = torch.nn.utils.clip_grad_norm_(rig.params, rig.max_grad_norm)
    rig.optimizer.step()
    t3 = clock(rig.device)
    rig.model.eval()
    sampled = sum(len(c.token_ids) for c in comps)
    prompt_runs = len(chunks)  # the shared-prefix pass runs the prompt once per micro-batch
    return {
        "sampling_s": t1 - t0, "loss_pass_s": t2 - t1, "optimizer_s": t3 - t2,
        "loss": sums["loss"], "grad_norm": float(grad_norm),
        "sampled_tokens": sampled, "loss_pass_tokens": prompt_runs * comps[0].prompt_tokens + sampled,
        "prompt_tokens": comps[0].prompt_tokens,
    }


def reset_peak(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None


def timed_steps(rig: Rig, shown: PhonePrompt, steps: int, warmup: int) -> dict[str, Any]:
    """Median figures of ``steps`` GRPO steps at G after ``warmup`` untimed ones, and their peak memory."""
    reset_peak(rig.device)
    rows = [grpo_step(rig, shown, G, s) for s in range(warmup + steps)][warmup:]
    med = {k: statistics.median(r[k] for r in rows) for k in ("sampling_s", "loss_pass_s", "optimizer_s")}
    sampled = statistics.median(r["sampled_tokens"] for r in rows)
    return {
        **{k: round(v, 4) for k, v in med.items()},
        "step_s": round(sum(med.values()), 4),
        "sampled_tokens": sampled,
        "tokens_per_s": round(sampled / med["sampling_s"], 1),
        "prompt_tokens": rows[0]["prompt_tokens"],
        "loss_pass_tokens": statistics.median(r["loss_pass_tokens"] for r in rows),
        "peak_gpu_mem_gib": peak_gib(rig.device),
        "loss": [round(r["loss"], 6) for r in rows],
        "grad_norm": [round(r["grad_norm"], 6) for r in rows],
    }


def trial(rig: Rig, shown: PhonePrompt, g: int, step: int) -> dict[str, Any]:
    """One more GRPO step at ``g``: whether it fits in GPU memory, its peak and loss-pass seconds."""
    reset_peak(rig.device)
    row = None
    try:
        row = grpo_step(rig, shown, g, step)
    except torch.cuda.OutOfMemoryError:
        pass  # the frames holding the step's tensors are released when the handler ends
    if row is None:
        rig.optimizer.zero_grad(set_to_none=True)
        rig.model.eval()
        reset_peak(rig.device)
        return {"fits": False, "peak_gpu_mem_gib": None, "loss_pass_s": None}
    seconds = round(row["loss_pass_s"], 4)
    return {"fits": True, "peak_gpu_mem_gib": peak_gib(rig.device), "loss_pass_s": seconds}


def versions() -> dict[str, str | None]:
    import peft
    import transformers

    return {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.version.cuda,
            "transformers": transformers.__version__, "peft": peft.__version__}


def check_transformers() -> None:
    """A ``CheckError`` where this machine's transformers predates the Qwen VL classes gui-grpo uses."""
    import transformers
    from packaging.version import Version

    if Version(transformers.__version__) < Version(MIN_TRANSFORMERS):
        raise CheckError(f"transformers {transformers.__version__} is older than the {MIN_TRANSFORMERS} that "
                         "gui-grpo needs (rope_parameters, Qwen3-VL): carry a newer one (docs/BENCHMARKS.md)")


def checkpointed_layers(model: Any) -> int:
    """How many layers recompute their activations in the backward pass (transformers'
    ``GradientCheckpointingLayer`` with its ``gradient_checkpointing`` flag set)."""
    layers = [m for m in model.modules() if hasattr(m, "_can_checkpoint_with_cache")]
    return sum(1 for m in layers if m.gradient_checkpointing)


def check(name: str, args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> dict[str, Any]:
    """Every figure of one configuration (the JSON line)."""
    from gui_grpo.policy.model import enable_gradient_checkpointing, parameter_counts

    t0 = time.perf_counter()
    rig, cfg = build_rig(name, device, dtype)
    shown = phone_prompt(rig.policy.builder, cfg.rollout.sim_resolution)
    build_s = time.perf_counter() - t0
    trainable, total = parameter_counts(rig.model)
    n_lm = language_params(rig.model)
    figures = timed_steps(rig, shown, args.steps, args.warmup)
    flops = 6 * n_lm * figures["loss_pass_tokens"]
    peak = args.peak_tflops or (H200_BF16_DENSE_TFLOPS if device.type == "cuda" else None)
    large = trial(rig, shown, G_LARGE, args.warmup + args.steps)
    enable_gradient_checkpointing(rig.model)
    # Checkpointed layers drop the KV cache (transformers' GradientCheckpointingLayer) that the shared-prefix
    # pass reads its completions against: under checkpointing only the plain pass (G full rows) runs.
    rig.loss_pass.share_prompts = False
    checkpointed = trial(rig, shown, G, args.warmup + args.steps + 1)
    checkpointed["layers"] = checkpointed_layers(rig.model)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {
        "config": name, "family": family_of(name), "device": device.type, "gpu": gpu,
        "dtype": str(dtype).removeprefix("torch."), "params": total - trainable, "language_params": n_lm,
        "released_params": RELEASED_PARAMS.get(name), "trainable_params": trainable, "lora_r": LORA_R,
        "g": G, "max_new_tokens": NEW_TOKENS,
        "image_size": list(shown.prompt.model_image_size), "steps": args.steps, "warmup": args.warmup,
        **figures,
        "loss_pass_tflop": float(f"{flops / 1e12:.4g}"),
        "mfu": float(f"{flops / (figures['loss_pass_s'] * peak * 1e12):.4g}") if peak else None,
        "mfu_basis": f"6*N*T/(loss_pass_s*{peak:g} TFLOPS)" if peak else "no --peak-tflops for a CPU",
        "g16_fits": large["fits"], "g16_peak_gpu_mem_gib": large["peak_gpu_mem_gib"],
        "grad_checkpointing_fits": checkpointed["fits"],
        "grad_checkpointing_peak_gpu_mem_gib": checkpointed["peak_gpu_mem_gib"],
        "grad_checkpointing_loss_pass_s": checkpointed["loss_pass_s"],
        "grad_checkpointing_loss_pass": "plain", "grad_checkpointing_layers": checkpointed["layers"],
        "build_s": round(build_s, 1), **versions(),
    }


def config_names(args: argparse.Namespace) -> list[str]:
    """The configurations ``--size`` and ``--configs`` name, or a ``CheckError`` naming the unknown ones."""
    known = SMALL if args.size == "small" else RELEASED
    names = args.configs.split(",") if args.configs else list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise CheckError(f"unknown --configs {unknown} for --size {args.size}: use {', '.join(known)}")
    return names


def resolve(args: argparse.Namespace) -> tuple[list[str], torch.device, torch.dtype]:
    """Configurations, device and dtype asked for, or a ``CheckError`` saying what is wrong."""
    from gui_grpo.policy.model import ModelLoadError, resolve_device, resolve_dtype

    try:
        device = resolve_device(args.device)
    except ModelLoadError as e:
        raise CheckError(str(e)) from e
    names = config_names(args)
    if args.size == "full" and device.type != "cuda":
        raise CheckError("--size full builds released-size models (up to 17 GB of bf16 weights) and needs "
                         "CUDA; on this machine run --size small, or --count-params")
    if device.type == "cuda" and args.gpu_mem_gib:
        total = torch.cuda.get_device_properties(device).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, args.gpu_mem_gib * 2**30 / total), device)
    return names, device, resolve_dtype("auto", device)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=["full", "small"], default="full",
                        help="full: the released configurations (CUDA); small: init-model's small preset")
    parser.add_argument("--configs", help=f"comma-separated subset of {', '.join([*RELEASED, *SMALL])}")
    parser.add_argument("--steps", type=int, default=5, help="timed GRPO steps per configuration")
    parser.add_argument("--warmup", type=int, default=2, help="untimed GRPO steps before them")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--peak-tflops", type=float,
                        help="the device's dense bf16 peak, for the MFU (default on CUDA: the H200's 989)")
    parser.add_argument("--count-params", action="store_true",
                        help="only build each configuration on the meta device (no memory, any machine) and "
                        "print its parameter counts next to the released checkpoint's")
    parser.add_argument("--gpu-mem-gib", type=float,
                        help="cap this process's GPU memory (e.g. 80 or 24): what fits on a smaller GPU")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be >= 1 and --warmup >= 0")
    if args.peak_tflops is not None and args.peak_tflops <= 0:
        parser.error("--peak-tflops must be > 0 (the H200's dense bf16 peak is 989)")
    return args


def print_counts(args: argparse.Namespace) -> int:
    """``--count-params``: one JSON line of parameter counts per configuration, built on the meta device."""
    for name in config_names(args):
        print(json.dumps(count_params(name)), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """One JSON line per configuration; 2 when the check cannot run as asked, 1 when a configuration ran
    out of GPU memory at G = 8 (its line then says so and the next one runs)."""
    args = parse_args(argv)
    try:
        check_transformers()
        if args.count_params:
            return print_counts(args)
        names, device, dtype = resolve(args)
    except CheckError as e:
        print(f"gpu_check: {e}", file=sys.stderr)
        return 2
    failed = False
    for name in names:
        try:
            line = check(name, args, device, dtype)
        except torch.cuda.OutOfMemoryError as e:
            failed = True
            line = {"config": name, "error": f"out of GPU memory at G = {G}: {str(e).splitlines()[0][:200]}"}
        print(json.dumps(line), flush=True)
        reset_peak(device)  # the last configuration's model is garbage by now: free it before the next
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
