"""Template curriculum and the wall-clock budget of a training run."""

from __future__ import annotations

import json

import pytest

from gui_grpo.train.curriculum import TemplateCurriculum
from gui_grpo.train.trainer import Trainer
from tests.test_trainer import config


class R:  # the EpisodeResult fields the curriculum reads
    def __init__(self, task: str, score: float, lost: str | None = None) -> None:
        self.task, self.score, self.lost = task, score, lost


def test_weights_favour_templates_whose_groups_disagree():
    c = TemplateCurriculum(decay=0.0, floor=0.02)
    c.update([R("mastered", 1.0)] * 4 + [R("hopeless", 0.0)] * 4 + [R("learning", 1.0), R("learning", 0.0)])
    c.update([R("hopeless", 1.0, lost="DeviceUnreachable")])  # lost episodes do not count
    w = c.weights()
    assert w["learning"] == pytest.approx(1.0)
    assert w["mastered"] == w["hopeless"] == pytest.approx(0.08)
    c2 = TemplateCurriculum()
    c2.load_state_dict(json.loads(json.dumps(c.state_dict())))
    assert c2.weights() == w


def test_the_floor_is_checked():
    from gui_grpo.train.config import ConfigError, RolloutConfig

    for bad in (0.0, 0.3):
        with pytest.raises(ConfigError, match="curriculum_floor"):
            RolloutConfig(curriculum_floor=bad)


def test_curriculum_run_and_time_budget(tiny_model_dir, tmp_path):
    trainer = Trainer(
        config(
            tiny_model_dir,
            str(tmp_path / "run"),
            steps=50,
            max_minutes=1e-6,
            rollout__curriculum=True,
            rollout__curriculum_floor=0.1,
            lora__r=4,
        )
    )
    assert trainer.curriculum.floor == 0.1  # the config's floor: a template at 0 % keeps 40 % of the weight
    history = trainer.train()
    assert len(history) == 1  # the budget ran out after the first step
    assert (tmp_path / "run" / "final" / "adapter_config.json").is_file()
    from tasks.suites import suite_templates

    smoke = {t.name for t in suite_templates("smoke")}
    assert trainer.curriculum.success and set(trainer.curriculum.success) <= smoke
