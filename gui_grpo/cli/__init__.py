"""The ``gui-grpo`` commands (one module each, see ``main``) and the main job's pipeline (``quickstart``)."""
