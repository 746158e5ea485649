"""Pools that task parameters are drawn from: names, phone numbers, e-mail addresses, message texts.

Everything here is ASCII, because a phone's ``input text`` types ASCII only. Pools are large enough that a
guessed answer rarely matches a sampled one; functions take the caller's ``random.Random`` so every draw is
reproducible from the instance seed.
"""

from __future__ import annotations

import random

FIRST_NAMES: tuple[str, ...] = (
    "Ana",
    "Bruno",
    "Carla",
    "Daniel",
    "Elena",
    "Farid",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Keiko",
    "Liam",
    "Marta",
    "Nikhil",
    "Olga",
    "Pablo",
    "Quinn",
    "Rosa",
    "Samir",
    "Tomas",
    "Uma",
    "Victor",
    "Wendy",
    "Xavi",
    "Yara",
    "Zoltan",
    "Amara",
    "Boris",
    "Chloe",
    "Dmitri",
    "Esme",
    "Felix",
    "Gemma",
    "Hector",
    "Ingrid",
    "Jamal",
    "Kira",
    "Lucas",
    "Mei",
    "Nora",
    "Oscar",
    "Priya",
    "Rafael",
    "Sofia",
    "Theo",
    "Vera",
    "Wei",
    "Yusuf",
    "Zara",
    "Aiden",
    "Bianca",
    "Cyrus",
    "Dalia",
    "Emil",
    "Freya",
    "Gavin",
    "Hana",
    "Ivan",
    "Julia",
)
LAST_NAMES: tuple[str, ...] = (
    "Diaz",
    "Okafor",
    "Schmidt",
    "Rossi",
    "Tanaka",
    "Novak",
    "Silva",
    "Kowalski",
    "Haddad",
    "Lindqvist",
    "Moreau",
    "Petrov",
    "Nguyen",
    "Oconnor",
    "Fischer",
    "Garcia",
    "Ibrahim",
    "Jensen",
    "Khan",
    "Larsen",
    "Mendes",
    "Nakamura",
    "Olsen",
    "Park",
    "Quispe",
    "Reyes",
    "Sato",
    "Torres",
    "Ueda",
    "Varga",
    "Weber",
    "Yilmaz",
    "Zhang",
    "Abbott",
    "Baker",
    "Costa",
    "Dubois",
    "Evans",
    "Ferrari",
    "Gruber",
    "Hughes",
)
# Message bodies: everyday texts, no commas at the end, ASCII only.
MESSAGE_TEXTS: tuple[str, ...] = (
    "Running ten minutes late",
    "See you at the station",
    "Can you call me back",
    "Dinner is at eight",
    "Did you get the tickets",
    "Happy birthday",
    "The meeting moved to Thursday",
    "I left my keys at home",
    "Pick up some bread please",
    "Thanks for yesterday",
    "On my way",
    "Let us meet at the park",
    "The package arrived",
    "Good luck with the exam",
    "Are you free this weekend",
    "Call me when you land",
    "The train is delayed",
    "Lunch tomorrow",
    "I found your umbrella",
    "Send me the address",
    "Movie starts at nine",
    "Bring the charger",
    "Parking is full",
    "We won the match",
    "Meet me at the cafe",
    "Remember the dentist",
    "Back in five minutes",
    "The door code changed",
    "Can I borrow your bike",
    "Practice is cancelled",
    "Water the plants please",
    "Flight lands at noon",
)
# Words for device names; a sampled name joins two of them with a number, so guesses rarely hit it.
DEVICE_WORDS: tuple[str, ...] = (
    "Blue",
    "Orbit",
    "Falcon",
    "Maple",
    "Pixel",
    "Nova",
    "River",
    "Comet",
    "Cedar",
    "Echo",
    "Harbor",
    "Lynx",
    "Atlas",
    "Birch",
    "Delta",
    "Ember",
    "Fjord",
    "Glacier",
    "Indigo",
    "Juniper",
    "Kestrel",
    "Lotus",
    "Mesa",
)
EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "mail.test", "inbox.example.org", "post.example.net")
# Country codes used for sampled numbers, with the national number length that follows them.
COUNTRY_CODES: tuple[tuple[str, int], ...] = (("1", 10), ("34", 9), ("44", 10), ("49", 10), ("33", 9))


def person_names(rng: random.Random, k: int) -> list[str]:
    """``k`` distinct "First Last" names, first names distinct too (so "call Ana" is unambiguous)."""
    firsts = rng.sample(FIRST_NAMES, k)
    return [f"{first} {rng.choice(LAST_NAMES)}" for first in firsts]


def phone_number(rng: random.Random, international: bool | None = None) -> str:
    """A phone number as a person writes it: ``+34 600 111 222`` or national ``600 111 222``."""
    code, length = rng.choice(COUNTRY_CODES)
    first = str(rng.randint(2, 9))
    digits = first + "".join(str(rng.randint(0, 9)) for _ in range(length - 1))
    national = f"{digits[:3]} {digits[3:6]} {digits[6:]}"  # 600 111 222 or 415 555 0134
    if international is None:
        international = rng.random() < 0.5
    return f"+{code} {national}" if international else national


def phone_numbers(rng: random.Random, k: int) -> list[str]:
    """``k`` phone numbers with pairwise different digits."""
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < k:
        number = phone_number(rng)
        key = "".join(ch for ch in number if ch.isdigit())[-9:]
        if key not in seen:
            seen.add(key)
            out.append(number)
    return out


def email_for(rng: random.Random, name: str) -> str:
    first, _, last = name.lower().partition(" ")
    style = rng.randrange(3)
    local = (
        f"{first}.{last}"
        if style == 0
        else f"{first[0]}{last}"
        if style == 1
        else f"{first}{rng.randint(1, 99)}"
    )
    return f"{local}@{rng.choice(EMAIL_DOMAINS)}"


def message_texts(rng: random.Random, k: int) -> list[str]:
    return rng.sample(MESSAGE_TEXTS, k)


def device_name(rng: random.Random) -> str:
    a, b = rng.sample(DEVICE_WORDS, 2)
    return f"{a} {b} {rng.randint(10, 99)}"
