"""Training: config, the GRPO trainer, samples and the loss pass, SFT, offline GRPO, demos, checkpoints."""
