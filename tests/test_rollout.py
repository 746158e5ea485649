"""Group rollouts with a real tiny model on PhoneSim: seeding, batching, recording, device kinds, failures."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from emulators.adb import AdbDevice, serve_devices
from emulators.adb.auth import ensure_key
from emulators.device import AndroidDevice
from emulators.phonesim import SimDevice
from gui_grpo.modeling.build import init_model
from gui_grpo.policy.engine import Completion, HFEngine, Policy
from gui_grpo.policy.logprobs import completion_logprobs, right_aligned
from gui_grpo.policy.model import load_policy
from gui_grpo.policy.prompts import PromptBuilder, PromptConfig
from gui_grpo.rollout.devices import open_devices
from gui_grpo.rollout.group import PlayConfig, play_groups, start_group, start_group_on
from gui_grpo.rollout.step import episode_seed
from gui_grpo.train.samples import rebuild_prompt
from tasks.suites import instances

PROMPT = PromptConfig(observation="pixels+elements", action_format="json", max_pixels=28 * 28 * 24)
SMALL = PromptConfig(observation="pixels+elements", action_format="json", max_pixels=28 * 28 * 16)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def policy(tiny_model_dir):
    torch.manual_seed(0)
    model, processor, family = load_policy(tiny_model_dir, device="cpu", dtype="float32")
    builder = PromptBuilder(processor, family, PROMPT)
    return Policy(builder, HFEngine(model, processor, max_new_tokens=16, temperature=1.0))


@pytest.fixture(scope="module")
def key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_key(tmp_path_factory.mktemp("keys") / "adbkey")


def groups(n_tasks=2, size=3):
    tasks = instances("smoke", "train", n_tasks, seed=7)
    return [
        start_group(t, 100 + g, g, size, lambda s=100 + g: SimDevice(seed=s, resolution="small"))
        for g, t in enumerate(tasks)
    ]


def play(policy, max_batch, greedy=False):
    return play_groups(policy, groups(), run_seed=3, step=0, greedy=greedy, max_steps=2, max_batch=max_batch)


def assert_logprobs_recompute(policy, steps):
    prompts = [rebuild_prompt(s) for s in steps]
    comps = [s.completion_ids for s in steps]
    batch = policy.builder.encode(prompts, completions=comps)
    with torch.no_grad():
        logp, mask = completion_logprobs(
            policy.engine.model, batch, [len(c) for c in comps], 1.0, policy.engine.banned_ids
        )
    old = right_aligned([s.logprobs for s in steps], logp.shape[1])
    assert torch.allclose(logp * mask, old * mask, atol=1e-4)


def test_actions_do_not_depend_on_batching(policy):
    a = play(policy, max_batch=16)
    b = play(policy, max_batch=1)
    assert [[s.completion_ids for s in r.steps] for r in a] == [
        [s.completion_ids for s in r.steps] for r in b
    ]
    assert [r.summary()["actions"] for r in a] == [r.summary()["actions"] for r in b]
    # Members of a group start alike but sample differently.
    assert len({tuple(r.steps[0].completion_ids) for r in a if r.group == 0}) > 1


def test_episodes_are_recorded_and_scored(policy):
    results = play(policy, max_batch=16)
    assert len(results) == 6 and {(r.group, r.member) for r in results} == {
        (g, m) for g in (0, 1) for m in (0, 1, 2)
    }
    for r in results:
        assert 1 <= len(r.steps) <= 2
        assert r.invalid_actions == sum(not s.valid for s in r.steps)
        assert r.score == 0.0  # a random policy does not switch settings by chance in two steps
        assert r.end_reason in ("terminate", "answer", "max_steps", "invalid_limit")
        assert r.start_hash and r.start_hash == results[3 * r.group].start_hash  # forked: equal starts
        for s in r.steps:
            assert s.images_png and s.images_png[0].startswith(b"\x89PNG")
            assert len(s.logprobs) == len(s.completion_ids) > 0
            assert s.model_image_size[0] % 28 == 0 and s.model_image_size[1] % 28 == 0
            assert s.elements and s.elements[0].startswith("[0] ")
            assert s.prompt_tokens > 100 and {"observe", "sample"} <= set(s.timing)
        if len(r.steps) < 2:
            assert r.answer is not None or r.claimed_status is not None or r.lost


def test_greedy_is_deterministic(policy):
    a, b = play(policy, 16, greedy=True), play(policy, 16, greedy=True)
    assert [[s.completion_ids for s in r.steps] for r in a] == [
        [s.completion_ids for s in r.steps] for r in b
    ]


def test_behaviour_logprobs_match_recomputation_from_stored_pngs(policy):
    assert_logprobs_recompute(policy, [s for r in play(policy, 16) for s in r.steps][:6])


@pytest.fixture(scope="module")
def family_policies(tmp_path_factory):
    """One tiny policy per family, built on first use."""
    built = {}

    def get(family: str) -> Policy:
        if family not in built:
            out = tmp_path_factory.mktemp(f"tiny-{family}")
            init_model(out, family=family, size="tiny", seed=0)
            model, processor, loaded = load_policy(str(out), device="cpu", dtype="float32")
            engine = HFEngine(model, processor, max_new_tokens=16)
            built[family] = Policy(PromptBuilder(processor, loaded, SMALL), engine)
        return built[family]

    return get


def smoke_group(kind: str, served, key_path: Path):
    task = instances("smoke", "train", 1, seed=11)[0]
    if kind == "sim":
        return start_group(task, 5, 0, 2, lambda: SimDevice(seed=5, resolution="small"))
    devices = [AdbDevice(a, key_path=key_path, timeout_s=10) for a in served.addresses]
    return start_group_on(task, 5, 0, devices)


@pytest.mark.parametrize("kind", ["sim", "adb"])
@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def test_smoke_rollout_for_every_family_and_device_kind(family, kind, family_policies, key_path):
    pol = family_policies(family)
    cfg = PlayConfig(max_steps=2, settle_s=0.0)
    with serve_sims(2, seed=5) as served:
        group = smoke_group(kind, served, key_path)
        try:
            results = play_groups(pol, [group], run_seed=1, step=0, config=cfg)
        finally:
            for d in group.devices:
                d.close()
    assert group.starts_match and all(r.start_hash == group.start_hashes[0] for r in results)
    assert [r.member for r in results] == [0, 1] and all(r.lost is None for r in results)
    steps = [s for r in results for s in r.steps]
    assert steps and all(0.0 <= r.score <= 1.0 for r in results)
    # The first turn was sampled from one shared prefill; each member's sample is what its seed alone gives.
    first = rebuild_prompt(results[1].steps[0])
    seed = episode_seed(1, 0, 0, 1, 0)
    alone = pol.engine.generate(pol.builder.encode([first]), seeds=[seed])[0]
    assert alone.token_ids == results[1].steps[0].completion_ids
    assert_logprobs_recompute(pol, steps)


def serve_sims(n: int, seed: int):
    return serve_devices([SimDevice(seed=seed, resolution="small") for _ in range(n)], port=0)


def test_rollout_over_adb_replays_setup_and_matches_in_process(policy, key_path):
    task = instances("smoke", "train", 1, seed=7)[0]
    cfg = PlayConfig(max_steps=2, settle_s=0.0)
    with serve_sims(2, seed=100) as served:
        devices = [AdbDevice(a, key_path=key_path, timeout_s=10) for a in served.addresses]
        try:
            group = start_group_on(task, 100, 0, devices)
            assert group.setup_errors == [None, None]
            assert len(group.start_hashes[0]) == 16 and group.starts_match
            over_adb = play_groups(policy, [group], run_seed=3, step=0, config=cfg)
        finally:
            for d in devices:
                d.close()
    local = start_group(task, 100, 0, 2, lambda: SimDevice(seed=100, resolution="small"))
    in_process = play_groups(policy, [local], run_seed=3, step=0, config=cfg)
    assert all(r.lost is None for r in over_adb)
    assert [r.start_hash for r in over_adb] == [r.start_hash for r in in_process]
    assert [r.summary()["actions"] for r in over_adb] == [r.summary()["actions"] for r in in_process]
    assert [r.score for r in over_adb] == [r.score for r in in_process]


class DropsMidEpisode(AdbDevice):
    """An ADB device whose server goes away before its third screenshot (start hash, turn 0, turn 1)."""

    server = None
    looks = 0

    def screenshot(self):
        self.looks += 1
        if self.looks == 3:
            self.server.close()
        return super().screenshot()


def test_a_device_lost_mid_episode_marks_only_that_episode(policy, key_path):
    task = instances("smoke", "train", 1, seed=7)[0]
    cfg = PlayConfig(max_steps=3, max_invalid_in_a_row=None, settle_s=0.0, device_timeout_s=20)
    with serve_sims(2, seed=100) as served:
        flaky = DropsMidEpisode(served.addresses[0], key_path=key_path, timeout_s=2, retries=1)
        flaky.server = served.servers[0]
        steady = AdbDevice(served.addresses[1], key_path=key_path, timeout_s=10)
        try:
            group = start_group_on(task, 100, 0, [flaky, steady])
            t0 = time.perf_counter()
            lost, kept = play_groups(policy, [group], run_seed=3, step=0, config=cfg)
            assert time.perf_counter() - t0 < 20
        finally:
            flaky.close()
            steady.close()
    assert kept.lost is None and len(kept.steps) >= 2
    assert lost.lost is not None and lost.end_reason == "lost" and len(lost.steps) == 1
    assert lost.score == 0.0


class ScriptedEngine:
    """Writes the given texts, turn by turn and member by member (an engine double)."""

    max_new_tokens = 8
    temperature = 1.0

    def __init__(self, scripts: dict[int, list[str]]) -> None:
        self.scripts = scripts
        self.turn: dict[int, int] = {}

    def bind(self, builder) -> None:
        self.builder = builder

    def sample(self, prompts, n=1, *, seeds=None, greedy=False):
        self.builder.encode(list(prompts))  # sets model_image_size, as a real engine does
        out = []
        for row in seeds:
            comps = []
            for seed in row:
                member = self.members[seed]
                t = self.turn.get(member, 0)
                self.turn[member] = t + 1
                comps.append(Completion([1, 2], [-0.5, -0.5], self.scripts[member][t], True, 10))
            out.append(comps)
        return out


def test_invalid_outputs_and_refused_actions_end_at_the_limit(policy):
    garbage, home = "no action here", '{"action": "system_button", "button": "Home"}'
    unknown_app = '{"action": "open", "text": "NoSuchApp"}'
    engine = ScriptedEngine(
        {0: [garbage, unknown_app, garbage, home], 1: [garbage, home, garbage, garbage, home]}
    )
    engine.members = {episode_seed(0, 0, 0, m, t): m for m in (0, 1) for t in range(6)}
    scripted = Policy(policy.builder, engine)
    task = instances("smoke", "train", 1, seed=7)[0]
    group = start_group(task, 5, 0, 2, lambda: SimDevice(seed=5, resolution="small"))
    cfg = PlayConfig(max_steps=5, max_invalid_in_a_row=3)
    a, b = play_groups(scripted, [group], run_seed=0, step=0, config=cfg)
    assert a.end_reason == "invalid_limit" and len(a.steps) == 3 and a.invalid_actions == 3
    assert a.steps[1].action.startswith("Invalid(") and "NoSuchApp" in a.steps[1].action  # device refused it
    assert not any(s.valid for s in a.steps) and a.lost is None
    # A valid action resets the count: b reaches the step limit instead.
    assert b.end_reason == "max_steps" and b.truncated and len(b.steps) == 5 and b.invalid_actions == 3
    assert [s.valid for s in b.steps] == [False, True, False, False, True]


class SlowSim(AndroidDevice):
    """A PhoneSim reached 'remotely' whose screenshots hang once ``hang`` is set (not in-process)."""

    def __init__(self, seed: int) -> None:
        self.sim = SimDevice(seed=seed, resolution="small")
        self.name = f"slow-{seed}"
        self.hang = False

    def shell(self, cmd, timeout=None):
        return self.sim.shell(cmd, timeout)

    def screenshot(self):
        if self.hang:
            time.sleep(3)
        return self.sim.screenshot()


def test_a_hung_device_times_out_and_the_others_go_on(policy):
    home = '{"action": "system_button", "button": "Home"}'
    engine = ScriptedEngine({0: [home] * 3, 1: [home] * 3})
    engine.members = {episode_seed(0, 0, 0, m, t): m for m in (0, 1) for t in range(3)}
    devices = [SlowSim(1), SlowSim(1)]
    group = start_group_on(instances("smoke", "train", 1, seed=7)[0], 1, 0, devices)
    assert group.starts_match and group.start_hashes[0]
    devices[0].hang = True
    cfg = PlayConfig(max_steps=3, settle_s=0.05, device_timeout_s=0.5)
    t0 = time.perf_counter()
    hung, fine = play_groups(Policy(policy.builder, engine), [group], run_seed=0, step=0, config=cfg)
    assert time.perf_counter() - t0 < 2.5  # the hung call was abandoned at its deadline
    assert hung.end_reason == "lost" and "DeviceTimeout" in hung.lost and not hung.steps
    assert fine.end_reason == "max_steps" and len(fine.steps) == 3
    assert all(s.timing["settle"] >= 0.04 for s in fine.steps)  # a remote screen is given time to settle


def test_open_devices_for_sim_and_adb_specs(key_path, monkeypatch):
    sims = open_devices("sim:2", sim_seed=4)
    assert [type(d) for d in sims] == [SimDevice, SimDevice] and sims[0].seed == 4 and sims[1].seed == 5
    home = key_path.parent
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    (home / "gui-grpo").mkdir(exist_ok=True)
    for suffix in ("", ".pub"):
        (home / "gui-grpo" / f"adbkey{suffix}").write_bytes(Path(f"{key_path}{suffix}").read_bytes())
    with serve_devices(sims, port=0) as served:
        remote = open_devices("adb:" + ",".join(served.addresses), timeout_s=5)
        try:
            assert [d.screen_size for d in remote] == [d.screen_size for d in sims]
            assert remote[0].screenshot().tobytes() == sims[0].screenshot().tobytes()
        finally:
            for d in remote:
                d.close()


def test_replayed_setups_that_differ_show_in_the_start_hashes(caplog):
    task = instances("smoke", "train", 1, seed=7)[0]
    same = start_group_on(task, 0, 0, [SimDevice(seed=1, resolution="small") for _ in range(2)])
    assert same.starts_match and same.setup_errors == [None, None]
    other = start_group_on(task, 0, 0, [SimDevice(seed=s, resolution="small") for s in (1, 2)])
    assert not other.starts_match and other.start_hashes[0] == same.start_hashes[0]
    assert "different states" in caplog.text
