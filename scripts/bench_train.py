"""Time full GRPO steps (sampling + loss + optimizer) on the fixed single-step workload of issue 7, item 8,
and the shared-prefix loss pass against the plain one on a full-resolution screenshot prompt.

Workload: the tiny Qwen2.5-VL of ``gui-grpo init-model`` (hidden 128, 2 layers, vision depth 2), one
280x560 screenshot of 4 labelled buttons, instruction "Tap <label>", G = 8 samples of that one prompt,
exactly 24 new tokens each (stop tokens suppressed, so no early stop), LoRA r = 8 on every attention and MLP
projection of the language model, fp32, 2 CPU threads. A step is: encode the prompt, sample G completions
(one shared prefill), score them (a tap inside the named button's bounds earns 1), group advantages, the
clipped GRPO loss with one backward pass over the G samples, clip, AdamW step. Loss passes:
``reuse`` (default; ``optim.reuse_prefill``): the sampling prefill ran with gradients and the loss runs
only the G completions against it; ``shared``: the prompt runs again, once
(``gui_grpo.policy.shared_prefix``);
``plain``: G full rows.

    python scripts/bench_train.py --steps 20 --warmup 3 [--loss-pass reuse|shared|plain|all]

``--prefix`` instead times the loss pass alone (forward + backward of the clipped loss, LoRA r = 8) for
G = 8 completions of 24 tokens on one 1080x2400 screenshot prompt, plain versus shared, each variant in its
own process (its own peak RSS), at the prompt's default ``max_pixels`` and at native resolution:

    python scripts/bench_train.py --prefix [--size tiny] [--repeats 5]

Prints JSON figures: median and p95 step time, peak RSS of the process (model, data, Python). Run it on an
otherwise idle machine; ``--loss-pass all`` runs the three variants in one invocation, one after the other,
so their ratio is fair even when the machine is not idle.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from gui_grpo.rollout.records import Step, png_bytes
from gui_grpo.train.config import config_from_dict
from gui_grpo.train.samples import Sample
from gui_grpo.train.trainer import Trainer

LABELS = ("OK", "Cancel", "Settings", "Search")
WIDTH, HEIGHT = 280, 560
G, NEW_TOKENS = 8, 24


def screenshot() -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """A 280x560 screen with 4 labelled buttons, and their bounds."""
    img = Image.new("RGB", (WIDTH, HEIGHT), (245, 245, 245))
    draw = ImageDraw.Draw(img)
    boxes = []
    for i, label in enumerate(LABELS):
        box = (40, 60 + i * 120, 240, 140 + i * 120)
        draw.rounded_rectangle(box, radius=12, fill=(60, 120, 220))
        draw.text((box[0] + 20, box[1] + 30), label, fill=(255, 255, 255))
        boxes.append(box)
    return img, boxes


def build_trainer(model_dir: str, out: str, loss_pass: str = "reuse") -> Trainer:
    cfg = config_from_dict(
        {
            "model": model_dir,
            "out": out,
            "device": "cpu",
            "dtype": "float32",
            "progress_bar": False,
            "rollout": {"group_size": G, "groups_per_step": 1, "max_new_tokens": NEW_TOKENS},
            "lora": {"r": 8, "alpha": 16},
            "optim": {"lr": 1e-4, "reuse_prefill": loss_pass == "reuse"},
        }
    )
    trainer = Trainer(cfg)
    trainer.loss_pass.share_prompts = loss_pass != "plain"
    engine = trainer.policy.engine
    # Exactly NEW_TOKENS tokens: the stop tokens are never sampled (and masked in the loss alike).
    engine.banned_ids = sorted(set(engine.banned_ids) | set(engine.stop_ids))
    trainer.loss_pass.banned_ids = engine.banned_ids
    engine.stop_ids = []
    return trainer


def grpo_step(trainer: Trainer, image: Image.Image, boxes: list, step: int) -> tuple[float, float]:
    """One full GRPO step; returns (reward mean, seconds)."""
    from gui_grpo.policy.actions import parse_action
    from gui_grpo.rollout.step import episode_seed

    t0 = time.perf_counter()
    target = step % len(LABELS)
    builder, engine = trainer.policy.builder, trainer.policy.engine
    prompt = builder.build(f"Tap {LABELS[target]}", [image], [], image.size)
    seeds = [episode_seed(0, step, 0, m, 0) for m in range(G)]
    # The loss pass's store (None unless reuse): the prefill runs with gradients and is kept for the update.
    comps = engine.sample([prompt], [G], seeds=[seeds], keep=trainer.loss_pass.kept)[0]
    rewards = []
    for c in comps:
        action = parse_action(c.text, family=trainer.family, image_size=prompt.model_image_size,
                              screen_size=image.size, action_format=builder.action_format)
        x1, y1, x2, y2 = boxes[target]
        hit = hasattr(action, "x") and x1 <= action.x <= x2 and y1 <= action.y <= y2
        rewards.append(1.0 if hit else 0.0)
    r = torch.tensor(rewards)
    adv = ((r - r.mean()) / (r.std() + 1e-4)).tolist()
    pngs = [png_bytes(image)]
    samples = [
        Sample(Step(prompt.text, pngs, image.size, prompt.model_image_size, c.token_ids, c.logprobs, c.text,
                    "", True), a, 1.0)
        for c, a in zip(comps, adv, strict=True)
    ]
    assert all(len(s.step.completion_ids) == NEW_TOKENS for s in samples)
    trainer.update(samples)
    return float(r.mean()), time.perf_counter() - t0

NATIVE_PIXELS = 1092 * 2408  # a 1080x2400 screen after smart_resize to multiples of 28, not downscaled


def full_res_screen() -> Image.Image:
    """A 1080x2400 screen: status bar, a list of labelled rows, a button."""
    img = Image.new("RGB", (1080, 2400), (250, 250, 250))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, 1080, 80), fill=(30, 30, 30))
    for i in range(12):
        top = 200 + i * 160
        draw.rectangle((40, top, 1040, top + 130), outline=(200, 200, 200), width=3)
        draw.text((80, top + 50), f"Setting {i + 1}", fill=(20, 20, 20))
        draw.ellipse((900, top + 35, 960, top + 95), fill=(60, 120, 220) if i % 3 else (180, 180, 180))
    draw.rounded_rectangle((340, 2180, 740, 2300), radius=30, fill=(60, 120, 220))
    return img


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


def measure_loss_pass(model_dir: str, variant: str, max_pixels: int | None, repeats: int) -> dict:
    """Median seconds and peak memory of encode + forward + backward of the clipped loss for G = 8
    completions of one full-resolution screenshot prompt, ``plain`` or ``shared``."""
    from gui_grpo.grpo.config import preset
    from gui_grpo.grpo.loss import policy_loss
    from gui_grpo.policy.logprobs import completion_stats, encode_shared
    from gui_grpo.policy.model import AdapterConfig, load_policy
    from gui_grpo.policy.prompts import PromptBuilder, PromptConfig
    from gui_grpo.policy.shared_prefix import SharedPrefixBatch, shared_prefix_stats

    lora = AdapterConfig(8, 16)
    model, processor, family = load_policy(model_dir, device="cpu", dtype="float32", lora=lora)
    model.train()
    cfg = PromptConfig(max_prompt_tokens=32768, **({"max_pixels": max_pixels} if max_pixels else {}))
    builder = PromptBuilder(processor, family, cfg)
    screen = builder.resize(full_res_screen())
    prompt = builder.build("Turn on Setting 3", [screen], [], (1080, 2400))
    g = torch.Generator().manual_seed(0)
    comps = [torch.randint(10, 400, (NEW_TOKENS,), generator=g).tolist() for _ in range(G)]
    old = -torch.rand(G, NEW_TOKENS, generator=g) * 3  # (G, C)
    adv = torch.randn(G, generator=g)  # (G,)
    pad_id = processor.tokenizer.pad_token_id

    def stats():
        if variant == "plain":  # the trainer's plain pass: G rows, the image embedded once
            batch = encode_shared(builder, model, [prompt] * G, [0] * G, comps)
            return completion_stats(model, batch, [NEW_TOKENS] * G)
        batch = SharedPrefixBatch(builder.encode([prompt]), torch.zeros(G, dtype=torch.long), comps, pad_id)
        return shared_prefix_stats(model, batch)

    before = rss_mb()
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        logp, mask, _ = stats()
        loss, _ = policy_loss(logp, old, adv, mask, preset("grpo"))
        loss.backward()
        model.zero_grad(set_to_none=True)
        if i:
            times.append(time.perf_counter() - t0)
    tokens = int(builder.encode([prompt])["input_ids"].shape[1])
    return {
        "variant": variant,
        "prompt_tokens": tokens,
        "model_image_size": list(prompt.model_image_size),
        "median_s": round(statistics.median(times), 4),
        "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(peak_mb(), 1),
        "pass_peak_mb": round(peak_mb() - before, 1),
    }


def compare_loss_passes(args: argparse.Namespace, model_dir: str, run: Callable[[list[str]], dict]) -> list:
    """Plain vs shared loss pass at the default and at native resolution, each in a fresh process."""
    rows = []
    for pixels in (None, NATIVE_PIXELS):
        for variant in ("plain", "shared"):
            argv = ["--model", model_dir, "--variant", variant, "--repeats", str(args.repeats),
                    "--threads", str(args.threads)]
            rows.append({**run(argv + (["--max-pixels", str(pixels)] if pixels else [])), "size": args.size})
    return rows


def run_steps(args: argparse.Namespace, model_dir: str, loss_pass: str) -> dict:
    """Time ``args.steps`` GRPO steps after ``args.warmup`` untimed ones, in this process."""
    with tempfile.TemporaryDirectory() as tmp:
        trainer = build_trainer(model_dir, str(Path(tmp) / "run"), loss_pass)
        image, boxes = screenshot()
        times = []
        for step in range(args.warmup + args.steps):
            _, dt = grpo_step(trainer, image, boxes, step)
            if step >= args.warmup:
                times.append(dt)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return {
        "loss_pass": loss_pass,
        "median_s": round(statistics.median(times), 4),
        "p95_s": round(p95, 4),
        "mean_s": round(statistics.fmean(times), 4),
        "peak_rss_mb": round(peak_mb(), 1),
        "steps": args.steps,
        "threads": args.threads,
        "torch": torch.__version__,
    }


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def in_subprocess(argv: list[str]) -> dict:
    """Run this script with ``argv`` in a fresh process (its own peak RSS); its last output line is JSON."""
    done = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--loss-pass", choices=["reuse", "shared", "plain", "all"], default="reuse")
    parser.add_argument("--model", help="an existing tiny model directory (default: build one)")
    parser.add_argument("--prefix", action="store_true", help="time the loss pass alone, plain vs shared")
    parser.add_argument("--size", default="tiny", help="--prefix: init-model size (tiny, small)")
    parser.add_argument("--repeats", type=int, default=5, help="--prefix: timed loss passes per variant")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # one --prefix measurement, in a child process
    parser.add_argument("--max-pixels", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.variant:
        print(json.dumps(measure_loss_pass(args.model, args.variant, args.max_pixels, args.repeats)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model
        if model_dir is None:
            from gui_grpo.modeling.build import init_model

            model_dir = str(Path(tmp) / "model")
            init_model(model_dir, family="qwen2_5_vl", size=args.size if args.prefix else "tiny", seed=0)
        if args.prefix:
            figures: dict | list = compare_loss_passes(args, model_dir, in_subprocess)
        elif args.loss_pass == "all":
            common = ["--model", model_dir, "--steps", str(args.steps), "--warmup", str(args.warmup),
                      "--threads", str(args.threads)]
            figures = [in_subprocess([*common, "--loss-pass", v]) for v in ("reuse", "shared", "plain")]
        else:
            figures = run_steps(args, model_dir, args.loss_pass)
    print(json.dumps(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
