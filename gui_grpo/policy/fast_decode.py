"""A lean decode step for Qwen VL language models: shared-prefix attention over a pre-allocated cache.

Sampling spends almost all of a decode step outside arithmetic: ``model.forward`` re-derives masks and
multimodal positions and wraps outputs in dataclasses, ``DynamicCache`` grows every layer's keys and
values with ``torch.cat``, peft runs three matrix products per LoRA projection, and the G samples of a
prompt each read their own copy of the prompt's keys and values. ``StepDecoder`` runs one new text token
per row through the language model's layers with:

- **Shared-prefix ("cascade") attention.** Rows sit in a grid of U prompts × n slots. The prompt's keys
  and values are kept once per prompt, (U, kv_heads, P, d); a step's queries of all n slots of a prompt
  meet them in one product, and each slot's own decoded keys (a pre-allocated buffer, written in place)
  in another; one softmax over both. Reading the prompt's cache once instead of n times is what makes
  a step cheap when G samples share a screenshot-heavy prompt.
- **Merged, fused projections** for small models (under ``MERGE_BELOW`` language-model parameters): each
  layer's LoRA is folded into its weights for the duration of one sampling call, and q/k/v and gate/up
  are one product each. Larger models call their (LoRA-wrapped) projection modules as they are, so no
  second copy of their weights is made.

Positions: a decoded token is text, so its three multimodal rotary positions are equal; each row's is its
prompt's last position + 1 + t, as ``model.forward`` computes it from ``rope_deltas``. The rotary
tables come from the model's own ``rotary_emb``; norms and activations are the model's modules.

``decoder_for(model)`` returns None for a model this path does not cover (no Qwen-style
``language_model`` with ``layers``, ``rotary_emb`` and ``lm_head``, sliding-window layers); the engine then
decodes with ``model.forward``. ``tests/test_fast_decode.py`` checks both give the same tokens and
log-probs for every family, with LoRA on and off, padded prompts and rows that stop early.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
import torch.nn.functional as F

MERGE_BELOW = 100_000_000
"""Language models with fewer parameters decode with LoRA-merged, fused weights (a copy per call)."""


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _effective(linear: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Weight and bias a (possibly LoRA-wrapped) linear layer applies now, adapters as they are set."""
    base = linear.get_base_layer() if hasattr(linear, "get_base_layer") else linear
    weight = base.weight
    if hasattr(linear, "lora_A") and not getattr(linear, "disable_adapters", False) and not linear.merged:
        for name in linear.active_adapters:
            if name in linear.lora_A:
                weight = weight + linear.get_delta_weight(name)
    return weight, base.bias


def _fused(linears: list[Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
    pairs = [_effective(m) for m in linears]
    weight = torch.cat([w for w, _ in pairs])
    biases = [b if b is not None else w.new_zeros(w.shape[0]) for w, b in pairs]
    has_bias = any(b is not None for _, b in pairs)
    return weight, torch.cat(biases) if has_bias else None


class _Projections:
    """One layer's q/k/v, output and MLP products: fused merged weights, or the modules themselves."""

    def __init__(self, layer: Any, merge: bool) -> None:
        self.layer, self.attn, self.mlp = layer, layer.self_attn, layer.mlp
        self.sizes = [
            m.out_features if hasattr(m, "out_features") else m.weight.shape[0]
            for m in (self.attn.q_proj, self.attn.k_proj, self.attn.v_proj)
        ]
        self.merged = None
        if merge:
            a, m = self.attn, self.mlp
            self.merged = (
                _fused([a.q_proj, a.k_proj, a.v_proj]),
                _effective(a.o_proj),
                _fused([m.gate_proj, m.up_proj]),
                _effective(m.down_proj),
            )

    def qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.merged is None:
            return self.attn.q_proj(x), self.attn.k_proj(x), self.attn.v_proj(x)
        return F.linear(x, *self.merged[0]).split(self.sizes, dim=-1)

    def out(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn.o_proj(x) if self.merged is None else F.linear(x, *self.merged[1])

    def ffn(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged is None:
            return self.mlp(x)
        gate, up = F.linear(x, *self.merged[2]).chunk(2, dim=-1)
        return F.linear(self.mlp.act_fn(gate) * up, *self.merged[3])


class PrefixCache:
    """Per layer: each prompt's keys and values once, (U, h, P, d), and each slot's decoded ones,
    (U·n, h, new, d), written in place. ``key_mask`` (U, P) is False at left padding (None: no padding)."""

    def __init__(
        self,
        keys: list[torch.Tensor],
        values: list[torch.Tensor],
        slots: int,
        new: int,
        key_mask: torch.Tensor | None,
    ) -> None:
        self.prefix_k = [k.detach() for k in keys]
        self.prefix_v = [v.detach() for v in values]
        self.prompts, heads, _, dim = keys[0].shape
        self.per_prompt = slots
        self.suffix_k = [k.new_empty(self.prompts * slots, heads, new, dim) for k in keys]
        self.suffix_v = [v.new_empty(self.prompts * slots, heads, new, dim) for v in values]
        self.bias = None  # (U, 1, 1, P): -inf at padding, added to the prompt's scores
        if key_mask is not None:
            bias = torch.zeros(key_mask.shape, dtype=keys[0].dtype, device=keys[0].device)
            self.bias = bias.masked_fill(~key_mask, float("-inf"))[:, None, None, :]
        self.length = 0  # decoded tokens held per slot

    def attend(
        self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float
    ) -> torch.Tensor:
        """Attention of one step: q (S, H, d), new k, v (S, h, d); returns (S, H, d)."""
        u, n, t = self.prompts, self.per_prompt, self.length
        s, heads, dim = k.shape
        groups = q.shape[1] // heads
        self.suffix_k[layer][:, :, t] = k
        self.suffix_v[layer][:, :, t] = v
        qg = q.view(u, n, heads, groups, dim).transpose(1, 2).reshape(u, heads, n * groups, dim)
        prefix_scores = qg @ self.prefix_k[layer].transpose(-1, -2) * scale  # (U, h, n·g, P)
        if self.bias is not None:
            prefix_scores = prefix_scores + self.bias
        p = prefix_scores.shape[-1]
        prefix_scores = (
            prefix_scores.view(u, heads, n, groups, p).transpose(1, 2).reshape(s, heads, groups, p)
        )
        qs = q.view(s, heads, groups, dim)
        own_k, own_v = self.suffix_k[layer][:, :, : t + 1], self.suffix_v[layer][:, :, : t + 1]
        own_scores = qs @ own_k.transpose(-1, -2) * scale  # (S, h, g, t + 1)
        weights = torch.softmax(
            torch.cat([prefix_scores, own_scores], dim=-1), dim=-1
        )  # (S, h, g, P + t + 1)
        wp = weights[..., :p].reshape(u, n, heads, groups, p).transpose(1, 2).reshape(u, heads, n * groups, p)
        from_prefix = (
            (wp @ self.prefix_v[layer]).view(u, heads, n, groups, dim).transpose(1, 2)
        )  # (U, n, h, g, d)
        out = from_prefix.reshape(s, heads, groups, dim) + weights[..., p:] @ own_v  # (S, h, g, d)
        return out.reshape(s, heads * groups, dim)


class StepDecoder:
    """One decode step of a Qwen VL language model on a ``PrefixCache``."""

    def __init__(self, lm: Any, head: Any) -> None:
        self.lm = lm
        self.head = head
        self.merge = sum(p.numel() for p in lm.parameters()) < MERGE_BELOW
        attn = lm.layers[0].self_attn
        self.head_dim = attn.head_dim
        self.scale = attn.scaling

    def projections(self) -> list[_Projections]:
        """The layers' products for one sampling call (merged weights reflect the adapters right now)."""
        with torch.no_grad():
            return [_Projections(layer, self.merge) for layer in self.lm.layers]

    def rope(self, positions: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotary tables (S, T, d) for text ``positions`` (S, T), from the model's own ``rotary_emb``."""
        pos = positions[None].expand(3, -1, -1)  # (3, S, T): text positions agree on all three axes
        return self.lm.rotary_emb(like, pos)

    def __call__(
        self,
        tokens: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        cache: PrefixCache,
        proj: list[_Projections],
    ) -> torch.Tensor:
        """Logits (S, V) after feeding ``tokens`` (S,), one per slot, with this step's rotary tables
        ``rope`` (cos, sin), each (S, d)."""
        h = self.lm.embed_tokens(tokens[:, None])  # (S, 1, H)
        cos, sin = rope[0][:, None, :], rope[1][:, None, :]  # (S, 1, d)
        d = self.head_dim
        for i, (layer, p) in enumerate(zip(self.lm.layers, proj, strict=True)):
            x = layer.input_layernorm(h)[:, 0]  # (S, H)
            q, k, v = p.qkv(x)
            q, k, v = q.view(len(q), -1, d), k.view(len(k), -1, d), v.view(len(v), -1, d)  # (S, heads, d)
            attn = layer.self_attn
            if hasattr(attn, "q_norm"):  # Qwen3: per-head norms before the rotary embedding
                q, k = attn.q_norm(q), attn.k_norm(k)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            out = cache.attend(i, q, k, v, self.scale)  # (S, heads, d)
            h = h + p.out(out.reshape(len(out), 1, -1))
            h = h + p.ffn(layer.post_attention_layernorm(h))
        cache.length += 1
        return self.head(self.lm.norm(h)[:, -1, :])  # (S, V)


def _slots(rows: torch.Tensor, prompts: int) -> tuple[torch.Tensor, int]:
    """Each row's slot in a grid of ``prompts`` × n (n = most rows of one prompt), and n."""
    counts = torch.bincount(rows, minlength=prompts)  # (U,)
    n = int(counts.max())
    firsts = torch.cumsum(counts, 0) - counts  # (U,) first position of each prompt's rows when sorted
    order = torch.argsort(rows, stable=True)
    rank = torch.empty_like(rows)
    rank[order] = torch.arange(len(rows), device=rows.device) - firsts[rows[order]]
    return rows * n + rank, n


def _to_grid(x: torch.Tensor, slot: torch.Tensor, size: int) -> torch.Tensor:
    """Rows of ``x`` placed at their slots of a zero grid of ``size`` rows (differentiable)."""
    return x.new_zeros(size, *x.shape[1:]).index_copy(0, slot, x)


class CascadeLayout:
    """Where B completions of L tokens sit in a grid of U prompts × n slots, and the additive mask of
    their attention, built once per loss pass and shared by every layer.

    Each prompt's queries (all n slots × g query heads per key head × L tokens, as rows) meet one key
    sequence: the prompt's P keys followed by the n·L keys of its slots. The mask (U, 1, n·g·L, P + n·L)
    is 0 where a row may look (the prompt's unpadded keys; its own slot's keys up to its own token) and
    -inf elsewhere; empty slots (prompts with fewer than n completions) are seen by no row.
    """

    def __init__(
        self, rows: torch.Tensor, prompt_mask: torch.Tensor, groups: int, length: int, dtype: torch.dtype
    ) -> None:
        u, p = prompt_mask.shape
        self.slot, self.n = _slots(rows, u)
        b, n = len(rows), self.n
        self.identity = u * n == b and bool((self.slot == torch.arange(b, device=rows.device)).all())
        device = rows.device
        own_slot = torch.eye(n, dtype=torch.bool, device=device)  # query slot × key slot
        causal = torch.ones(length, length, dtype=torch.bool, device=device).tril()  # query × key token
        seen = own_slot[:, None, None, :, None] & causal[None, None, :, None, :]  # (n, 1, L, n, L)
        seen = seen.expand(n, groups, length, n, length).reshape(n * groups * length, n * length)
        own = torch.zeros(seen.shape, dtype=dtype, device=device).masked_fill(~seen, float("-inf"))
        prefix = torch.zeros(u, p, dtype=dtype, device=device).masked_fill(prompt_mask == 0, float("-inf"))
        queries = n * groups * length
        self.mask = torch.cat(
            [prefix[:, None, None, :].expand(u, 1, queries, p), own.expand(u, 1, queries, n * length)], dim=-1
        )  # (U, 1, n·g·L, P + n·L)

    def grid(self, x: torch.Tensor) -> torch.Tensor:
        """(B, ...) rows at their slots of a (U·n, ...) grid (zeros in empty slots), differentiable."""
        return x if self.identity else _to_grid(x, self.slot, self.mask.shape[0] * self.n)

    def rows(self, x: torch.Tensor) -> torch.Tensor:
        """(U·n, ...) grid back to the B completions' order."""
        return x if self.identity else x.index_select(0, self.slot)


def cascade_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    prefix_k: torch.Tensor,
    prefix_v: torch.Tensor,
    layout: CascadeLayout,
    scale: float,
) -> torch.Tensor:
    """Attention of B completions of L tokens, each after its prompt, differentiable throughout.

    q (B, L, H, d) and k, v (B, L, h, d) of the completions; prefix_k, prefix_v (U, h, P, d) of the
    prompts, each held once (still on the autograd graph). Per prompt and key head, one product of all
    its slots' queries with [prompt keys; slots' keys], the layout's mask, one softmax and one product
    with the values: the large (rows × keys) tensors are written only by the product and the softmax.
    Returns (B, L, H, d).
    """
    b, length, nq, d = q.shape
    u, nk = prefix_k.shape[0], prefix_k.shape[1]
    g, n = nq // nk, layout.n
    qg = layout.grid(q * scale).view(u, n, length, nk, g, d).permute(0, 3, 1, 4, 2, 5)
    qg = qg.reshape(u, nk, n * g * length, d)  # rows ordered (slot, group, token)
    kg = layout.grid(k).view(u, n, length, nk, d).permute(0, 3, 1, 2, 4).reshape(u, nk, n * length, d)
    vg = layout.grid(v).view(u, n, length, nk, d).permute(0, 3, 1, 2, 4).reshape(u, nk, n * length, d)
    keys = torch.cat([prefix_k, kg], dim=2)  # (U, h, P + n·L, d)
    values = torch.cat([prefix_v, vg], dim=2)
    scores = (qg @ keys.transpose(-1, -2)).add_(layout.mask)  # (U, h, n·g·L, P + n·L)
    out = torch.softmax(scores, dim=-1) @ values  # (U, h, n·g·L, d)
    out = out.view(u, nk, n, g, length, d).permute(0, 2, 4, 1, 3, 5).reshape(u * n, length, nq, d)
    return layout.rows(out)


def completion_logits(
    decoder: StepDecoder,
    prefix_k: list[torch.Tensor],
    prefix_v: list[torch.Tensor],
    prompt_mask: torch.Tensor,
    rows: torch.Tensor,
    ids: torch.Tensor,
    positions: torch.Tensor,
) -> torch.Tensor:
    """Logits (B, L, V) of completions ``ids`` (B, L) at text ``positions`` (B, L), each after prompt
    ``rows[i]`` whose per-layer keys and values (U, h, P, d) the prefill left; with gradients through
    the LoRA layers (called as modules) and into the prefill. ``prompt_mask`` (U, P) is 0 at padding."""
    lm, d = decoder.lm, decoder.head_dim
    b, length = ids.shape
    groups = lm.layers[0].self_attn.num_key_value_groups  # query heads per key head
    layout = CascadeLayout(rows, prompt_mask, groups, length, prefix_k[0].dtype)
    h = lm.embed_tokens(ids)  # (B, L, H)
    cos, sin = lm.rotary_emb(h, positions[None].expand(3, -1, -1))  # (B, L, d) each
    cos, sin = cos[:, :, None, :], sin[:, :, None, :]  # (B, L, 1, d)
    for i, layer in enumerate(lm.layers):
        attn = layer.self_attn
        x = layer.input_layernorm(h)
        q = attn.q_proj(x).view(b, length, -1, d)
        k = attn.k_proj(x).view(b, length, -1, d)
        v = attn.v_proj(x).view(b, length, -1, d)
        if hasattr(attn, "q_norm"):  # Qwen3: per-head norms before the rotary embedding
            q, k = attn.q_norm(q), attn.k_norm(k)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        out = cascade_attention(q, k, v, prefix_k[i], prefix_v[i], layout, decoder.scale)
        h = h + attn.o_proj(out.reshape(b, length, -1))
        h = h + layer.mlp(layer.post_attention_layernorm(h))
    return decoder.head(lm.norm(h))  # (B, L, V)


_DECODERS: weakref.WeakKeyDictionary[Any, StepDecoder | None] = weakref.WeakKeyDictionary()


def decoder_for(model: Any) -> StepDecoder | None:
    """The lean decode step for ``model``, or None when its architecture is not one this path covers.

    Looked up once per model: every prefill and every loss micro-batch asks, and building one counts
    the language model's parameters."""
    if model not in _DECODERS:
        _DECODERS[model] = _build_decoder(model)
    return _DECODERS[model]


def _build_decoder(model: Any) -> StepDecoder | None:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    lm = getattr(getattr(base, "model", None), "language_model", None)
    head = getattr(base, "lm_head", None)
    needed = ("embed_tokens", "layers", "norm", "rotary_emb")
    if lm is None or head is None or not all(hasattr(lm, a) for a in needed):
        return None
    config = getattr(lm, "config", None)
    if any(t != "full_attention" for t in getattr(config, "layer_types", None) or ["full_attention"]):
        return None
    layer = lm.layers[0]
    parts = ("input_layernorm", "post_attention_layernorm", "self_attn", "mlp")
    if not all(hasattr(layer, a) for a in parts) or not hasattr(layer.self_attn, "scaling"):
        return None
    return StepDecoder(lm, head)


def prefill_kv(cache: Any) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per-layer keys and values (U, h, P, d) of a prefill's ``DynamicCache``."""
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return [layer.keys for layer in layers], [layer.values for layer in layers]
    return list(cache.key_cache), list(cache.value_cache)


class last_layer_keys_only:  # noqa: N801 - a context manager, used like a function
    """While active, the language model's last layer computes keys and values for every prompt token
    (they go to the cache) but attention and MLP only for the last token, the one whose logits the
    prefill keeps. The other positions' outputs of that layer are never read (``logits_to_keep=1``, no
    hidden states asked for), so skipping them changes neither the cache, nor the logits, nor any
    gradient; it saves most of a layer's forward and backward over the prompt."""

    def __init__(self, model: Any) -> None:
        self.decoder = decoder_for(model)
        self.layer = self.decoder.lm.layers[-1] if self.decoder is not None else None

    def __enter__(self) -> None:
        if self.layer is not None:
            self.layer.forward = self._forward  # instance attribute: shadows the class's forward

    def __exit__(self, *exc: object) -> None:
        if self.layer is not None:
            del self.layer.forward

    def _forward(self, hidden_states: torch.Tensor, attention_mask: Any = None, *args: Any, **kwargs: Any):
        layer, d = self.layer, self.decoder.head_dim
        attn = layer.self_attn
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        cos, sin = kwargs["position_embeddings"]  # (U, P, d) each
        b, p, _ = hidden_states.shape
        x = layer.input_layernorm(hidden_states)  # (U, P, H)
        k = attn.k_proj(x).view(b, p, -1, d)
        v = attn.v_proj(x).view(b, p, -1, d)
        q = attn.q_proj(x[:, -1:]).view(b, 1, -1, d)
        if hasattr(attn, "q_norm"):
            q, k = attn.q_norm(q), attn.k_norm(k)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (U, heads, T, d)
        c, s = cos[:, None], sin[:, None]  # (U, 1, P, d)
        q = q * c[:, :, -1:] + _rotate_half(q) * s[:, :, -1:]
        k = k * c + _rotate_half(k) * s
        if cache is not None:
            k, v = cache.update(k, v, attn.layer_idx)
        mask = attention_mask[:, :, -1:, :] if isinstance(attention_mask, torch.Tensor) else None
        groups = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=attn.scaling)  # (U, H, 1, d)
        last = hidden_states[:, -1:] + attn.o_proj(out.transpose(1, 2).reshape(b, 1, -1))
        last = last + layer.mlp(layer.post_attention_layernorm(last))
        return torch.cat([hidden_states[:, :-1], last], dim=1)
