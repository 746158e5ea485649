"""PhoneSim's ``/system/bin/sh``: an Android ``sh`` + toolbox interpreter over a ``UiHost``.

``interpreter.PhoneShell`` is the entry point. Lowest module first: ``errors`` (named errors with exit
statuses), ``fs`` (the filesystem as the shell sees it), ``base`` (command I/O, per-shell context,
argument helpers), ``parse`` (command lines to a syntax tree), ``sql`` and ``providers`` (the data behind
``content``), then the commands: ``text`` (echo, test, date, ...), ``filters`` (grep, head, sort, ...),
``files`` (ls, cat, cp, ...), ``system`` (input, screencap, uiautomator, am, pm, wm), ``device``
(getprop, settings, svc, cmd, dumpsys) and ``content``.
"""
