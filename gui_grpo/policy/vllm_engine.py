"""vLLM sampling engine (GPU): the ``Engine`` interface over ``vllm.LLM`` with LoRA hot-loading.

- One request per sample, each with its own ``SamplingParams(seed=...)``, so an episode's sample depends on
  its seed as with ``HFEngine``; automatic prefix caching (multimodal-aware) lets the n requests of one
  prompt share its prefill.
- Images go in as ``multi_modal_data`` already resized by ``PromptBuilder.resize`` (sides multiples of the
  family's factor, inside its pixel bounds), so vLLM's processor leaves them as they are and the size the
  model saw is the image size.
- ``logprobs_mode="processed_logprobs"``: log-probs after the sampling transforms, temperature included,
  i.e. of the distribution sampled from (vLLM's default, ``raw_logprobs``, is before temperature). Training
  samples with top_p = 1 and top_k off, so no truncation enters them. vLLM's kernels still differ
  numerically from the trainer's forward pass: give these log-probs to the loss as ``engine_logp`` and set
  ``LossConfig.importance_sampling_cap`` (truncated importance sampling).
- ``load_adapter(path)`` after each optimizer step: the next calls sample from that adapter, registered
  as a ``LoRARequest`` with a fresh integer id (vLLM caches adapters by id).
- Vision placeholder tokens get a -100 logit bias (never sampled; ``HFEngine`` masks them outright).

vLLM is imported when a ``VLLMEngine`` is built, never at module import; see docs/VLLM.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gui_grpo.policy.engine import (
    Completion,
    EngineError,
    check_seeds,
    sample_counts,
    stop_tokens,
    vision_tokens,
)

if TYPE_CHECKING:
    from gui_grpo.policy.prompts import Prompt, PromptBuilder
    from gui_grpo.policy.shared_prefix import KeptPrefills


class VLLMUnavailable(EngineError):
    """vLLM is not installed (or cannot start here)."""


def import_vllm() -> Any:
    """The ``vllm`` module, or ``VLLMUnavailable`` saying how to get it."""
    try:
        import vllm
    except ImportError as e:
        raise VLLMUnavailable(
            "the vllm engine needs vLLM on a CUDA machine: pip install 'gui-grpo[vllm]' (see docs/VLLM.md)"
        ) from e
    return vllm


class VLLMEngine:
    """Samples with ``vllm.LLM``; LoRA adapters are loaded per step with ``load_adapter``."""

    def __init__(
        self,
        model_path: str,
        *,
        max_new_tokens: int = 96,
        temperature: float = 1.0,
        enable_lora: bool = True,
        max_lora_rank: int = 64,
        max_images: int = 1,
        gpu_memory_utilization: float = 0.5,
        max_model_len: int | None = None,
        dtype: str = "auto",
        llm_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if temperature <= 0:
            raise ValueError("temperature must be > 0; use greedy=True for deterministic decoding")
        vllm = import_vllm()
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.enable_lora = enable_lora
        self.builder: PromptBuilder | None = None
        kwargs: dict[str, Any] = dict(
            model=model_path,
            dtype=dtype,
            enable_lora=enable_lora,
            logprobs_mode="processed_logprobs",
            enable_prefix_caching=True,
            gpu_memory_utilization=gpu_memory_utilization,
            limit_mm_per_prompt={"image": max_images},
            seed=0,
        )
        if enable_lora:
            kwargs["max_lora_rank"] = max_lora_rank
        if max_model_len is not None:
            kwargs["max_model_len"] = max_model_len
        kwargs.update(llm_kwargs or {})
        self.llm = vllm.LLM(**kwargs)
        self._vllm = vllm
        tok = self.llm.get_tokenizer()
        self.stop_ids, self.kept_stop_ids = stop_tokens(tok)
        self.banned_ids = vision_tokens(tok)
        self.tokenizer = tok
        self.lora_request: Any | None = None
        self._next_lora_id = 1

    def bind(self, builder: PromptBuilder) -> None:
        self.builder = builder

    def load_adapter(self, path: str) -> int:
        """Sample from the LoRA adapter saved at ``path`` from now on; return its vLLM id."""
        if not self.enable_lora:
            raise EngineError("this VLLMEngine was built with enable_lora=False")
        from vllm.lora.request import LoRARequest

        lora_id = self._next_lora_id
        self._next_lora_id += 1
        self.lora_request = LoRARequest(f"policy-{lora_id}", lora_id, str(path))
        return lora_id

    def _params(self, seed: int | None, greedy: bool) -> Any:
        return self._vllm.SamplingParams(
            n=1,
            temperature=0.0 if greedy else self.temperature,
            top_p=1.0,
            top_k=-1,
            max_tokens=self.max_new_tokens,
            seed=seed,
            logprobs=0,  # the sampled token's log-prob only
            stop_token_ids=self.stop_ids,
            logit_bias={i: -100.0 for i in self.banned_ids} or None,
            skip_special_tokens=False,
        )

    def sample(
        self,
        prompts: Sequence[Prompt],
        n: int | Sequence[int] = 1,
        *,
        seeds: Sequence[Sequence[int]] | None = None,
        greedy: bool = False,
        keep: KeptPrefills | None = None,
    ) -> list[list[Completion]]:
        """``n`` completions per prompt, one seeded request each (no prefill to ``keep``)."""
        if keep is not None:
            raise EngineError("VLLMEngine cannot keep a prefill for the loss pass (optim.reuse_prefill)")
        counts = sample_counts(n, len(prompts))
        flat_seeds = check_seeds(seeds, counts, greedy)
        requests, params = [], []
        row = 0
        for prompt, c in zip(prompts, counts, strict=True):
            self._check_budget(prompt)
            prompt.model_image_size = prompt.images[-1].size
            request = {"prompt": prompt.text, "multi_modal_data": {"image": list(prompt.images)}}
            for _ in range(c):
                requests.append(request)
                params.append(self._params(None if flat_seeds is None else flat_seeds[row] % (2**63), greedy))
                row += 1
        outputs = self.llm.generate(requests, params, lora_request=self.lora_request, use_tqdm=False)
        flat = [self._completion(o) for o in outputs]
        out, i = [], 0
        for c in counts:
            out.append(flat[i : i + c])
            i += c
        return out

    def _check_budget(self, prompt: Prompt) -> None:
        if self.builder is None:
            return
        from gui_grpo.policy.prompts import PromptTooLong

        budget = self.builder.cfg.max_prompt_tokens
        text_tokens = len(self.tokenizer(prompt.text)["input_ids"])
        factor = self.builder.patch_size * 2  # merge 2: one visual token per factor × factor pixels
        visual = sum((im.size[0] // factor) * (im.size[1] // factor) for im in prompt.images)
        if text_tokens + visual > budget:
            raise PromptTooLong(
                f"a prompt has about {text_tokens + visual} tokens; the budget is {budget}. "
                "Lower max_pixels or screenshots, or raise max_prompt_tokens."
            )

    def _completion(self, output: Any) -> Completion:
        sample = output.outputs[0]
        ids = list(sample.token_ids)
        logps = [float(step[t].logprob) for step, t in zip(sample.logprobs or [], ids, strict=False)]
        if len(logps) != len(ids):
            raise EngineError(f"vLLM returned {len(logps)} log-probs for {len(ids)} tokens")
        stopped = sample.finish_reason == "stop"
        cut = stopped and ids and ids[-1] in self.stop_ids and ids[-1] not in self.kept_stop_ids
        body = ids[:-1] if cut else ids
        text = self.tokenizer.decode(body, skip_special_tokens=False)
        return Completion(ids, logps, text, stopped=stopped, prompt_tokens=len(output.prompt_token_ids or []))
