"""Task templates for gui-grpo: params, setup, checker, oracle. Imports only ``emulators``.

Layout:

- ``base``: the contract (``Task``, ``Param``, ``Episode``, registry). ``shell_task.ShellTask`` is the shape
  every template takes: ``setup_commands`` / ``prepare`` (shell), ``reads`` (shell), ``judge`` (pure).
- ``shell_reads`` / ``shell_writes``: Android shell output parsers and command builders (content, settings).
- ``answers``: answer normalisation for information tasks (text, phone numbers, counts, times).
- ``oracle_utils``: find / tap / type / scroll through the accessibility tree; ``<app>_ui`` modules hold an
  app's oracle steps; ``data``: seeded parameter pools.
- ``<app>_tasks``: the templates; ``suites``: suites, splits and ``instances``; ``runner``: oracle,
  do-nothing, guessing and random agents; ``verify``: the ``tasks verify`` report.

Adding a template: subclass ``ShellTask`` (or an app base such as ``contacts_common.ContactsBookTask``),
set ``name`` ("app.verb_object"), ``app`` (launcher label), ``difficulty``, ``phrasings`` (>= 3, formatted
with the params), ``params_schema`` and ``sample_params``; make the start state differ from the goal
(``setup_commands`` resets what the task reads); write ``judge`` over ``reads`` outputs, ``answer_guesses``
for information tasks, ``oracle`` through ``oracle_utils``; decorate with ``@register``; list the module in
``suites.TEMPLATE_MODULES``. ``tests/test_tasks_sim.py`` then runs it (nothing passes, oracle passes).

Portability (what each app's checks read on a stock Android image):

- Settings (``com.android.settings``): ``settings get global wifi_on`` (1 or 2 = on), ``bluetooth_on``,
  ``airplane_mode_on``, ``device_name``; ``secure ui_night_mode`` (2 = dark); ``system screen_brightness``.
  Setup: ``svc wifi|bluetooth``, ``cmd connectivity airplane-mode``, ``settings put``. Ring volume is
  sim-only (stock Android keeps stream volumes in AudioService).
- Contacts (``com.android.contacts`` / ``com.google.android.contacts``): ``content://com.android.contacts``
  ``raw_contacts`` (``deleted=0``, ``starred``) and ``data`` rows with mimetypes ``name``, ``phone_v2``,
  ``email_v2``.
- Messages (``com.android.messaging`` / ``com.google.android.apps.messaging``): ``content://sms`` (type 1
  inbox, 2 sent). Preloading messages needs the shell to be allowed to write SMS on the image.
"""
