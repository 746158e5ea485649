"""Rollout throughput and shared-prefill speed-up, each measured in a fresh process (own peak memory).

1. ``rollout``: actions per second with 32 live episodes (8 groups × 4 members on forked PhoneSims),
   played by one batched ``play_groups`` call versus a per-episode loop (each episode played alone,
   batch size 1). Target: batched ≥ 4× the loop.
2. ``prefill``: n = 8 samples of one full-resolution (1080×2400) screenshot prompt at the family's
   default ``max_pixels``: ``HFEngine.sample`` (one prefill, cache gathered 8-fold) versus
   ``generate(num_return_sequences=8)`` (8 prefills), same seeds; the completions must be identical.
   Target: ≥ 2×.

Peak memory is each phase's process ``ru_maxrss``. The model is a fresh ``init-model`` of ``--size``
(default ``small``; the ``tiny`` model's vision tower dominates a full-resolution prompt, which hides what
shared prefill saves on real checkpoints). Figures: docs/BENCH_ROLLOUT.md. Usage:

    python scripts/bench_rollout.py [--family qwen2_5_vl] [--size small] [--threads 1] [--out bench.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _load(model_dir: str, max_pixels: int, max_new_tokens: int) -> Any:
    from gui_grpo.policy.engine import HFEngine, Policy
    from gui_grpo.policy.model import load_policy
    from gui_grpo.policy.prompts import PromptBuilder, PromptConfig

    model, processor, family = load_policy(model_dir, device="cpu", dtype="float32")
    cfg = PromptConfig(
        observation="pixels+elements", action_format="json", max_pixels=max_pixels, max_prompt_tokens=32768
    )
    return Policy(
        PromptBuilder(processor, family, cfg), HFEngine(model, processor, max_new_tokens=max_new_tokens)
    )


def _groups(n_groups: int, size: int, seed: int) -> list:
    from emulators.phonesim import SimDevice
    from gui_grpo.rollout.group import start_group
    from tasks.suites import instances

    tasks = instances("easy", "train", n_groups, seed=seed)
    return [
        start_group(t, 1000 + g, g, size, lambda s=1000 + g: SimDevice(seed=s, resolution="small"))
        for g, t in enumerate(tasks)
    ]


def phase_rollout(args: argparse.Namespace) -> dict[str, Any]:
    from gui_grpo.rollout.group import GroupSpec, PlayConfig, play_groups

    policy = _load(args.model, 28 * 28 * 64, args.max_new_tokens)
    cfg = PlayConfig(max_steps=args.steps, max_invalid_in_a_row=None, max_batch=32)
    if args.mode == "batched":
        groups = _groups(8, 4, seed=1)
        t0 = time.perf_counter()
        results = play_groups(policy, groups, run_seed=0, step=0, config=cfg)
        seconds = time.perf_counter() - t0
    else:
        results, seconds = [], 0.0
        for g in _groups(8, 4, seed=1):
            for device, state in zip(g.devices, g.initial_states or [g.initial_state] * 4, strict=True):
                alone = GroupSpec(g.task, g.seed, g.group, [device], state)
                t0 = time.perf_counter()
                results += play_groups(policy, [alone], run_seed=0, step=0, config=cfg, max_batch=1)
                seconds += time.perf_counter() - t0
    actions = sum(len(r.steps) for r in results)
    return {
        "episodes": len(results),
        "actions": actions,
        "seconds": seconds,
        "actions_per_s": actions / seconds,
    }


def phase_prefill(args: argparse.Namespace) -> dict[str, Any]:
    from emulators.phonesim import SimDevice
    from gui_grpo.policy.coords import family_spec

    policy = _load(args.model, family_spec(args.family).max_pixels, args.max_new_tokens)
    builder, engine = policy.builder, policy.engine
    device = SimDevice(seed=3, resolution="default")
    screen = device.screenshot()
    prompt = builder.build(
        "Turn on airplane mode", [builder.resize(screen)], [], screen.size, device.elements()
    )
    seeds = [101 + i for i in range(args.n)]
    batch = builder.encode([prompt])
    engine.sample([prompt], args.n, seeds=[seeds])  # warm-up (allocator, kernels)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        if args.mode == "shared":  # both modes start from the same encoded batch
            comps = engine.sample_encoded(batch, [args.n], seeds, greedy=False)
        else:
            comps = engine.generate_repeated(batch, args.n, seeds=seeds)
        times.append(time.perf_counter() - t0)
    return {
        "screen": list(screen.size),
        "model_image": list(prompt.model_image_size),
        "prompt_tokens": int(batch["attention_mask"].sum()),
        "seconds": min(times),
        "completions": [c.token_ids for c in comps],
    }


def _child(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    fn = phase_rollout if args.phase == "rollout" else phase_prefill
    out = fn(args)
    out["peak_rss_mib"] = round(_peak_mib(), 1)
    print("RESULT " + json.dumps(out))


def _run(args: argparse.Namespace, phase: str, mode: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--phase", phase, "--mode", mode, "--model", args.model]
    cmd += ["--family", args.family, "--threads", str(args.threads), "--steps", str(args.steps)]
    cmd += ["--n", str(args.n), "--repeats", str(args.repeats), "--max-new-tokens", str(args.max_new_tokens)]
    env = dict(
        os.environ, OMP_NUM_THREADS=str(args.threads), TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1"
    )
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{phase}/{mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--family", default="qwen2_5_vl", choices=["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
    parser.add_argument("--model", default=None, help="model dir (default: a fresh init-model of --size)")
    parser.add_argument("--size", default="small", choices=["tiny", "small"], help="init-model size")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--steps", type=int, default=3, help="steps per episode in the rollout phase")
    parser.add_argument("--n", type=int, default=8, help="samples per prompt in the prefill phase")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=64, help="the trainer's default")
    parser.add_argument("--out", default=None, help="also write the figures here as JSON")
    parser.add_argument("--phase", choices=["rollout", "prefill"], help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        _child(args)
        return
    if args.model is None:
        from gui_grpo.modeling.build import init_model

        args.model = str(Path(tempfile.mkdtemp(prefix="bench-model-")) / f"{args.family}-{args.size}")
        init_model(args.model, family=args.family, size=args.size, seed=0)
    figures = {name: _run(args, *name.split("/")) for name in ("rollout/loop", "rollout/batched")}
    figures.update({name: _run(args, *name.split("/")) for name in ("prefill/repeated", "prefill/shared")})
    same = figures["prefill/shared"].pop("completions") == figures["prefill/repeated"].pop("completions")
    summary = {
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0], "torch_threads": args.threads},
        "rollout_speedup": figures["rollout/batched"]["actions_per_s"]
        / figures["rollout/loop"]["actions_per_s"],
        "prefill_speedup": figures["prefill/repeated"]["seconds"] / figures["prefill/shared"]["seconds"],
        "prefill_same_completions": same,
        **figures,
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
