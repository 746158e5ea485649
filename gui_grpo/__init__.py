"""gui-grpo: GRPO training for vision-language phone agents."""

__version__ = "0.1.0"
