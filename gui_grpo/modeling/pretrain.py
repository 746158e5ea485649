"""A short synthetic pretraining for the tiny models: generic reading skills a released checkpoint has.

A released Qwen VL checkpoint arrives able to find a named element in a list and to copy a span of text it
reads; a randomly initialised tiny model has neither, and 20 demonstrations per task are too few to grow
them, so warm start and GRPO would be measuring a model that cannot read. ``pretrain`` trains the
text side on generated exercises of four generic skills, each answered with one JSON action:

- **find**: tap the element a request names (by its label, by a time key inside it, with or without its
  widget), so ``{"action": "click", "index": i}``;
- **field**: answer with the value an element shows next to a field name (``LinearLayout "Owner" ("Ana
  Diaz")``);
- **entry**: answer with the key that stands next to a label inside a row (``"Item 07:45 Lamp"``, asked
  for Lamp);
- **copy**: type or answer a quoted string from the request.

Labels come from the tokenizer corpus' word lists and from made-up words of random syllables, so the skill
is copying, not recall. Nothing is drawn from the task templates, their apps or their phrasings: the
exercises are text only (no screenshots, no PhoneSim), and the suites the trainer is measured on are never
seen here. Seeded, so ``init-model`` stays reproducible.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from gui_grpo.modeling.corpus import APPS, FIRST_NAMES, LAST_NAMES, MONTHS, SETTINGS, WIDGETS, WORDS

_SYLLABLES = tuple("ka lo mi ren tus va po zel qi dra fen oru bix nal sto wem yar gu hel tor".split())
_FIELDS = tuple("Owner Model Serial Colour Region Code Version Account Label Nickname Plan Status".split())
_SYSTEM = "You operate a phone. Answer with exactly one JSON action object.\n"


def _made_up(rng: random.Random) -> str:
    word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
    return word.capitalize() if rng.random() < 0.6 else word


def _label(rng: random.Random) -> str:
    """A label of one to three words: corpus words, names, made-up words, numbers or times."""
    pick: tuple[Callable[[], str], ...] = (
        lambda: rng.choice(WORDS).capitalize(),
        lambda: rng.choice(FIRST_NAMES),
        lambda: f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
        lambda: _made_up(rng),
        lambda: f"{_made_up(rng)} {_made_up(rng)}",
        lambda: f"{_made_up(rng)} {rng.randint(1, 99)}",
        lambda: rng.choice(SETTINGS).capitalize(),
        lambda: rng.choice(APPS),
        lambda: f"{rng.choice(WORDS)} {rng.choice(WORDS)}".capitalize(),
    )
    return rng.choice(pick)()


def _time(rng: random.Random) -> str:
    return f"{rng.randint(0, 23):02d}:{rng.randrange(0, 60, 5):02d}"


def _distinct(rng: random.Random, make: Callable[[], str], n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        value = make()
        if all(value not in o and o not in value for o in out):
            out.append(value)
    return out


def _prompt(task: str, lines: list[str]) -> str:
    listing = "\n".join(f"[{i}] {line}" for i, line in enumerate(lines))
    return (
        f"<|im_start|>system\n{_SYSTEM}<|im_end|>\n<|im_start|>user\nTask: {task}\n"
        f"Interactive elements:\n{listing}<|im_end|>\n<|im_start|>assistant\n"
    )


def _action(**fields: Any) -> str:
    return json.dumps(fields) + "<|im_end|>"


def _find(rng: random.Random) -> tuple[str, str]:
    """Tap the element whose label (or a key inside it) the task names; twins of other widgets around."""
    n = rng.randint(2, 6)
    labels = _distinct(rng, lambda: _label(rng), n)
    keyed = rng.random() < 0.5
    keys = _distinct(rng, lambda: _time(rng), n) if keyed else [""] * n
    widget = rng.choice(WIDGETS)
    row = rng.choice(("Item", "Row", "Entry", _made_up(rng).capitalize()))
    lines: list[str] = []
    for label, key in zip(labels, keys, strict=True):
        text = f"{key} {label}".strip()
        if rng.random() < 0.5:
            lines.append(f'{rng.choice(("LinearLayout", "FrameLayout"))} "{row} {text}"')
        lines.append(f'{widget} "{text}"' + rng.choice(("", "", " checked")))
    for _ in range(rng.randint(0, 3)):
        extra = rng.choice(("Back", "Home", "Add", "Menu"))
        lines.insert(rng.randint(0, len(lines)), f'ImageButton "{extra}"')
    target = rng.randrange(n)
    wanted = f'{widget} "{(keys[target] + " " + labels[target]).strip()}"'
    index = next(i for i, line in enumerate(lines) if line.startswith(wanted))
    name = rng.choice((labels[target], keys[target])) if keyed else labels[target]
    verb = rng.choice(("Tap", "Select", "Press", "Use", "Pick"))
    task = rng.choice(
        (
            f"{verb} the {widget} of {name}.",
            f"{verb} {name}.",
            f'{verb} the {widget} labelled "{name}".',
            f"Find {name} and {verb.lower()} its {widget}.",
        )
    )
    return _prompt(task, lines), _action(action="click", index=index)


def _field(rng: random.Random) -> tuple[str, str]:
    """Answer with the value an element shows next to a field name."""
    fields = _distinct(rng, lambda: rng.choice(_FIELDS), rng.randint(1, 4))
    values = [_label(rng) for _ in fields]
    lines = [f'LinearLayout "{f}" ("{v}")' for f, v in zip(fields, values, strict=True)]
    lines.insert(0, 'ImageButton "Navigate up"')
    lines += [f'ImageButton "{b}"' for b in rng.sample(("Back", "Home", "Menu", "Add"), rng.randint(0, 3))]
    k = rng.randrange(len(fields))
    task = rng.choice(
        (
            f"What is the {fields[k].lower()}?",
            f"Tell me the {fields[k]}.",
            f"Read the {fields[k].lower()} shown on screen.",
        )
    )
    return _prompt(task, lines), _action(action="answer", text=values[k])


def _entry(rng: random.Random) -> tuple[str, str]:
    """Answer with the key next to a label inside a row (``"Item 07:45 Lamp"``, asked for Lamp)."""
    n = rng.randint(2, 5)
    labels = _distinct(rng, lambda: _label(rng), n)
    keys = _distinct(rng, lambda: rng.choice((_time(rng), str(rng.randint(1, 999)), rng.choice(MONTHS))), n)
    kind = _made_up(rng).capitalize()
    lines = []
    for key, label in zip(keys, labels, strict=True):
        lines.append(f'LinearLayout "{kind} {key} {label}"')
        lines.append(f'{rng.choice(WIDGETS)} "{key} {label}"')
    k = rng.randrange(n)
    task = rng.choice(
        (
            f"Which {kind.lower()} value goes with {labels[k]}?",
            f"What is listed for {labels[k]}?",
            f"Read the entry of {labels[k]} and tell me its value.",
        )
    )
    return _prompt(task, lines), _action(action="answer", text=keys[k])


def _copy(rng: random.Random) -> tuple[str, str]:
    """Type or answer a quoted string from the request."""
    text = rng.choice((_label(rng), f"{rng.choice(WORDS)} at {_time(rng)}", str(rng.randint(0, 99999))))
    lines = [f'EditText "{rng.choice(_HINTS)}"', 'Button "OK"']
    if rng.random() < 0.5:
        return _prompt(f'Type "{text}".', lines), _action(action="type", text=text)
    return _prompt(f'Reply with "{text}".', lines), _action(action="answer", text=text)


_HINTS = ("Search", "Name", "Message", "Title", "Enter text")
SKILLS: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    "find": _find,
    "field": _field,
    "entry": _entry,
    "copy": _copy,
}
_WEIGHTS = {"find": 0.3, "field": 0.3, "entry": 0.2, "copy": 0.2}


def exercise(rng: random.Random, skills: tuple[str, ...] = tuple(SKILLS)) -> tuple[str, str, str]:
    """One exercise of one of ``skills``, drawn by their weights: (skill, prompt text, completion text)."""
    skill = rng.choices(skills, weights=[_WEIGHTS[s] for s in skills])[0]
    prompt, completion = SKILLS[skill](rng)
    return skill, prompt, completion


@dataclass(frozen=True)
class PretrainConfig:
    """Two phases, each with its own warm-up and cosine decay: copying alone (an induction circuit forms
    in a few hundred steps when the task asks for nothing else), then every skill."""

    copy_steps: int = 900
    mixed_steps: int = 800
    copy_lr: float = 5e-3
    lr: float = 3e-3
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        if self.copy_steps < 0 or self.mixed_steps < 0 or self.batch_size < 1:
            raise ValueError("pretraining needs copy_steps >= 0, mixed_steps >= 0 and batch_size >= 1")


@dataclass(frozen=True)
class PretrainResult:
    steps: int
    seconds: float
    loss: float
    exact: dict[str, float]
    """Per skill: the fraction of 300 held-out exercises whose every completion token is the argmax."""


def _batch(tokenizer: Any, items: list[tuple[str, str, str]]) -> dict[str, torch.Tensor]:
    rows = []
    for _, prompt, completion in items:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        c = tokenizer(completion, add_special_tokens=False)["input_ids"]
        rows.append((p + c, [-100] * len(p) + c))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([r + [pad] * (width - len(r)) for r, _ in rows])
    labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r, _ in rows])
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _losses(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean completion-token loss, and per row whether every completion token is the argmax."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    keep = labels != -100
    loss = torch.nn.functional.cross_entropy(logits[keep], labels[keep])
    right = (logits.argmax(-1) == labels) | ~keep
    return loss, right.all(dim=1)


def held_out_exercises(seed: int = 0, n: int = 300) -> list[tuple[str, str, str]]:
    return [exercise(random.Random(f"pretrain-eval:{seed}:{i}")) for i in range(n)]


def exact_match(model: Any, tokenizer: Any, items: list[tuple[str, str, str]]) -> dict[str, float]:
    """Per skill, the fraction of ``items`` whose completion the model reproduces token by token."""
    model.eval()
    hits: dict[str, list[bool]] = {name: [] for name in SKILLS}
    with torch.no_grad():
        for i in range(0, len(items), 50):
            chunk = items[i : i + 50]
            _, right = _losses(model, _batch(tokenizer, chunk))
            for (skill, _, _), ok in zip(chunk, right.tolist(), strict=True):
                hits[skill].append(ok)
    return {name: sum(v) / len(v) for name, v in hits.items() if v}


def _phase(
    model: Any,
    tokenizer: Any,
    rng: random.Random,
    skills: tuple[str, ...],
    steps: int,
    lr: float,
    batch_size: int,
    log: Callable[[str], None] | None,
) -> float:
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    warmup = min(30, max(steps // 10, 1))
    model.train()
    loss_value = math.nan
    for step in range(steps):
        scale = min(1.0, (step + 1) / warmup) * (0.1 + 0.45 * (1 + math.cos(math.pi * step / steps)))
        for group in optimizer.param_groups:
            group["lr"] = lr * scale
        items = [exercise(rng, skills) for _ in range(batch_size)]
        loss, _ = _losses(model, _batch(tokenizer, items))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        loss_value = loss.item()
        if log and (step + 1) % 200 == 0:
            log(f"pretrain ({'+'.join(skills)}) step {step + 1}/{steps}: loss {loss_value:.4f}")
    return loss_value


def pretrain(
    model: Any, tokenizer: Any, cfg: PretrainConfig, log: Callable[[str], None] | None = None
) -> PretrainResult:
    """Train the text side of ``model`` in place on fresh exercises, then score it on held-out ones."""
    rng = random.Random(f"pretrain:{cfg.seed}")
    start = time.perf_counter()
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(cfg.seed)
    try:
        loss = _phase(model, tokenizer, rng, ("copy",), cfg.copy_steps, cfg.copy_lr, cfg.batch_size, log)
        if cfg.mixed_steps:
            loss = _phase(model, tokenizer, rng, tuple(SKILLS), cfg.mixed_steps, cfg.lr, cfg.batch_size, log)
    finally:
        torch.random.set_rng_state(generator_state)
    seconds = time.perf_counter() - start
    exact = exact_match(model, tokenizer, held_out_exercises(cfg.seed))
    return PretrainResult(cfg.copy_steps + cfg.mixed_steps, seconds, loss, exact)
