"""Render the PhoneSim gallery in docs/img/ (what the agent sees), with data loaded through the shell.

python scripts/docs_screenshots.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from emulators.phonesim import SimDevice

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"
SETUP = [
    "content insert --uri content://com.android.contacts/raw_contacts --bind display_name:s:'Ana Diaz'",
    "content insert --uri content://com.android.contacts/raw_contacts --bind display_name:s:'Bo Chen'",
    "content insert --uri content://com.android.contacts/raw_contacts --bind display_name:s:'Carla Ruiz'",
    "content insert --uri content://sms --bind address:s:+34600111222 --bind body:s:'Lunch at 1?'"
    " --bind type:i:1",
    "content insert --uri content://com.phonesim.deskclock/alarms --bind hour:i:7 --bind minutes:i:30"
    " --bind label:s:Gym --bind enabled:i:1",
    "mkdir -p /sdcard/Documents/Receipts && echo hi > /sdcard/Download/notes.txt",
]
SCREENS = [
    ("home", False),
    ("settings", False),
    ("contacts", False),
    ("messages", True),
    ("clock", False),
    ("files", True),
    ("calculator", False),
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    shots = []
    for i, (app, dark) in enumerate(SCREENS):
        device = SimDevice(seed=i, resolution="small")
        for cmd in SETUP:
            device.check_shell(cmd)
        if dark:
            device.check_shell("settings put secure ui_night_mode 2")
        if app != "home":
            device.open_app(app)
        shots.append(device.screenshot())
    w, h = shots[0].size
    gallery = Image.new("RGB", (w * len(shots) + 8 * (len(shots) - 1), h), "white")
    for i, shot in enumerate(shots):
        gallery.paste(shot, (i * (w + 8), 0))
    gallery = gallery.resize((gallery.width // 2, h // 2), Image.LANCZOS)
    gallery.save(OUT / "phonesim-gallery.png", optimize=True)
    print(f"wrote {OUT / 'phonesim-gallery.png'} ({gallery.width}x{gallery.height})")


if __name__ == "__main__":
    main()
