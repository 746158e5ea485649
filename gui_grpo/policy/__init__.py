"""The policy: coordinates, action formats and parsing, prompts, model loading, engines, log-probs."""
