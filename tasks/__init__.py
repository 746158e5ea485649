"""Task templates for gui-grpo: params, setup, checker, oracle. Imports only ``emulators``."""
