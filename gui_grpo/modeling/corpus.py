"""A built-in text corpus for training the offline tokenizer.

The tiny model never sees web text: its tokenizer is trained on the kind of text a phone agent reads and
writes (task instructions, app and element names, numbered element lists, Qwen ``mobile_use`` tool calls,
JSON actions, answers and numbers), generated from a seed so the vocabulary is reproducible.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator

APPS = (
    "Settings", "Contacts", "Messages", "Calendar", "Files", "Clock", "Notes", "Phone", "Camera",
    "Gallery", "Chrome", "Maps", "Calculator", "Music", "Email", "Weather", "Photos", "Play Store",
)  # fmt: skip
SETTINGS = (
    "airplane mode", "Wi-Fi", "Bluetooth", "mobile data", "location", "dark theme", "do not disturb",
    "battery saver", "auto-rotate", "hotspot", "NFC", "flashlight",
)  # fmt: skip
FIRST_NAMES = tuple(
    "Ana Luis Maria John Emma Noah Olivia Liam Sofia Mateo Chloe Ravi Yuki Fatima Omar Elena Pablo Grace "
    "Ivan Mei Lucas Zoe Hugo Nina".split()
)
LAST_NAMES = tuple(
    "Diaz Garcia Smith Brown Martin Lopez Chen Kim Patel Rossi Novak Silva Muller Dubois Khan Tanaka Costa "
    "Moreno Lee Wilson".split()
)
WORDS = tuple(
    "meeting lunch dentist gym project report birthday groceries flight call review dinner holiday invoice "
    "notes photos backup tickets team weekly".split()
)
MONTHS = tuple(
    "January February March April May June July August September October November December".split()
)
WIDGETS = tuple("Button TextView Switch EditText ImageButton CheckBox ListView RecyclerView".split())
KEYS = ("Back", "Home", "Menu", "Enter")


def _name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _phone(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"+34 6{rng.randint(0, 99):02d} {rng.randint(0, 999):03d} {rng.randint(0, 999):03d}"
    return f"({rng.randint(200, 999)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"


def _time(rng: random.Random) -> str:
    return f"{rng.randint(0, 23):02d}:{rng.choice((0, 15, 30, 45)):02d}"


def instruction(rng: random.Random) -> str:
    """One phone-task instruction."""
    name, first, word = _name(rng), rng.choice(FIRST_NAMES), rng.choice(WORDS)
    options: tuple[Callable[[], str], ...] = (
        lambda: f"Turn {rng.choice(('on', 'off'))} {rng.choice(SETTINGS)}",
        lambda: f"Add a contact named {name} with phone {_phone(rng)}",
        lambda: f"What is {first}'s phone number?",
        lambda: f'Send a message to {name} saying "{rng.choice(WORDS)} at {_time(rng)}"',
        lambda: f"Open the {rng.choice(APPS)} app",
        lambda: f'Create an event "{word}" on {rng.choice(MONTHS)} {rng.randint(1, 28)} at {_time(rng)}',
        lambda: f"Set an alarm for {_time(rng)}",
        lambda: f"Delete the contact {name}",
        lambda: f"Set the screen brightness to {rng.randint(0, 100)}%",
        lambda: f'Create a note titled "{word}" with the text "{rng.choice(WORDS)} {rng.choice(WORDS)}"',
        lambda: f"How many unread messages are there from {first}?",
        lambda: f"Rename the file {word}.txt to {rng.choice(WORDS)}_{rng.randint(1, 99)}.txt",
        lambda: f"Call {name}",
        lambda: f'Search for "{word}" in {rng.choice(APPS)}',
    )
    return rng.choice(options)()


def _coordinate(rng: random.Random) -> list[int]:
    if rng.random() < 0.5:
        return [rng.randint(0, 1080), rng.randint(0, 2400)]
    return [rng.randint(0, 1000), rng.randint(0, 1000)]


def mobile_use_arguments(rng: random.Random) -> dict[str, object]:
    """Arguments of one ``mobile_use`` call, covering every action kind."""
    kinds = "click click click long_press swipe type key system_button open wait terminate answer"
    kind = rng.choice(kinds.split())
    args: dict[str, object] = {"action": kind}
    if kind in ("click", "long_press", "swipe"):
        args["coordinate"] = _coordinate(rng)
    if kind == "long_press":
        args["time"] = rng.choice((1, 2))
    elif kind == "swipe":
        args["coordinate2"] = _coordinate(rng)
    elif kind == "type":
        args["text"] = rng.choice((_name(rng), _phone(rng), rng.choice(WORDS)))
    elif kind in ("key", "system_button"):
        args["button" if kind == "system_button" else "text"] = rng.choice(KEYS)
    elif kind == "open":
        args["text"] = rng.choice(APPS)
    elif kind == "wait":
        args["time"] = rng.randint(1, 5)
    elif kind == "terminate":
        args["status"] = rng.choice(("success", "failure"))
    elif kind == "answer":
        args["text"] = rng.choice((_phone(rng), str(rng.randint(0, 50)), _name(rng)))
    return args


def tool_call(rng: random.Random) -> str:
    """A Qwen2.5-VL style ``mobile_use`` tool call, sometimes preceded by a thought."""
    call = json.dumps({"name": "mobile_use", "arguments": mobile_use_arguments(rng)})
    text = f"<tool_call>\n{call}\n</tool_call>"
    if rng.random() < 0.2:
        text = f"<think>\nI should {instruction(rng).lower()}.\n</think>\n" + text
    return text


def json_action(rng: random.Random) -> str:
    """A compact JSON action that targets an element by index."""
    kind = rng.choice(("click", "click", "long_press", "type", "scroll", "answer", "terminate"))
    action: dict[str, object] = {"action": kind}
    if kind in ("click", "long_press", "type"):
        action["index"] = rng.randint(0, 40)
    if kind == "type":
        action["text"] = rng.choice((_name(rng), _phone(rng)))
    elif kind == "scroll":
        action["direction"] = rng.choice(("up", "down", "left", "right"))
    elif kind == "answer":
        action["text"] = _phone(rng)
    elif kind == "terminate":
        action["status"] = rng.choice(("success", "failure"))
    return json.dumps(action)


def element_lines(rng: random.Random) -> str:
    """A numbered element list in the format of ``emulators.elements.Element.describe``."""
    lines = []
    for i in range(rng.randint(2, 8)):
        label = rng.choice((*SETTINGS, *APPS, *WORDS, _name(rng)))
        flag = rng.choice(("", "", " checked", " focused", " scrollable"))
        lines.append(
            f'[{i}] {rng.choice(WIDGETS)} "{label}"{flag} ({rng.randint(0, 1080)},{rng.randint(0, 2400)})'
        )
    return "\n".join(lines)


def history_line(rng: random.Random) -> str:
    return f"Step {rng.randint(1, 20)}: {json.dumps(mobile_use_arguments(rng))}"


def numbers(rng: random.Random) -> str:
    return " ".join(str(rng.randint(0, 10 ** rng.randint(1, 6))) for _ in range(rng.randint(3, 12)))


def system_texts() -> list[str]:
    """The real system prompts (every action format, a few resolutions), so prompts tokenise compactly."""
    from gui_grpo.policy.actions import ACTION_FORMATS, tool_description
    from gui_grpo.policy.prompts import SYSTEM_PROMPT

    sizes = [(252, 588), (392, 868), (1092, 2408), (540, 1200)]
    return [SYSTEM_PROMPT + tool_description(family, fmt, size)
            for family in ("qwen2_5_vl", "qwen3_vl") for fmt in ACTION_FORMATS for size in sizes]


# Weights: instructions and tool calls are what the model reads and writes most.
_GENERATORS: tuple[Callable[[random.Random], str], ...] = (
    (instruction,) * 2 + (tool_call,) * 3 + (json_action, element_lines, history_line, numbers)
)


def phone_corpus(n_lines: int = 4000, seed: int = 0) -> Iterator[str]:
    """Yield ``n_lines`` deterministic training texts (plus the system prompt a few times)."""
    rng = random.Random(seed)
    for _ in range(4):
        yield from system_texts()
    for _ in range(n_lines):
        yield rng.choice(_GENERATORS)(rng)
