"""How a policy chooses among the candidate elements of one oracle step, on held-out instances.

For each test-split instance of the given templates, the oracle plays up to its first ``click`` by index; the
policy then scores every candidate ``{"action": "click", "index": i}`` (the screen's switches, or every
listed element when there are none) by the log-probability of the whole action, and the script prints the
normalised probabilities, the oracle's index and whether the policy's favourite is right. This separates
"cannot match the instruction to an element" from "matches but acts wrongly".

``--train-more N`` first trains the policy, full-parameter, for ``--minutes`` on N fresh oracle episodes
per template (train split, seeds from 100 on), to see whether more data teaches the match:

    python experiments/probe_choices.py runs/quickstart/warm_start --templates clock.alarm_on,clock.alarm_off
    python experiments/probe_choices.py runs/quickstart/warm_start --train-more 150 --minutes 4 --out /tmp/m

Prints one line per instance and a JSON line last (right / instances, and the mean probability of the
oracle's choice, per template).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import torch

from gui_grpo.cli.quickstart import QUICKSTART_PROMPT
from gui_grpo.policy.logprobs import completion_logprobs
from gui_grpo.policy.model import AdapterConfig, load_policy
from gui_grpo.policy.prompts import PromptBuilder
from gui_grpo.train.demos import Demo, DemoError, DemoSet, build_manifest, record_demos
from gui_grpo.train.sft import SftConfig, run_sft


def oracle_steps(builder: PromptBuilder, templates: list[str], split: str, n: int, start: int) -> list[Demo]:
    """The oracle's steps on ``n`` instances per template of the ``easy`` suite's ``split``."""
    try:
        demos, _ = record_demos(builder, suite="easy", split=split, seeds=n, first_seed=start,
                                templates=templates)
    except DemoError as e:
        sys.exit(str(e))
    return demos


@torch.no_grad()
def probe(
    model: torch.nn.Module, builder: PromptBuilder, templates: list[str], instances: int
) -> dict[str, dict[str, float]]:
    tok = builder.processor.tokenizer
    figures: dict[str, dict[str, float]] = {}
    for name in templates:
        right, gold_p, seen = 0, 0.0, 0
        for demo in oracle_steps(builder, [name], "test", instances, 0):
            m = re.search(r'"action": "click", "index": (\d+)', demo.target_text)
            if not m or not demo.elements:
                continue
            gold = int(m.group(1))
            switches = [e.index for e in demo.elements if e.class_name.endswith("Switch")]
            candidates = switches or [e.index for e in demo.elements]
            texts = [f'{{"action": "click", "index": {i}}}<|im_end|>' for i in candidates]
            comps = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
            batch = builder.encode([demo.prompt()] * len(comps), comps)
            logp, mask = completion_logprobs(model, batch, [len(c) for c in comps])
            probs = torch.softmax((logp * mask).sum(dim=1), dim=0)
            best = candidates[int(probs.argmax())]
            right += best == gold
            gold_p += float(probs[candidates.index(gold)]) if gold in candidates else 0.0
            seen += 1
            shown = " ".join(f"{i}:{float(p):.2f}" for i, p in zip(candidates, probs, strict=True))
            print(f"{name:24s} {demo.instruction[:48]:48s} oracle {gold:2d}  p {shown}")
        figures[name] = {"right": right, "instances": seen, "oracle_p": round(gold_p / max(seen, 1), 3)}
        print(f"{name}: favourite right {right}/{seen}, mean p(oracle) {figures[name]['oracle_p']}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="a full checkpoint (e.g. RUN/warm_start)")
    parser.add_argument("--templates", default="clock.alarm_on,clock.alarm_off")
    parser.add_argument("--instances", type=int, default=10, help="test-split instances per template")
    parser.add_argument("--train-more", type=int, default=0, metavar="N",
                        help="first train on N fresh oracle episodes per template (full-parameter)")
    parser.add_argument("--minutes", type=float, default=4.0, help="time budget of --train-more")
    parser.add_argument("--out", type=Path, help="where --train-more writes the trained model")
    args = parser.parse_args()
    if not (args.model / "config.json").is_file():
        sys.exit(f"{args.model} is not a checkpoint directory (no config.json)")
    templates = [t for t in args.templates.split(",") if t]
    if args.train_more and args.out is None:
        sys.exit("--train-more needs --out DIR for the trained model")
    model, processor, family = load_policy(args.model, device="cpu", dtype="float32")
    builder = PromptBuilder(processor, family, QUICKSTART_PROMPT)
    result: dict = {"model": str(args.model), "before": probe(model, builder, templates, args.instances)}
    if args.train_more:
        demos = oracle_steps(builder, templates, "train", args.train_more, 100)
        manifest = build_manifest(builder, suite="easy", split="train", seeds=args.train_more,
                                  model=str(args.model))
        cfg = SftConfig(model=str(args.model), out=str(args.out), epochs=1000, patience=0,
                        adapter=AdapterConfig(full_finetune=True),
                        max_minutes=args.minutes, eval_instances=0, device="cpu", dtype="float32")
        trained = run_sft(cfg, DemoSet(manifest, demos))
        result["train_more"] = {"steps": len(demos), "epochs": len(trained.epochs), "minutes": args.minutes}
        trained_model, _, _ = load_policy(trained.out, device="cpu", dtype="float32")
        result["after"] = probe(trained_model, builder, templates, args.instances)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
