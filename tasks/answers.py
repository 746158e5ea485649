"""Answer normalisation for information tasks: when an agent's ``answer`` text counts as correct.

The rules, in order of strictness:

- Text (``text_matches``): both sides are normalised by ``normalize_text`` — Unicode NFKC, case folded,
  quotes and surrounding punctuation dropped, inner whitespace collapsed to one space. The answer is
  correct when it equals the expected text, or when it is a short sentence that contains the expected text
  as whole words and at most ``MAX_EXTRA_WORDS`` other words ("The device name is Orbit Echo 88").
- Phone numbers (``phone_matches``): only digits are compared; ``+``, spaces, dashes, dots and brackets are
  ignored. A number written without its country code matches a stored international number
  (``600 111 222`` matches ``+34 600 111 222``), and one written with a 1–3 digit country code matches a
  stored national number. The answer must contain exactly one phone-number-like run of digits, so listing
  several numbers fails.
- Counts (``count_matches``): the answer must contain exactly one integer, written in digits, equal to the
  expected count ("3", "3 favourites"). Number words ("three") are not accepted: the prompt asks for digits.
- Times (``time_matches``): ``7:05``, ``07:05``, ``7:05 am`` and ``19:05`` / ``7:05 PM`` are parsed to
  (hour, minute) and compared; a bare hour or an am/pm time with hour > 12 is not a time.
"""

from __future__ import annotations

import re
import unicodedata

MAX_EXTRA_WORDS = 6
_QUOTES = "\"'`\u2018\u2019\u201c\u201d"
_EDGE_PUNCT = ".,;:!?" + _QUOTES + "()[]{}<>"
_PHONE_RUN = re.compile(r"\+?\(?\d[\d\s().\-]{5,}\d")
_INTEGER = re.compile(r"(?<![\d.:])-?\d+(?![\d:])")
_TIME = re.compile(r"\b(\d{1,2})[:.h](\d{2})\s*(a\.?m\.?|p\.?m\.?)?(?![\d])", re.IGNORECASE)


def normalize_text(text: str) -> str:
    """Case-folded text with quotes and edge punctuation dropped and whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if ch in _QUOTES else ch for ch in text)
    words = [w.strip(_EDGE_PUNCT) for w in text.split()]
    return " ".join(w for w in words if w)


def text_matches(answer: str | None, expected: str) -> bool:
    """Whether ``answer`` states ``expected`` (see the module docstring for the rule)."""
    if answer is None:
        return False
    got, want = normalize_text(answer), normalize_text(expected)
    if not want:
        raise ValueError("expected answer is empty after normalisation")
    if got == want:
        return True
    got_words, want_words = got.split(), want.split()
    if len(got_words) - len(want_words) > MAX_EXTRA_WORDS:
        return False
    n = len(want_words)
    return any(got_words[i : i + n] == want_words for i in range(len(got_words) - n + 1))


def phone_digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


def same_number(a: str, b: str) -> bool:
    """Whether two written phone numbers are the same line, allowing a missing country code on one side.

    A country code may be left out only where the other side is written with a leading ``+``, as
    ``+34 600 111 222`` (stored) vs ``600 111 222`` (answer), and only a 1–3 digit prefix.
    """
    da, db = phone_digits(a), phone_digits(b)
    if not da or not db:
        return False
    if da == db:
        return True
    longer, shorter, long_text = (da, db, a) if len(da) > len(db) else (db, da, b)
    prefix = len(longer) - len(shorter)
    return (
        long_text.strip().startswith("+")
        and 1 <= prefix <= 3
        and len(shorter) >= 6
        and longer.endswith(shorter)
    )


def phone_runs(text: str) -> list[str]:
    """The phone-number-like runs of ``text`` (at least 7 characters of digits and separators)."""
    return [m.group(0) for m in _PHONE_RUN.finditer(text) if len(phone_digits(m.group(0))) >= 6]


def phone_matches(answer: str | None, stored: str) -> bool:
    """Whether ``answer`` gives exactly one phone number and it is ``stored``."""
    if answer is None:
        return False
    runs = phone_runs(answer)
    return len(runs) == 1 and same_number(runs[0], stored)


def count_matches(answer: str | None, expected: int) -> bool:
    """Whether ``answer`` holds exactly one integer, in digits, equal to ``expected``."""
    if answer is None:
        return False
    found = _INTEGER.findall(answer)
    return len(found) == 1 and int(found[0]) == expected


def parse_time(text: str) -> tuple[int, int] | None:
    """(hour 0-23, minute) of the one time written in ``text``, or None when there is not exactly one."""
    found = _TIME.findall(text)
    if len(found) != 1:
        return None
    hour, minute, meridiem = int(found[0][0]), int(found[0][1]), found[0][2].lower().replace(".", "")
    if minute > 59:
        return None
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    elif hour > 23:
        return None
    return hour, minute


def time_matches(answer: str | None, hour: int, minute: int) -> bool:
    return answer is not None and parse_time(answer) == (hour, minute)
