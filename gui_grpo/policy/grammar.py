"""Grammar-constrained sampling of the JSON action format, with xgrammar.

At a high temperature a small policy writes broken JSON as often as it explores a new choice. With
``rollout.constrained`` the sampler masks, at every token, what cannot continue an action in the json
format exactly as ``format_action`` writes it (``{"action": "click", "index": 4}``), so a higher temperature
explores which action and which target, never the syntax. The grammar is an EBNF compiled by xgrammar
(a maintained grammar engine, also used by vLLM and SGLang) against the model's tokenizer.

The loss must use the log-probs of the distribution actually sampled from: ``token_masks`` replays the same
matcher over stored completions and gives, per position, the tokens that were allowed, which the loss
passes apply before the softmax (``policy.logprobs.token_stats``).

Bounds that make every sample parse: numbers have at most 4 digits (one decimal for times), texts at most
``max_text`` printable ASCII characters without quotes or backslashes (typed text stays data: the text is
one JSON string the grammar closes), and ``max_chars`` is the longest action the grammar admits. Every
token of the tiny tokenizer is at least one character, so ``max_new_tokens > max_chars`` guarantees the
action closes (``ActionConstraint`` refuses a smaller budget).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

BUTTONS: tuple[str, ...] = ("Back", "Home", "Menu", "Enter")


@dataclass(frozen=True)
class Bounds:
    """What the actions of one prompt may name: element indices below ``elements`` (0: no index target),
    points with x below ``width`` and y below ``height`` (the model's image, or 1000 for norm1000)."""

    elements: int
    width: int
    height: int


def _below(n: int) -> str:
    return " | ".join(f'"{i}"' for i in range(n))


def action_grammar(max_text: int = 24, bounds: Bounds | None = None) -> str:
    """The EBNF of one action in the json format, with texts of at most ``max_text`` characters; with
    ``bounds``, only indices of listed elements and points on the screen."""
    if max_text < 1:
        raise ValueError("max_text must be >= 1")
    from emulators.actions import KEYCODE_NAMES

    buttons = " | ".join(f'"{b}"' for b in BUTTONS)
    keys = " | ".join(f'"{k}"' for k in sorted({v.lower() for v in KEYCODE_NAMES.values()}))
    target = 'target ::= "\\"index\\": " int | "\\"coordinate\\": " point'
    point = 'point ::= "[" int ", " int "]"'
    if bounds is not None:
        by_index = f'"\\"index\\": " ({_below(bounds.elements)}) | ' if bounds.elements else ""
        target = f'target ::= {by_index}"\\"coordinate\\": " point'
        point = f'point ::= "[" ({_below(bounds.width)}) ", " ({_below(bounds.height)}) "]"'
    return "\n".join(
        [
            'root ::= "{\\"action\\": " action "}"',
            "action ::= click | long_press | swipe | type | key | button | open | wait | terminate | answer",
            'click ::= "\\"click\\", " target',
            'long_press ::= "\\"long_press\\", " target ", \\"time\\": " press_time',
            'swipe ::= "\\"swipe\\", \\"coordinate\\": " point ", \\"coordinate2\\": " point',
            'type ::= "\\"type\\", \\"text\\": " word',
            f'key ::= "\\"key\\", \\"text\\": \\"" ({keys}) "\\""',
            f'button ::= "\\"system_button\\", \\"button\\": \\"" ({buttons}) "\\""',
            'open ::= "\\"open\\", \\"text\\": " word',
            'wait ::= "\\"wait\\", \\"time\\": " wait_time',
            'terminate ::= "\\"terminate\\", \\"status\\": \\"" ("success" | "failure") "\\""',
            'answer ::= "\\"answer\\", \\"text\\": " text',
            target,
            point,
            "int ::= [0-9] | [1-9] [0-9]{1,3}",
            'press_time ::= "0." [5-9] | [1-9] ("." [0-9])? | "10" ".0"?',  # 0.5-10 s
            'wait_time ::= ([0-9] | [1-5] [0-9]) ("." [0-9])? | "60" ".0"?',  # 0-60 s
            f'text ::= "\\"" [ !#-\\[\\]-~]{{0,{max_text}}} "\\""',
            f'word ::= "\\"" [!#-\\[\\]-~] [ !#-\\[\\]-~]{{0,{max_text - 1}}} "\\""',  # not empty
        ]
    )


def longest_action(max_text: int) -> int:
    """Characters in the longest action ``action_grammar(max_text)`` admits."""
    point = len("[1234, 1234]")
    number = len("1234.5")
    candidates = [
        len('{"action": "swipe", "coordinate": , "coordinate2": }') + 2 * point,
        len('{"action": "long_press", "coordinate": , "time": }') + point + number,
        len('{"action": "system_button", "button": ""}') + max(len(b) for b in BUTTONS),
        len('{"action": "terminate", "status": "failure"}'),
        len('{"action": "answer", "text": ""}') + max_text,
        len('{"action": "key", "text": ""}') + 24,
    ]
    return max(candidates)


class ActionConstraint:
    """The action grammar for one tokenizer: matchers for a batch of samples, and the masks that replay
    them for the loss.

    ``open(bounds)`` gives one matcher per row (each prompt's elements and image), which the caller keeps
    for its batch; ``allowed(matchers, rows)`` is the (len(rows), V) bool mask of the tokens each row may
    take next; ``advance(matchers, rows, tokens)`` moves them on. A row that has closed its action may only
    stop. Grammars are compiled once per ``Bounds``; the constraint holds no batch state, so one serves
    every sampling call.
    """

    def __init__(
        self,
        tokenizer: Any,
        vocab_size: int,
        stop_ids: Sequence[int],
        max_new_tokens: int,
        *,
        max_elements: int = 0,
        norm1000: bool = False,
        max_text: int = 24,
    ) -> None:
        import xgrammar as xg

        self.max_chars = longest_action(max_text)
        if max_new_tokens <= self.max_chars:
            raise ValueError(
                f"constrained sampling needs max_new_tokens > {self.max_chars} (the longest action it "
                f"admits, in characters) so that every action closes; got {max_new_tokens}"
            )
        self.vocab_size, self.max_text = vocab_size, max_text
        self.max_elements, self.norm1000 = max_elements, norm1000
        self._xg = xg
        stops = list(stop_ids)
        info = xg.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=stops)
        self._compiler = xg.GrammarCompiler(info)
        self._compiled: dict[Bounds, Any] = {}

    def bounds(self, elements: int, image_size: tuple[int, int]) -> Bounds:
        """The bounds of a prompt that listed ``elements`` elements over an image of ``image_size``."""
        width, height = (1000, 1000) if self.norm1000 else image_size
        return Bounds(min(elements, self.max_elements), width, height)

    def matcher(self, bounds: Bounds) -> Any:
        if bounds not in self._compiled:
            self._compiled[bounds] = self._compiler.compile_grammar(action_grammar(self.max_text, bounds))
        return self._xg.GrammarMatcher(self._compiled[bounds])

    def open(self, bounds: Sequence[Bounds]) -> list[Any]:
        """One fresh matcher per row."""
        return [self.matcher(b) for b in bounds]

    def allowed(self, matchers: Sequence[Any], rows: Sequence[int]) -> torch.Tensor:
        """(len(rows), V) bool: the tokens each row's grammar admits next."""
        bitmask = self._xg.allocate_token_bitmask(len(rows), self.vocab_size)  # (A, ceil(V/32)) int32
        for i, r in enumerate(rows):
            matchers[r].fill_next_token_bitmask(bitmask, i)
        return unpack_bitmask(bitmask, self.vocab_size)

    def advance(self, matchers: Sequence[Any], rows: Sequence[int], tokens: Sequence[int]) -> None:
        for r, t in zip(rows, tokens, strict=True):
            m = matchers[r]
            if not m.is_terminated() and not m.accept_token(int(t)):
                raise RuntimeError(f"token {t} was sampled outside the action grammar")

    def token_masks(
        self, completions: Sequence[Sequence[int]], bounds: Sequence[Bounds], width: int, right: bool
    ) -> torch.Tensor:
        """(B, width, V) bool: at each completion position, the tokens that were allowed when it was
        sampled (completion b under ``bounds[b]``); positions outside the completion allow everything.
        ``right``: completions right-aligned (else left-aligned) in the ``width`` columns, as the loss
        pass lays them out."""
        total = sum(len(c) for c in completions)
        bitmask = self._xg.allocate_token_bitmask(max(1, total), self.vocab_size)  # one row per token
        where: list[tuple[int, int]] = []
        for b, (comp, bound) in enumerate(zip(completions, bounds, strict=True)):
            matcher = self.matcher(bound)
            offset = width - len(comp) if right else 0
            for t, tok in enumerate(comp):
                matcher.fill_next_token_bitmask(bitmask, len(where))
                where.append((b, offset + t))
                if not matcher.is_terminated() and not matcher.accept_token(int(tok)):
                    raise RuntimeError(f"completion {b} leaves the action grammar at token {t}: it was not "
                                       "sampled under this constraint")
        out = torch.ones(len(completions), width, self.vocab_size, dtype=torch.bool)
        if where:
            rows, cols = zip(*where, strict=True)
            out[list(rows), list(cols)] = unpack_bitmask(bitmask[: len(where)], self.vocab_size)
        return out


def unpack_bitmask(bitmask: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """xgrammar's packed int32 bitmask (A, W) -> (A, vocab_size) bool."""
    shifts = torch.arange(32, dtype=torch.int32)
    bits = (bitmask[:, :, None] >> shifts) & 1  # (A, W, 32)
    return bits.reshape(bitmask.shape[0], -1)[:, :vocab_size].bool()
