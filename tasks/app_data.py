"""Parameter pools for the Calendar, Clock, Notes and Files templates (ASCII: a phone types them).

Titles in one pool never contain one another as whole words, so "which events are on Friday" can be judged
by which titles an answer mentions. Dates fall in the month after the simulator's "today" (2026-03-02), so
every event is in the future and relative headings ("Tomorrow") never hide a date.
"""

from __future__ import annotations

import datetime as dt
import random

EVENT_TITLES: tuple[str, ...] = (
    "Dentist appointment", "Team standup", "Yoga class", "Budget review", "Lunch with Ana",
    "Piano lesson", "Car service", "Book club", "Project kickoff", "Haircut",
    "Parent teacher meeting", "Flight to Lisbon", "Quarterly planning", "Vet visit", "Tennis match",
    "Coffee with Bruno", "Design critique", "Doctor checkup", "Birthday dinner", "Job interview",
    "Swimming practice", "Tax deadline", "Movie night", "Hiking trip", "Language exchange",
    "Board meeting", "Guitar lesson", "Farmers market", "Code review", "Museum visit",
)  # fmt: skip
ALARM_LABELS: tuple[str, ...] = (
    "Wake up", "Gym", "Medicine", "Take out trash", "Call mom", "Water plants", "School run",
    "Standup", "Feed the cat", "Bus", "Nap over", "Start cooking", "Pick up kids", "Laundry",
    "Meditate", "Stretch", "Bedtime", "Check oven", "Leave for work", "Pay rent",
)  # fmt: skip
NOTE_TITLES: tuple[str, ...] = (
    "Shopping list", "Gift ideas", "Wifi password", "Packing list", "Book recommendations",
    "Recipe", "Meeting notes", "Garden plans", "Workout plan", "Travel ideas", "Movies to watch",
    "Passport info", "Car parking", "Weekend chores", "Podcast list", "Budget",
)  # fmt: skip
NOTE_BODIES: tuple[str, ...] = (
    "Eggs milk bread and apples", "Call the plumber before Friday", "Locker code is 4417",
    "Bring the blue umbrella", "Parking on level 3 spot 42", "Ask about the refund",
    "Buy stamps at the post office", "Renew the library card", "Send photos to Liam",
    "The gate code is 2580", "Try the new ramen place", "Water the fern twice a week",
    "Return the drill to Marta", "Book seats in row 12", "Cancel the gym trial",
    "Order ink for the printer", "Pick up dry cleaning", "Check the tyre pressure",
)  # fmt: skip
NOTE_ADDITIONS: tuple[str, ...] = (
    "Also buy rice", "Remember the charger", "Due on Monday", "Ask Hugo first", "Bring cash",
    "Call back after 5", "Use the side door", "Check twice",
)  # fmt: skip
FOLDER_NAMES: tuple[str, ...] = (
    "Invoices", "Receipts", "Recipes", "Taxes", "Photos_2025", "Scans", "Contracts", "Travel",
    "School", "Manuals", "Backups", "Letters", "Projects", "Archive", "Wallpapers", "Tickets",
)  # fmt: skip
FILE_STEMS: tuple[str, ...] = (
    "report", "invoice_march", "boarding_pass", "lease", "menu", "cv_final", "notes", "ticket",
    "warranty", "recipe_soup", "schedule", "receipt_42", "map", "summary", "draft_letter", "photo_list",
)  # fmt: skip
FILE_EXTENSIONS: tuple[str, ...] = (".pdf", ".txt", ".jpg", ".docx", ".zip")
FILE_TEXTS: tuple[str, ...] = (
    "Meet at the north entrance", "Total due is 86 dollars", "Room 214 on the second floor",
    "The wifi name is OrbitNet", "Pick up at gate B7", "Order number 55120",
    "Leave the key under the mat", "Check in opens at noon", "Seat 14C by the window",
)  # fmt: skip
TASK_YEAR, TASK_MONTH = 2026, 3
FIRST_DAY, LAST_DAY = 3, 28


def task_day(rng: random.Random) -> dt.date:
    """A day of the task month after the simulator's today."""
    return dt.date(TASK_YEAR, TASK_MONTH, rng.randint(FIRST_DAY, LAST_DAY))


def day_of(iso: str) -> dt.date:
    return dt.date.fromisoformat(iso)


def file_names(rng: random.Random, k: int, extension: str | None = None) -> list[str]:
    """``k`` distinct file names (stem + extension)."""
    return [stem + (extension or rng.choice(FILE_EXTENSIONS)) for stem in rng.sample(FILE_STEMS, k)]
