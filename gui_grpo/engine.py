"""Generation engines: batched prompts in, sampled completions with their log-probabilities out.

``HFEngine`` uses Hugging Face ``generate`` on CPU or GPU. Sampling is done by ``SeededSampler``, a logits
processor that draws each row's token from that row's own ``torch.Generator``; ``generate`` itself runs
greedy over the resulting one-hot scores. So a row's sample depends only on its seed, never on which
other rows share the batch, and the recorded log-probs are those of the distribution actually sampled
(``softmax(logits / temperature)``, no top-k / top-p truncation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList


@dataclass
class Completion:
    """One sampled completion: token ids (ending with the stop token when it stopped), per-token log-probs."""

    token_ids: list[int]
    logprobs: list[float]
    text: str
    stopped: bool  # False when max_new_tokens cut it off


class SeededSampler(LogitsProcessor):
    """Samples each row from its own generator and records the token's log-prob under temperature."""

    def __init__(
        self, seeds: list[int] | None, temperature: float, greedy: bool, banned: list[int] | None = None
    ) -> None:
        self.greedy = greedy
        self.banned = banned or []
        self.temperature = temperature
        self.generators = None
        if not greedy:
            if seeds is None:
                raise ValueError("sampling needs one seed per row (or greedy=True)")
            self.generators = [torch.Generator().manual_seed(int(s) % (2**63)) for s in seeds]
        self.chosen: list[torch.Tensor] = []  # per step (B,)
        self.logprobs: list[torch.Tensor] = []  # per step (B,)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        logits = scores.float()  # (B, V)
        if self.banned:
            logits[:, self.banned] = float("-inf")
        logp = torch.log_softmax(logits / self.temperature, dim=-1)  # (B, V)
        if self.greedy:
            tokens = logits.argmax(dim=-1)  # (B,)
        else:
            probs = logp.exp().cpu()
            tokens = torch.stack(
                [torch.multinomial(probs[i], 1, generator=g)[0] for i, g in enumerate(self.generators)]
            ).to(logits.device)  # (B,)
        self.chosen.append(tokens)
        self.logprobs.append(logp.gather(1, tokens[:, None])[:, 0])
        forced = torch.full_like(scores, float("-inf"))
        forced.scatter_(1, tokens[:, None], 0.0)
        return forced


class HFEngine:
    """Batched sampling with ``model.generate``."""

    def __init__(
        self, model: Any, processor: Any, *, max_new_tokens: int = 96, temperature: float = 1.0
    ) -> None:
        if temperature <= 0:
            raise ValueError("temperature must be > 0; use greedy=True for deterministic decoding")
        self.model = model
        self.processor = processor
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        tok = processor.tokenizer
        stop = {tok.convert_tokens_to_ids("<|im_end|>"), tok.eos_token_id}
        self.stop_ids = sorted(i for i in stop if isinstance(i, int) and i >= 0)
        # Vision placeholders in a completion would break the next forward pass (image tokens must match
        # image features), and no policy should write them: they are never sampled.
        vision = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>")
        unk = tok.unk_token_id
        self.banned_ids = sorted(
            {i for t in vision if isinstance(i := tok.convert_tokens_to_ids(t), int) and i >= 0 and i != unk}
        )
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else self.stop_ids[0]

    @torch.no_grad()
    def generate(
        self, batch: dict[str, torch.Tensor], seeds: list[int] | None = None, greedy: bool = False
    ) -> list[Completion]:
        """Sample one completion per row of an encoded, left-padded batch."""
        sampler = SeededSampler(seeds, self.temperature, greedy, self.banned_ids)
        config = GenerationConfig(
            do_sample=False,
            max_new_tokens=self.max_new_tokens,
            eos_token_id=self.stop_ids,
            pad_token_id=self.pad_id,
            num_beams=1,
            repetition_penalty=1.0,
        )
        device = next(self.model.parameters()).device
        inputs = {k: v.to(device) for k, v in batch.items()}
        was_training = self.model.training
        self.model.eval()
        try:
            self.model.generate(
                **inputs, generation_config=config, logits_processor=LogitsProcessorList([sampler])
            )
        finally:
            self.model.train(was_training)
        tokens = torch.stack(sampler.chosen, dim=1).cpu()  # (B, T)
        logps = torch.stack(sampler.logprobs, dim=1).cpu()  # (B, T)
        return [self._cut(tokens[i].tolist(), logps[i].tolist()) for i in range(tokens.shape[0])]

    def _cut(self, ids: list[int], logps: list[float]) -> Completion:
        for j, t in enumerate(ids):
            if t in self.stop_ids:
                ids, logps = ids[: j + 1], logps[: j + 1]
                text = self.processor.tokenizer.decode(ids[:-1], skip_special_tokens=False)
                return Completion(ids, logps, text, stopped=True)
        text = self.processor.tokenizer.decode(ids, skip_special_tokens=False)
        return Completion(ids, logps, text, stopped=False)
