"""Offline Qwen VL models: the families gui-grpo knows and the tiny-model builder."""
