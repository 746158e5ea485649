"""Time full GRPO steps (sampling + loss + optimizer) on the fixed single-step workload of issue 7, item 8.

Workload: the tiny Qwen2.5-VL of ``gui-grpo init-model`` (hidden 128, 2 layers, vision depth 2), one
280x560 screenshot of 4 labelled buttons, instruction "Tap <label>", G = 8 samples of that one prompt,
exactly 24 new tokens each (stop tokens suppressed, so no early stop), LoRA r = 8 on every attention and MLP
projection of the language model, fp32, 2 CPU threads. A step is: encode the prompt, sample G completions
(one shared prefill), score them (a tap inside the named button's bounds earns 1), group advantages, the
clipped GRPO loss with one backward pass over the G samples, clip, AdamW step.

    python scripts/bench_train.py --steps 20 --warmup 3

Prints the median and p95 step time and the peak RSS of the process (the whole process: model, data,
Python). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from gui_grpo.config import config_from_dict
from gui_grpo.rollout import Step, png_bytes
from gui_grpo.trainer import Sample, Trainer

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


def build_trainer(model_dir: str, out: str) -> Trainer:
    cfg = config_from_dict(
        {
            "model": model_dir,
            "out": out,
            "device": "cpu",
            "dtype": "float32",
            "progress_bar": False,
            "rollout": {"group_size": G, "groups_per_step": 1, "max_new_tokens": NEW_TOKENS},
            "lora": {"r": 8, "alpha": 16},
            "optim": {"lr": 1e-4},
        }
    )
    trainer = Trainer(cfg)
    engine = trainer.policy.engine
    # Exactly NEW_TOKENS tokens: the stop tokens are never sampled (and masked in the loss alike).
    engine.banned_ids = sorted(set(engine.banned_ids) | set(engine.stop_ids))
    engine.stop_ids = []
    return trainer


def grpo_step(trainer: Trainer, image: Image.Image, boxes: list, step: int) -> tuple[float, float]:
    """One full GRPO step; returns (reward mean, seconds)."""
    from gui_grpo.actions import parse_action
    from gui_grpo.rollout import episode_seed

    t0 = time.perf_counter()
    target = step % len(LABELS)
    builder, engine = trainer.policy.builder, trainer.policy.engine
    prompt = builder.build(f"Tap {LABELS[target]}", [image], [], image.size)
    batch = builder.encode([prompt])
    seeds = [episode_seed(0, step, 0, m, 0) for m in range(G)]
    comps = engine.sample_encoded(batch, [G], seeds, False)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", help="an existing tiny model directory (default: build one)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model
        if model_dir is None:
            from gui_grpo.modeling.build import init_model

            model_dir = str(Path(tmp) / "tiny")
            init_model(model_dir, family="qwen2_5_vl", size="tiny", seed=0)
        trainer = build_trainer(model_dir, str(Path(tmp) / "run"))
        image, boxes = screenshot()
        times = []
        for step in range(args.warmup + args.steps):
            _, dt = grpo_step(trainer, image, boxes, step)
            if step >= args.warmup:
                times.append(dt)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {
        "median_s": round(statistics.median(times), 4),
        "p95_s": round(p95, 4),
        "mean_s": round(statistics.fmean(times), 4),
        "peak_rss_mb": round(peak_mb, 1),
        "steps": args.steps,
        "threads": args.threads,
        "torch": torch.__version__,
    }
    print(json.dumps(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
