"""Replay of rare successes: a group in which no member succeeded takes a stored success of the same instance.

A reward-only template starts near 0 %: most of its groups fail in every member, have zero advantages and
teach nothing, and a success found once by sampling is gone by the next step. As in ARPO and MobileRL, the
trainer keeps the latest successful episode of each training instance (``rollout.replay_successes``, with
``rollout.instance_pool`` so that instances come back). When a later group of that very instance (same
template, parameters and phrasing, and the same start state where both have a start hash) fails in every
member, the stored episode joins it as one more member, so the group has a spread and its failures are
compared against a success from the same start.

Off-policy ratio: a replayed step keeps the log-probs it was sampled with, so the loss's ratio
``pi_theta / pi_old`` is the importance ratio between the current policy and the one that produced it,
token by token, and the usual clip applies: for a positive advantage the ratio is cut at ``1 + eps_high``
(a success the policy already favours again adds nothing), and below 1 it scales the gradient down (a
success the policy has moved far from counts less). Replayed samples are counted in ``replayed_share``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable

from gui_grpo.rollout.records import EpisodeResult

InstanceKey = tuple[str, str, str]


def instance_key(result: EpisodeResult) -> InstanceKey:
    """What makes two episodes attempts at the same instance: template, parameters and instruction."""
    return result.task, json.dumps(result.params, sort_keys=True, default=str), result.instruction


def succeeded(result: EpisodeResult) -> bool:
    return result.lost is None and result.score >= 1.0 and bool(result.steps)


class SuccessReplay:
    """The latest successful episode per training instance, and the groups that may take one."""

    def __init__(self) -> None:
        self.store: dict[InstanceKey, EpisodeResult] = {}

    def __len__(self) -> int:
        return len(self.store)

    def add(self, results: Iterable[EpisodeResult]) -> None:
        """Remember every success among ``results`` (a newer success of an instance replaces the older)."""
        for r in results:
            if succeeded(r) and not r.replayed:
                self.store[instance_key(r)] = r

    def fill(self, results: list[EpisodeResult]) -> tuple[list[EpisodeResult], int]:
        """``results`` plus, for each group in which no member succeeded, the stored success of its
        instance as one more member (``replayed`` set); returns them and how many were added."""
        groups: dict[int, list[EpisodeResult]] = {}
        for r in results:
            groups.setdefault(r.group, []).append(r)
        added = []
        for g, members in groups.items():
            if any(succeeded(m) for m in members):
                continue
            stored = self.store.get(instance_key(members[0]))
            if stored is None or not _same_start(stored, members):
                continue
            member = max(m.member for m in members) + 1
            added.append(dataclasses.replace(stored, group=g, member=member, replayed=True))
        return results + added, len(added)


def _same_start(stored: EpisodeResult, members: list[EpisodeResult]) -> bool:
    """The group's members share one instance; where start hashes were taken, the start states match."""
    if any(instance_key(m) != instance_key(stored) for m in members):
        return False
    hashes = {m.start_hash for m in members if m.start_hash is not None}
    return stored.start_hash is None or not hashes or hashes == {stored.start_hash}
