"""The Gymnasium wrapper: Gymnasium's own checker on every device kind, and the episode rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from emulators.adb import AdbDevice, serve_devices
from emulators.adb.auth import ensure_key
from emulators.phonesim import SimDevice
from gui_grpo.policy.actions import format_action
from gui_grpo.policy.prompts import PromptConfig
from gui_grpo.rollout.env import PhoneEnv, sim_factory
from tasks.suites import instances

PROMPT = PromptConfig(observation="pixels+elements", action_format="json")
TERMINATE = '{"action": "terminate", "status": "success"}'


@pytest.fixture
def env():
    e = PhoneEnv(sim_factory("small"), "smoke", prompt=PROMPT, max_steps=4)
    yield e
    e.close()


def test_passes_gymnasium_check_env_on_sim(env):
    check_env(env, skip_render_check=True)


def test_passes_gymnasium_check_env_over_adb(tmp_path: Path):
    key = ensure_key(tmp_path / "adbkey")
    served = []

    def factory(seed: int) -> AdbDevice:
        server = serve_devices([sim_factory("small")(seed)], port=0)
        served.append(server)
        device = AdbDevice(server.addresses[0], key_path=key, timeout_s=10)
        device.connect()
        return device

    env = PhoneEnv(factory, "smoke", prompt=PROMPT, max_steps=3)
    try:
        check_env(env, skip_render_check=True)
        obs, info = env.reset(seed=1)
        local = PhoneEnv(sim_factory("small"), "smoke", prompt=PROMPT, max_steps=3)
        local_obs, local_info = local.reset(seed=1)
        local.close()
        assert info == local_info
        assert (
            np.array_equal(obs["screenshot"], local_obs["screenshot"])
            and obs["elements"] == local_obs["elements"]
        )
    finally:
        env.close()
        for server in served:
            server.close()


def test_observation_and_seeding(env):
    obs, info = env.reset(seed=4)
    assert obs["screenshot"].dtype == np.uint8 and obs["screenshot"].shape == (*env.screen_size[::-1], 3)
    assert obs["elements"].startswith("[0] ") and obs["instruction"] == info["instruction"]
    again, info2 = env.reset(seed=4)
    assert info2 == info and np.array_equal(again["screenshot"], obs["screenshot"])
    assert env.observation_space.contains(obs)


def test_terminate_ends_with_the_checker_score(env):
    env.reset(seed=1)
    obs, reward, terminated, truncated, info = env.step(TERMINATE)
    assert terminated and not truncated and reward == 0.0 == info["score"]  # nothing was done


def test_invalid_limit_terminates_and_max_steps_truncates(env):
    env.reset(seed=1)
    outcomes = [env.step("not an action")[2:4] for _ in range(3)]
    assert outcomes == [(False, False), (False, False), (True, False)]
    env.reset(seed=1)
    home = '{"action": "system_button", "button": "Home"}'
    outcomes = [env.step(home)[1:4] for _ in range(4)]
    assert outcomes[:3] == [(0.0, False, False)] * 3 and outcomes[3][1:] == (False, True)


def test_the_oracle_written_as_model_text_earns_reward_one():
    task = instances("smoke", "train", 1, seed=3)[0]
    env = PhoneEnv(sim_factory("small"), [task], prompt=PROMPT, max_steps=task.max_steps)
    env.reset(seed=0)
    reward, done = 0.0, False
    for action in task.oracle(env.device):
        text = format_action(
            action,
            family=env.family,
            image_size=env.model_image_size(),
            screen_size=env.screen_size,
            action_format="json",
            elements=env._elements,
        )
        _, reward, terminated, truncated, _ = env.step(text)
        done = terminated or truncated
        if done:
            break
    if not done:
        _, reward, *_ = env.step(TERMINATE)
    assert reward == 1.0
    env.close()


def test_a_device_failure_truncates_with_lost_in_info(tmp_path: Path):
    key = ensure_key(tmp_path / "adbkey")
    server = serve_devices([SimDevice(seed=1, resolution="small")], port=0)
    device = AdbDevice(server.addresses[0], key_path=key, timeout_s=2, retries=1)
    env = PhoneEnv(lambda seed: device, "smoke", prompt=PROMPT, max_steps=4)
    env.reset(seed=0)
    server.close()
    _, reward, terminated, truncated, info = env.step('{"action": "system_button", "button": "Home"}')
    assert (reward, terminated, truncated) == (0.0, False, True) and "lost" in info
    env.close()
