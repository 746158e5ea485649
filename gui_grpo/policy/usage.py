"""How a trained model is to be used: the settings it was trained with, saved beside its weights.

A model only works with the prompts it was trained on: the observation mode (pixels, or pixels with the
numbered elements), the action format, the screenshot pixel budget, the token cap, the PhoneSim
resolution. Every model gui-grpo saves — a warm start, a GRPO checkpoint or final adapter, an export —
carries them in ``gui_grpo.json``; ``eval``, ``run`` and ``export`` read them, so the trained
model is used as it was trained with no flags at all. A flag that contradicts them is refused
(``UsageConflict``), naming what the model was trained with. Paths in the file are absolute.

A model with no ``gui_grpo.json`` (a released checkpoint, a fresh ``init-model``) takes the flags, or the
defaults.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from gui_grpo.policy.actions import resolve_format
from gui_grpo.policy.prompts import PromptConfig

USAGE_FILE = "gui_grpo.json"
USAGE_FORMAT = 1
DEFAULT_MAX_NEW_TOKENS = 64
DEFAULT_SIM_RESOLUTION = "small"


class UsageError(ValueError):
    """A model's ``gui_grpo.json`` cannot be read; the message says which file and why."""


class UsageConflict(ValueError):
    """A flag contradicts the settings the model was trained with; the message says both."""


@dataclass(frozen=True)
class ModelUsage:
    """The settings a model was trained with (``gui_grpo.json``)."""

    family: str
    prompt: PromptConfig = field(default_factory=PromptConfig)
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    sim_resolution: str = DEFAULT_SIM_RESOLUTION
    trained_by: str = ""
    """What wrote it: ``sft``, ``grpo`` or ``export``."""
    base_model: str | None = None
    """Absolute path of the model an adapter applies to (None for full weights)."""
    code_version: str = ""

    def to_json(self) -> str:
        body = {"format": USAGE_FORMAT, **dataclasses.asdict(self)}
        body["prompt"]["action_format"] = resolve_format(self.family, self.prompt.action_format)
        return json.dumps(body, indent=2, sort_keys=True) + "\n"

    def settings(self) -> dict[str, Any]:
        """What the prompt flags of ``eval`` and ``run`` set, keyed by flag (``max_pixels``: --max-pixels)."""
        p = self.prompt
        return {"observation": p.observation, "action_format": resolve_format(self.family, p.action_format),
                "max_pixels": p.max_pixels, "max_new_tokens": self.max_new_tokens,
                "sim_resolution": self.sim_resolution}

    def flags(self) -> str:
        """The command-line flags that say the same (for messages)."""
        return " ".join(f"--{name.replace('_', '-')} {value}" for name, value in self.settings().items())


def save_usage(directory: str | Path, usage: ModelUsage) -> Path:
    """Write ``directory/gui_grpo.json`` and the model card ``README.md`` that says the same for a person
    (in place of PEFT's empty template), into a directory that is not yet published: no temp file."""
    path = Path(directory) / USAGE_FILE
    path.write_text(usage.to_json())
    (Path(directory) / "README.md").write_text(model_card(usage))
    return path


WHAT = {"sft": "a supervised warm start (full weights)", "grpo": "a GRPO-trained LoRA adapter",
        "export": "a LoRA merged into its base (full weights)"}


def model_card(usage: ModelUsage) -> str:
    """The model card: what the model is, how it was prompted, and the commands that use it as trained."""
    adapter = usage.base_model is not None
    here = "DIR"  # the card is written before the directory is renamed into place: it names it DIR
    model = f"--model {usage.base_model} --adapter {here}" if adapter else f"--model {here}"
    front = ["---", f"library_name: {'peft' if adapter else 'transformers'}"]
    if adapter:
        front.append(f"base_model: {usage.base_model}")
    front += ["tags:", "- gui-grpo", "- gui-agent", "- android", "---", ""]
    rows = "\n".join(f"| {k.replace('_', ' ')} | `{v}` |" for k, v in usage.settings().items())
    what = WHAT.get(usage.trained_by, "a model")
    lines = [
        f"# gui-grpo {usage.family} model",
        "",
        f"{what[:1].upper()}{what[1:]} trained by gui-grpo"
        + (f" ({usage.code_version})" if usage.code_version else "")
        + (f" on top of `{usage.base_model}`" if adapter else "") + ".",
        "",
        "It was trained with these prompt settings (`gui_grpo.json`); `gui-grpo eval`, `run` and `export`",
        "read them, and refuse a flag that contradicts them:",
        "",
        "| setting | value |",
        "|---|---|",
        rows,
        "",
        "Use it (DIR is this directory):",
        "",
        "```bash",
        f"gui-grpo eval {model} --suite quickstart --out eval",
        f'gui-grpo run --devices sim:1 --task "Turn on Wi-Fi" {model} --dry-run',
    ]
    if adapter:
        lines.append(f"gui-grpo export --adapter {here} --out merged")
    lines += ["```", ""]
    return "\n".join(front + lines)


def load_usage(directory: str | Path) -> ModelUsage | None:
    """The usage saved in ``directory``, or None when it holds none."""
    path = Path(directory) / USAGE_FILE
    if not path.is_file():
        return None
    try:
        body = json.loads(path.read_text())
        body.pop("format", None)
        prompt = PromptConfig(**body.pop("prompt", {}))
        return ModelUsage(prompt=prompt, **body)
    except (ValueError, TypeError) as e:
        raise UsageError(f"{path} is not a gui-grpo usage file ({e}); delete it to use the flags instead") \
            from e


def usage_of(model: str | Path, adapter: str | Path | None = None) -> tuple[ModelUsage | None, Path | None]:
    """The usage that applies to ``model`` with ``adapter``: the adapter's (it was trained last), else the
    model's; and the file it came from."""
    for directory in (adapter, model):
        if directory is not None:
            usage = load_usage(directory)
            if usage is not None:
                return usage, Path(directory) / USAGE_FILE
    return None, None


@dataclass(frozen=True)
class Requested:
    """Settings given on the command line; None where a flag was not given."""

    observation: str | None = None
    action_format: str | None = None
    max_pixels: int | None = None
    max_new_tokens: int | None = None
    sim_resolution: str | None = None


def settle(usage: ModelUsage | None, asked: Requested, family: str, source: Path | None = None) -> ModelUsage:
    """The settings to use: the model's own, with flags that agree with them; without a usage file, the
    flags over the defaults. Raises ``UsageConflict`` for a flag that contradicts the model's settings."""
    if usage is None:
        prompt: dict[str, Any] = {"observation": asked.observation or "pixels",
                                  "action_format": asked.action_format}
        if asked.max_pixels is not None:
            prompt["max_pixels"] = asked.max_pixels
        return ModelUsage(
            family, PromptConfig(**prompt),
            max_new_tokens=asked.max_new_tokens or DEFAULT_MAX_NEW_TOKENS,
            sim_resolution=asked.sim_resolution or DEFAULT_SIM_RESOLUTION,
        )
    trained = usage.settings()
    for name, value in dataclasses.asdict(asked).items():
        if name == "action_format" and value is not None:
            value = resolve_format(usage.family, value)
        if value is not None and value != trained[name]:
            flag = "--" + name.replace("_", "-")
            where = f" ({source})" if source else ""
            raise UsageConflict(
                f"{flag} {value} contradicts the model, which was trained with {flag} {trained[name]}"
                f"{where}; drop the flag (the model's settings: {usage.flags()})"
            )
    return usage


def absolute(path: str | Path) -> str:
    """``path`` made absolute (not resolving links), as every saved path is written."""
    return os.path.abspath(os.fspath(path))


def code_version() -> str:
    """``git describe`` of the source tree when it is a checkout, else the installed package version."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if out.returncode == 0 and out.stdout.strip():
            return f"git:{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return f"gui-grpo {metadata.version('gui-grpo')}"
    except metadata.PackageNotFoundError:
        return "unknown"
