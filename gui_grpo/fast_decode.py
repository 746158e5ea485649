"""A lean decode step for Qwen VL language models: the model's own layers over a pre-allocated KV cache.

Sampling spends almost all of a decode step outside arithmetic: ``model.forward`` re-derives masks and
multimodal positions, wraps outputs in dataclasses, and ``DynamicCache`` grows every layer's keys and
values with ``torch.cat`` (a full copy of the cache per token). For one new text token per row none of
that is needed. ``StepDecoder`` calls the language model's own modules directly — ``embed_tokens``,
``rotary_emb``, each decoder layer (so LoRA layers and ``disable_adapter`` behave as in a full forward),
``norm`` and ``lm_head`` — with ``StaticKV``, a cache that writes each new key and value in place into
buffers sized for the whole completion.

Positions: a decoded token is text, so its three multimodal rotary positions (temporal, height, width)
are equal; each row's is its prompt's last position + 1 + t, exactly as ``model.forward`` computes it
from ``rope_deltas``. Rows that were left-padded get a boolean key mask; unpadded batches get none.

``decoder_for(model)`` returns None for a model this path does not cover (no Qwen-style
``language_model`` with ``layers``, ``rotary_emb`` and ``lm_head``, or sliding-window layers); the engine then
decodes with ``model.forward``. ``tests/test_engine.py`` checks both paths give the same tokens and log-probs.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch


class StaticKV:
    """Keys and values per layer in buffers of ``(R, kv_heads, P + new, head_dim)``, filled in place."""

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor], index: torch.Tensor, new: int):
        self.length = keys[0].shape[2]  # tokens held so far (prompt, then decoded ones)
        self.keys, self.values = [], []
        for k, v in zip(keys, values, strict=True):
            rows, heads, length, dim = index.numel(), k.shape[1], k.shape[2], k.shape[3]
            kb = k.new_empty(rows, heads, length + new, dim)  # (R, h, P + new, d)
            vb = v.new_empty(rows, heads, length + new, dim)
            kb[:, :, :length] = k[index]
            vb[:, :, :length] = v[index]
            self.keys.append(kb)
            self.values.append(vb)

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write one step's keys and values (R, h, 1, d) and return everything held, new token included."""
        n = self.length + key_states.shape[2]
        self.keys[layer_idx][:, :, self.length : n] = key_states
        self.values[layer_idx][:, :, self.length : n] = value_states
        return self.keys[layer_idx][:, :, :n], self.values[layer_idx][:, :, :n]

    def advance(self, steps: int = 1) -> None:
        self.length += steps

    def select(self, rows: torch.Tensor) -> None:
        """Keep only ``rows`` (finished samples leave the batch)."""
        self.keys = [k[rows] for k in self.keys]
        self.values = [v[rows] for v in self.values]


class StepDecoder:
    """One decode step of a Qwen VL language model on a ``StaticKV``."""

    def __init__(self, model: Any, lm: Any, head: Any) -> None:
        self.model = model
        self.lm = lm
        self.head = head
        params = inspect.signature(type(lm.layers[0]).forward).parameters
        self.cache_kw = "cache" if "cache" in params else "past_key_values"

    def __call__(
        self, tokens: torch.Tensor, positions: torch.Tensor, cache: StaticKV, key_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Logits (R, V) after feeding ``tokens`` (R,) at ``positions`` (R,); ``key_mask`` (R, P + new) is
        True at keys that may be attended to (None: all of them)."""
        h = self.lm.embed_tokens(tokens[:, None])  # (R, 1, H)
        pos = positions.view(1, -1, 1).expand(3, -1, -1)  # (3, R, 1): text positions agree on all axes
        rope = self.lm.rotary_emb(h, pos)
        mask = None
        if key_mask is not None:
            mask = key_mask[:, None, None, : cache.length + 1]  # (R, 1, 1, L + 1)
        for layer in self.lm.layers:
            h = layer(
                h,
                attention_mask=mask,
                position_ids=None,
                use_cache=True,
                position_embeddings=rope,
                **{self.cache_kw: cache},
            )
        cache.advance()
        h = self.lm.norm(h)
        return self.head(h[:, -1, :])  # (R, V)


def decoder_for(model: Any) -> StepDecoder | None:
    """The lean decode step for ``model``, or None when its architecture is not one this path covers."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    lm = getattr(getattr(base, "model", None), "language_model", None)
    head = getattr(base, "lm_head", None)
    needed = ("embed_tokens", "layers", "norm", "rotary_emb")
    if lm is None or head is None or not all(hasattr(lm, a) for a in needed):
        return None
    config = getattr(lm, "config", None)
    if any(t != "full_attention" for t in getattr(config, "layer_types", None) or ["full_attention"]):
        return None
    if getattr(config, "_attn_implementation", "sdpa") not in ("sdpa", "eager"):
        return None
    return StepDecoder(model, lm, head)


def prefill_kv(cache: Any) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per-layer keys and values (U, h, P, d) of a prefill's ``DynamicCache``."""
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return [layer.keys for layer in layers], [layer.values for layer in layers]
    return list(cache.key_cache), list(cache.value_cache)
