"""The tiny models' synthetic pretraining: well-posed exercises, seeded, a real training signal, the CLI."""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoTokenizer

from emulators.actions import Answer, Type
from gui_grpo.cli import init_model as init_model_command
from gui_grpo.cli.main import UserError
from gui_grpo.modeling import pretrain as pt
from gui_grpo.modeling.build import init_model
from gui_grpo.policy.actions import parse_action

LINE = re.compile(r'^\[(\d+)\] (\w+) "([^"]*)"', re.M)


def _parse(completion: str):
    return parse_action(
        completion.removesuffix("<|im_end|>"),
        family="qwen2_5_vl",
        image_size=(112, 280),
        screen_size=(540, 1200),
        action_format="json",
    )


@pytest.mark.parametrize("skill", sorted(pt.SKILLS))
def test_every_exercise_has_one_right_answer_that_the_prompt_contains(skill):
    for i in range(300):
        _, prompt, completion = pt.exercise(random.Random(i), (skill,))
        action = json.loads(completion.removesuffix("<|im_end|>"))
        task = prompt.split("Task: ", 1)[1].split("\n", 1)[0]
        lines = LINE.findall(prompt)
        if skill == "find":
            index = action["index"]
            _, widget, text = lines[index]
            words = {w.strip('.,?"') for w in task.split()}
            assert words & set(text.split()), (task, text)
            # no other element of that widget shows what the task names
            twins = [t for n, w, t in lines if w == widget and int(n) != index]
            assert all(text not in t for t in twins)
        elif skill == "copy":
            assert f'"{action["text"]}"' in task
            assert isinstance(_parse(completion), Answer | Type)
        else:
            assert action["action"] == "answer" and action["text"] in prompt
            assert isinstance(_parse(completion), Answer)
        assert prompt.endswith("<|im_start|>assistant\n")


def test_exercises_are_seeded_and_never_mention_the_task_suites():
    a = [pt.exercise(random.Random(f"s{i}")) for i in range(50)]
    b = [pt.exercise(random.Random(f"s{i}")) for i in range(50)]
    assert a == b
    source = Path(pt.__file__).read_text()
    assert "import tasks" not in source and "from tasks" not in source and "emulators" not in source


def test_config_refuses_negative_steps():
    with pytest.raises(ValueError, match="copy_steps >= 0"):
        pt.PretrainConfig(copy_steps=-1)


def test_a_short_copy_phase_lowers_the_loss_on_held_out_copy_exercises(tiny_model_dir):
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    held_out = [pt.exercise(random.Random(f"held-out:{i}"), ("copy",)) for i in range(64)]

    def loss() -> float:
        model.eval()
        with torch.no_grad():
            return pt._losses(model, pt._batch(tokenizer, held_out))[0].item()

    before = loss()
    result = pt.pretrain(model, tokenizer, pt.PretrainConfig(copy_steps=40, mixed_steps=0, batch_size=16))
    assert result.steps == 40 and set(result.exact) == set(pt.SKILLS)
    assert loss() < 0.6 * before


def test_init_model_command_pretrains_and_records_it(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    init_model_command.register(parser.add_subparsers(dest="command"))
    out = tmp_path / "m"
    args = parser.parse_args(["init-model", str(out), "--pretrain-steps", "3,2"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "pretrained 5 steps" in printed and "copy" in printed
    record = json.loads((out / "pretraining.json").read_text())
    assert record["config"]["copy_steps"] == 3 and record["steps"] == 5
    plain = init_model(tmp_path / "plain", seed=0).path
    assert not (plain / "pretraining.json").exists()
    trained = AutoModelForImageTextToText.from_pretrained(out).state_dict()
    fresh = AutoModelForImageTextToText.from_pretrained(plain).state_dict()
    changed = [k for k in fresh if not torch.equal(fresh[k], trained[k])]
    assert changed and all("visual" not in k for k in changed)  # text side only
    for bad in ("3", "a,b", "3,-1"):
        args = parser.parse_args(["init-model", str(tmp_path / bad), "--pretrain-steps", bad])
        with pytest.raises(UserError, match="COPY,MIXED"):
            args.func(args)
