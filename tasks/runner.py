"""Playing episodes without a model: the oracle, a do-nothing agent, an answer guesser and a random agent.

``play`` drives any action source on a device: device actions are executed, ``Answer`` / ``Terminate``
are recorded in the ``Episode`` and end it (they never reach a device), and the episode stops at the
task's ``max_steps``. ``on_step`` sees the observation each action was chosen from (for demonstrations).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from emulators.actions import Answer, ControlAction, DeviceAction, Key, Swipe, Tap, Terminate
from emulators.device import AndroidDevice
from tasks.base import Episode, Task

StepHook = Callable[[int, DeviceAction | ControlAction], None]
RANDOM_KEYS = ("BACK", "HOME", "ENTER", "DEL", "APP_SWITCH")
# A web page has no HOME or APP_SWITCH, and BACK would leave the task's page.
WEB_RANDOM_KEYS = ("ENTER", "TAB", "DEL", "ESCAPE", "SPACE")


@dataclass
class Outcome:
    """An episode's score and what the checker and side-effect check said."""

    score: float
    episode: Episode
    side_effects: list[str]

    @property
    def success(self) -> bool:
        return self.score >= 1.0


def play(
    task: Task,
    device: AndroidDevice,
    actions: Iterable[DeviceAction | ControlAction],
    initial_state: dict,
    on_step: StepHook | None = None,
) -> Episode:
    """Run ``actions`` (a generator may observe ``device`` between them) and return the episode; a task
    that ends itself stops the play after the action that finished it."""
    episode = Episode(initial_state=initial_state)
    for action in actions:
        if episode.steps >= task.max_steps:
            break
        if on_step is not None:
            on_step(episode.steps, action)
        episode.steps += 1
        episode.actions.append(action)
        if isinstance(action, Answer):
            episode.answer = action.text
            break
        if isinstance(action, Terminate):
            episode.claimed_status = action.status
            break
        device.execute(action)
        if task.ends_itself and task.finished(device):
            break  # the environment ended the episode (a MiniWoB page's done), as a rollout would see it
    return episode


def score(task: Task, device: AndroidDevice, episode: Episode) -> Outcome:
    return Outcome(task.check(device, episode), episode, task.side_effects(device, episode))


def run_oracle(task: Task, device: AndroidDevice, on_step: StepHook | None = None) -> Outcome:
    """Set up ``task`` on ``device``, play its oracle, score it."""
    initial = task.setup(device)
    episode = play(task, device, task.oracle(device), initial, on_step)
    return score(task, device, episode)


def run_do_nothing(task: Task, device: AndroidDevice) -> Outcome:
    """Set up, then claim success at once (an agent that does nothing must score 0)."""
    initial = task.setup(device)
    episode = play(task, device, [Terminate("success")], initial)
    return score(task, device, episode)


def run_guess(task: Task, device: AndroidDevice, guess: str) -> Outcome:
    """Set up, then answer ``guess`` without looking."""
    initial = task.setup(device)
    return score(task, device, play(task, device, [Answer(guess)], initial))


def random_actions(
    device: AndroidDevice, rng: random.Random, n: int, keys: tuple[str, ...] = RANDOM_KEYS
) -> list[DeviceAction]:
    """``n`` random taps (60%), swipes (25%) and keys (15%, of ``keys``) inside the screen."""
    w, h = device.screen_size
    out: list[DeviceAction] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.6:
            out.append(Tap(rng.randrange(w), rng.randrange(h)))
        elif r < 0.85:
            out.append(Swipe(rng.randrange(w), rng.randrange(h), rng.randrange(w), rng.randrange(h), 300))
        else:
            out.append(Key(rng.choice(keys)))
    return out


def run_random(task: Task, device: AndroidDevice, rng: random.Random) -> Outcome:
    """Set up, then play ``max_steps`` random device actions (no answer, no terminate) with the keys the
    task's kind of device has."""
    initial = task.setup(device)
    keys = WEB_RANDOM_KEYS if task.device_kind == "web" else RANDOM_KEYS
    episode = play(task, device, random_actions(device, rng, task.max_steps, keys), initial)
    return score(task, device, episode)
