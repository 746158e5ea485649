"""Generation engines: prompts in, n sampled completions each with their token log-probabilities out.

Every engine implements ``Engine.sample(prompts, n, seeds=..., greedy=...)``; ``HFEngine`` (here) runs
Hugging Face models on CPU or GPU, ``gui_grpo.policy.vllm_engine.VLLMEngine`` runs vLLM on a GPU.

``HFEngine`` decodes with its own loop over the model's KV cache:

- **Shared prefill.** The P distinct prompts of a call are run forward once and the n samples of each
  prompt are decoded from that one prefill; ``generate(num_return_sequences=n)`` would run the
  screenshot-heavy prompt n times.
- **Lean decode step** (``gui_grpo.policy.fast_decode``, Qwen VL models): the model's own layers over a
  pre-allocated cache, a prompt's keys and values read once for all its samples (cascade attention),
  LoRA merged into fused projections for small models. Other models decode through ``model.forward``
  with the cache gathered n-fold; rows that stop are dropped from it.
- **Per-row seeds.** ``SeededSampler`` (``gui_grpo.policy.sampler``) draws each row's token from that row's
  own ``torch.Generator``, so a sample depends only on its seed, never on which rows share the batch or how
  many prompts were merged.
- **Sampled-distribution log-probs.** Recorded log-probs are ``log_softmax(logits / temperature)`` with the
  never-sampled vision placeholder tokens masked out and no top-k / top-p truncation, which is exactly what
  ``gui_grpo.policy.logprobs.completion_logprobs`` recomputes for the loss.
- **Multimodal RoPE.** Qwen VL models keep 3-D rope offsets (``rope_deltas``) from the prefill; decode
  positions are ``unpadded index + delta`` per row.
- **Kept prefill** (``sample(keep=...)``, asked for by the trainer's loss pass under ``optim.reuse_prefill``):
  the prefill runs with gradients and is handed to the caller's store, so an on-policy loss pass reuses it.
  The engine itself keeps nothing between calls.

``Policy`` (builder + engine) merges identical prompts of one call, such as the G members' first screen
of a group, into one prompt sampled G times with the members' own seeds.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch
from transformers import GenerationConfig, LogitsProcessorList

from gui_grpo.policy.decode_steps import DecodeSteps, DynamicSteps, StaticSteps
from gui_grpo.policy.fast_decode import decoder_for, last_layer_keys_only
from gui_grpo.policy.sampler import SeededSampler
from gui_grpo.policy.shared_prefix import KeptPrefills, KeptPrefix, PrefixPass, gathered_cache, prefix_pass

if TYPE_CHECKING:
    from gui_grpo.policy.prompts import Prompt, PromptBuilder

VISION_TOKENS = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>")


class EngineError(Exception):
    """An engine was called wrongly (no prompt encoder, seeds that do not match n, bad settings)."""


@dataclass
class Completion:
    """One sampled completion: token ids (ending with the stop token when it stopped), per-token log-probs."""

    token_ids: list[int]
    logprobs: list[float]
    text: str
    stopped: bool  # False when max_new_tokens cut it off
    prompt_tokens: int = 0  # length of the prompt it was sampled from (padding excluded)


class Engine(Protocol):
    """What rollouts need from a sampling backend."""

    max_new_tokens: int
    temperature: float

    def bind(self, builder: PromptBuilder) -> None:
        """Use ``builder`` to encode prompts (set by ``Policy``)."""

    def sample(
        self,
        prompts: Sequence[Prompt],
        n: int | Sequence[int] = 1,
        *,
        seeds: Sequence[Sequence[int]] | None = None,
        greedy: bool = False,
        keep: KeptPrefills | None = None,
    ) -> list[list[Completion]]:
        """``n`` (or ``n[i]``) completions of each prompt; ``seeds[i][j]`` seeds sample j of prompt i.
        ``keep``: put each prompt's prefill, run with gradients, there (``HFEngine``; others refuse it)."""


def sample_counts(n: int | Sequence[int], num_prompts: int) -> list[int]:
    """Per-prompt sample counts from an int or a list, validated."""
    counts = [int(n)] * num_prompts if isinstance(n, int) else [int(c) for c in n]
    if len(counts) != num_prompts or any(c < 1 for c in counts):
        raise EngineError(f"n must be >= 1 for each of the {num_prompts} prompts, got {n!r}")
    return counts


def check_seeds(seeds: Sequence[Sequence[int]] | None, counts: list[int], greedy: bool) -> list[int] | None:
    """The seeds flattened row by row; sampling needs one per sample."""
    if seeds is None:
        if not greedy:
            raise EngineError("sampling needs seeds[i][j] for sample j of prompt i (or greedy=True)")
        return None
    if [len(s) for s in seeds] != counts:
        raise EngineError(f"seeds give {[len(s) for s in seeds]} samples per prompt, n asks for {counts}")
    return [int(s) for row in seeds for s in row]


def _single_token(tok: Any, text: str) -> int | None:
    i = tok.convert_tokens_to_ids(text)
    return i if isinstance(i, int) and i >= 0 and i != tok.unk_token_id else None


def stop_tokens(tok: Any) -> tuple[list[int], set[int]]:
    """(stop ids, the stop ids that belong to the answer text).

    Sampling stops at ``<|im_end|>``, EOS, or right after ``</tool_call>`` where that is one token: the
    closing tag ends the one action a turn may hold, and the parser needs it in the text.
    """
    ends = {_single_token(tok, "<|im_end|>"), tok.eos_token_id}
    closing = _single_token(tok, "</tool_call>")
    stop = sorted(i for i in ends | {closing} if isinstance(i, int) and i >= 0)
    return stop, {closing} if closing is not None else set()


def vision_tokens(tok: Any) -> list[int]:
    """Ids of the vision placeholder tokens the tokenizer has."""
    return sorted({i for t in VISION_TOKENS if (i := _single_token(tok, t)) is not None})


def _rope_holder(model: Any) -> Any | None:
    """The submodule that keeps multimodal rope offsets between calls (Qwen VL), if any."""
    return next((m for m in model.modules() if hasattr(m, "rope_deltas")), None)


def _cache_keyword(model: Any) -> str:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    params = inspect.signature(type(base).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


class HFEngine:
    """Sampling with a Hugging Face model: shared prefill per prompt, per-row seeds."""

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        max_new_tokens: int = 96,
        temperature: float = 1.0,
        encode: Callable[[list[Prompt]], dict[str, torch.Tensor]] | None = None,
        fast_decode: bool = True,
    ) -> None:
        if temperature <= 0:
            raise ValueError("temperature must be > 0; use greedy=True for deterministic decoding")
        if max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        self.model = model
        self.processor = processor
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.encode = encode
        tok = processor.tokenizer
        self.stop_ids, self.kept_stop_ids = stop_tokens(tok)
        # Vision placeholders in a completion would break the next forward pass (image tokens must match
        # image features), and no policy should write them: they are never sampled.
        self.banned_ids = vision_tokens(tok)
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else self.stop_ids[0]
        self._cache_kw = _cache_keyword(model)
        self._rope = _rope_holder(model)
        self._fast = decoder_for(model) if fast_decode else None
        self.constraint: Any = None
        """An ``ActionConstraint`` (``policy.grammar``) for sampled, not greedy, decoding; None: free."""

    def bind(self, builder: PromptBuilder) -> None:
        self.encode = builder.encode

    def sample(
        self,
        prompts: Sequence[Prompt],
        n: int | Sequence[int] = 1,
        *,
        seeds: Sequence[Sequence[int]] | None = None,
        greedy: bool = False,
        keep: KeptPrefills | None = None,
    ) -> list[list[Completion]]:
        """``n`` completions per prompt, each prompt prefilled once.

        ``keep``: the prefill runs with gradients and each prompt's is put there under its
        ``prompt_digest``, for an on-policy loss pass to reuse (the caller owns and clears it).
        """
        if self.encode is None:
            raise EngineError("HFEngine has no prompt encoder: build Policy(builder, engine) or call bind()")
        counts = sample_counts(n, len(prompts))
        flat_seeds = check_seeds(seeds, counts, greedy)
        digests = [prompt_digest(p) for p in prompts] if keep is not None else []
        encoded = self.encode(list(prompts))  # sets each prompt's model_image_size
        bounds = []
        if self.constraint is not None and not greedy:
            per_prompt = [self.constraint.bounds(len(p.elements or []), p.model_image_size) for p in prompts]
            bounds = [b for b, c in zip(per_prompt, counts, strict=True) for _ in range(c)]
        flat = self.sample_encoded(encoded, counts, flat_seeds, greedy, keep, digests, bounds)
        out, i = [], 0
        for c in counts:
            out.append(flat[i : i + c])
            i += c
        return out

    @torch.no_grad()
    def sample_encoded(
        self,
        batch: dict[str, torch.Tensor],
        counts: list[int],
        seeds: list[int] | None,
        greedy: bool,
        keep: KeptPrefills | None = None,
        digests: Sequence[str] = (),
        bounds: Sequence[Any] = (),
    ) -> list[Completion]:
        """Completions, row-major (prompt i's ``counts[i]`` samples together), of an encoded batch.

        ``keep``: the prefill runs with gradients and prompt i's is put there under ``digests[i]``.
        ``bounds``: one ``grammar.Bounds`` per row when ``constraint`` is set and sampling is not greedy.
        """
        if keep is not None and len(digests) != len(counts):
            raise EngineError(f"keep needs one digest per prompt: {len(digests)} for {len(counts)} prompts")
        constrained = self.constraint is not None and not greedy
        if constrained and len(bounds) != sum(counts):
            raise EngineError(f"constrained sampling needs a Bounds per row: {len(bounds)} for {sum(counts)}")
        sampler = SeededSampler(
            seeds, self.temperature, greedy, self.banned_ids, self.constraint if constrained else None, bounds
        )
        with eval_mode(self.model):
            tokens, logps, prefix = self._decode(batch, counts, sampler, keep is not None)
        if keep is not None:
            for u, digest in enumerate(digests):
                keep[digest] = KeptPrefix(prefix, u)
        prompt_lens = batch["attention_mask"].sum(dim=1).tolist()
        rows = [p for p, c in enumerate(counts) for _ in range(c)]
        return [self._cut(tokens[r], logps[r], int(prompt_lens[p])) for r, p in enumerate(rows)]

    def _prefill(
        self, inputs: dict[str, torch.Tensor], index: torch.Tensor, grad: bool
    ) -> tuple[Any, torch.Tensor, torch.Tensor, PrefixPass | None]:
        """(cache, first logits (R, V), each row's first decode position (R,), the prefix pass when
        ``grad``: run with gradients and kept whole, its cache on the autograd graph)."""
        if grad:
            with torch.enable_grad():
                prefix = prefix_pass(self.model, inputs)
            logits = prefix.first_logits[:, -1, :].detach()[index]  # (R, V)
            last = prefix.positions[0] if prefix.positions.dim() == 3 else prefix.positions  # (U, P)
            return prefix.cache, logits, last[:, -1][index] + 1, prefix
        holder = self._rope
        if holder is not None:
            holder.rope_deltas = None  # stale offsets of an earlier call must not leak into this prefill
        with last_layer_keys_only(self.model):  # only the last position's logits are kept
            out = self.model(**inputs, use_cache=True, logits_to_keep=1)
        cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
        logits = out.logits[:, -1, :][index]  # (R, V)
        deltas = holder.rope_deltas if holder is not None else None
        lengths = inputs["attention_mask"][index].sum(dim=1)  # (R,)
        offset = lengths + (deltas.to(lengths.device)[index, 0] if deltas is not None else 0)  # (R,)
        return cache, logits, offset, None

    def _decode(
        self, batch: dict[str, torch.Tensor], counts: list[int], sampler: SeededSampler, grad_prefill: bool
    ) -> tuple[list[list[int]], list[list[float]], PrefixPass | None]:
        device = next(self.model.parameters()).device
        inputs = {k: v.to(device) for k, v in batch.items()}
        index = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts)).to(device)  # (R,)
        cache, logits, offset, prefix = self._prefill(inputs, index, grad_prefill)
        if self._fast is not None:
            prompt_mask = inputs["attention_mask"]
            new = self.max_new_tokens
            steps: DecodeSteps = StaticSteps(self._fast, cache, counts, prompt_mask, offset, new)
        else:
            if prefix is not None:  # the kept prefill must stay as it is: decode from a copy
                cache = gathered_cache(cache, torch.arange(len(counts), device=device))
            cache.batch_select_indices(index)
            mask = inputs["attention_mask"][index]  # (R, L)
            steps = DynamicSteps(self.model, self._cache_kw, cache, mask, offset, self._rope is not None)
        active = list(range(len(index)))  # original row of each live row
        tokens: list[list[int]] = [[] for _ in active]
        logps: list[list[float]] = [[] for _ in active]
        for t in range(self.max_new_tokens):
            chosen, chosen_logp = sampler.draw(logits, active)  # (A,), (A,)
            live = []
            for i, (tok, lp) in enumerate(zip(chosen.tolist(), chosen_logp.tolist(), strict=True)):
                tokens[active[i]].append(tok)
                logps[active[i]].append(lp)
                if tok not in self.stop_ids:
                    live.append(i)
            if not live or t == self.max_new_tokens - 1:
                break
            if len(live) < len(active):
                sel = torch.tensor(live, device=device)
                steps.select(sel)
                chosen = chosen[sel]
                active = [active[i] for i in live]
            logits = steps(chosen, t)  # (A, V)
        return tokens, logps, prefix

    @torch.no_grad()
    def generate(
        self, batch: dict[str, torch.Tensor], seeds: list[int] | None = None, greedy: bool = False
    ) -> list[Completion]:
        """One completion per row of an encoded, left-padded batch, through ``model.generate``.

        Kept for callers that hold encoded batches; ``num_return_sequences`` > 1 is what shared prefill
        replaces (see ``scripts/bench_rollout.py``).
        """
        return self.generate_repeated(batch, 1, seeds, greedy)

    @torch.no_grad()
    def generate_repeated(
        self, batch: dict[str, torch.Tensor], n: int, seeds: list[int] | None = None, greedy: bool = False
    ) -> list[Completion]:
        """``model.generate(num_return_sequences=n)``: every row's prompt is prefilled n times."""
        sampler = SeededSampler(seeds, self.temperature, greedy, self.banned_ids)
        # generate refuses n > 1 without sampling; its sampling over the one-hot scores the sampler returns
        # picks the sampler's token with probability 1 (temperature 1, no top-k / top-p).
        config = GenerationConfig(
            do_sample=n > 1,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            max_new_tokens=self.max_new_tokens,
            eos_token_id=self.stop_ids,
            pad_token_id=self.pad_id,
            num_beams=1,
            num_return_sequences=n,
            repetition_penalty=1.0,
        )
        device = next(self.model.parameters()).device
        inputs = {k: v.to(device) for k, v in batch.items()}
        with eval_mode(self.model):
            self.model.generate(
                **inputs, generation_config=config, logits_processor=LogitsProcessorList([sampler])
            )
        tokens = torch.stack(sampler.chosen, dim=1).cpu()  # (B * n, T)
        logps = torch.stack(sampler.logprobs, dim=1).cpu()  # (B * n, T)
        lens = batch["attention_mask"].sum(dim=1).repeat_interleave(n).tolist()
        return [
            self._cut(tokens[i].tolist(), logps[i].tolist(), int(lens[i])) for i in range(tokens.shape[0])
        ]

    def _cut(self, ids: list[int], logps: list[float], prompt_tokens: int = 0) -> Completion:
        for j, t in enumerate(ids):
            if t in self.stop_ids:
                ids, logps = ids[: j + 1], logps[: j + 1]
                body = ids if t in self.kept_stop_ids else ids[:-1]
                text = self.processor.tokenizer.decode(body, skip_special_tokens=False)
                return Completion(ids, logps, text, stopped=True, prompt_tokens=prompt_tokens)
        text = self.processor.tokenizer.decode(ids, skip_special_tokens=False)
        return Completion(ids, logps, text, stopped=False, prompt_tokens=prompt_tokens)


class Policy:
    """The pieces that turn observations into sampled actions."""

    def __init__(self, builder: PromptBuilder, engine: Engine, keep: KeptPrefills | None = None) -> None:
        self.builder = builder
        self.engine = engine
        self.keep = keep
        """Where sampled prompts' prefills go for the loss pass to reuse (the trainer's); None: nowhere."""
        self.family = builder.family
        bind = getattr(engine, "bind", None)
        if bind is not None:
            bind(builder)

    def sample(
        self, prompts: list[Prompt], seeds: list[int], greedy: bool, max_batch: int
    ) -> list[Completion]:
        """One completion per prompt; identical prompts are prefilled once and sampled with their seeds (and
        that prefill kept in ``keep`` when it serves several samples)."""
        keys = [prompt_digest(p) for p in prompts]
        members: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            members.setdefault(k, []).append(i)
        unique = list(members.values())
        out: list[Completion | None] = [None] * len(prompts)
        for chunk in _chunks(unique, max_batch):
            firsts = [prompts[m[0]] for m in chunk]
            counts = [len(m) for m in chunk]
            # Only prompts sampled more than once are worth a prefill kept with gradients.
            row_seeds = [[seeds[i] for i in m] for m in chunk]
            if self.keep is not None and not greedy and min(counts) > 1:
                rows = self.engine.sample(firsts, counts, seeds=row_seeds, greedy=greedy, keep=self.keep)
            else:  # engines that cannot keep a prefill (vLLM, test fakes) are never asked to
                rows = self.engine.sample(firsts, counts, seeds=row_seeds, greedy=greedy)
            for m, comps, first in zip(chunk, rows, firsts, strict=True):
                for i, comp in zip(m, comps, strict=True):
                    prompts[i].model_image_size = first.model_image_size
                    out[i] = comp
        return out  # type: ignore[return-value]


@contextlib.contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    """``model`` in eval mode inside the block, restored after; no mode switch when it is already in eval
    (``Module.train`` walks every submodule: ~2 ms on the tiny model, twice a sampling call)."""
    if not model.training:
        yield
        return
    model.eval()
    try:
        yield
    finally:
        model.train()


def prompt_digest(prompt: Prompt) -> str:
    """A digest of a prompt's text and images: equal digests, equal model inputs."""
    digest = hashlib.sha256(prompt.text.encode())
    for im in prompt.images:
        digest.update(f"{im.mode}{im.size}".encode())
        digest.update(im.tobytes())
    return digest.hexdigest()


def _chunks(groups: list[list[int]], max_rows: int) -> list[list[list[int]]]:
    """Consecutive groups of prompts with at most ``max_rows`` samples each (a larger group goes alone)."""
    out: list[list[list[int]]] = [[]]
    rows = 0
    for g in groups:
        if out[-1] and rows + len(g) > max_rows:
            out.append([])
            rows = 0
        out[-1].append(g)
        rows += len(g)
    return [c for c in out if c]
