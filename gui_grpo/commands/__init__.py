"""One module per gui-grpo command; each exposes ``register(subparsers)``."""
