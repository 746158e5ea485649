"""The offline tokenizer and chat template of the tiny models.

A byte-level BPE is trained with the ``tokenizers`` library on ``corpus.phone_corpus`` and wrapped in
``Qwen2Tokenizer``, the class every Qwen VL family loads. Its pre-tokenizer is Qwen's own (the split regex
then ``ByteLevel``): the regex isolates every ``\\p{N}`` character, so digits are single tokens, which
makes coordinates easier to learn, and ``Qwen2Tokenizer`` rebuilds exactly this pipeline when it loads
``tokenizer.json``; a ``Digits`` pre-tokenizer would be dropped on reload.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX, Qwen2Tokenizer

from gui_grpo.modeling.corpus import phone_corpus

# Special tokens shared by the Qwen2-VL, Qwen2.5-VL and Qwen3-VL tokenizers, in their released order.
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
# Added but not special: they survive ``decode(skip_special_tokens=True)``, as in the released tokenizers.
PLAIN_ADDED_TOKENS: dict[str, tuple[str, ...]] = {
    "qwen2_vl": ("<tool_call>", "</tool_call>"),
    "qwen2_5_vl": ("<tool_call>", "</tool_call>"),
    "qwen3_vl": ("<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>"),
}

# Compatible with the released Qwen VL templates: string or list content, image/video items (rendered as
# vision_start + pad + vision_end, which the processor expands), optional "Picture N:" ids, tool results
# wrapped in <tool_response>. Qwen2/2.5-VL add a default system message; Qwen3-VL does not.
_CHAT_TEMPLATE = (
    "{%- set image_count = namespace(value=0) -%}"
    "{%- set video_count = namespace(value=0) -%}"
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' and DEFAULT_SYSTEM -%}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- if message['role'] == 'tool' -%}{{- '<|im_start|>user\\n<tool_response>\\n' -}}"
    "{%- else -%}{{- '<|im_start|>' + message['role'] + '\\n' -}}{%- endif -%}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for content in message['content'] -%}"
    "{%- if content['type'] == 'image' or 'image' in content or 'image_url' in content -%}"
    "{%- set image_count.value = image_count.value + 1 -%}"
    "{%- if add_vision_id -%}{{- 'Picture ' + image_count.value|string + ': ' -}}{%- endif -%}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif content['type'] == 'video' or 'video' in content -%}"
    "{%- set video_count.value = video_count.value + 1 -%}"
    "{%- if add_vision_id -%}{{- 'Video ' + video_count.value|string + ': ' -}}{%- endif -%}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' -}}"
    "{%- elif 'text' in content -%}{{- content['text'] -}}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{%- if message['role'] == 'tool' -%}{{- '\\n</tool_response>' -}}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def chat_template(family: str) -> str:
    """The Jinja chat template for ``family`` (``qwen2_vl``, ``qwen2_5_vl`` or ``qwen3_vl``)."""
    default_system = "false" if family == "qwen3_vl" else "true"
    return _CHAT_TEMPLATE.replace("DEFAULT_SYSTEM", default_system)


def _chat_texts() -> Iterable[str]:
    """Role headers, so that chat markup costs few tokens."""
    for role in ("system", "user", "assistant", "tool"):
        yield f"<|im_start|>{role}\n"
    yield "You are a helpful assistant."


def train_bpe(vocab_size: int, seed: int, n_lines: int = 4000) -> Tokenizer:
    """Train a byte-level BPE with Qwen's pre-tokenizer on the phone corpus."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [*phone_corpus(n_lines, seed), *(list(_chat_texts()) * 20)]
    tok.train_from_iterator(corpus, trainer)
    return tok


def build_tokenizer(family: str, *, vocab_size: int = 2048, seed: int = 0) -> Qwen2Tokenizer:
    """A ``Qwen2Tokenizer`` with the family's special tokens and chat template."""
    model = json.loads(train_bpe(vocab_size, seed).to_str())["model"]
    tokenizer = Qwen2Tokenizer(
        vocab=model["vocab"],
        merges=[tuple(pair) for pair in model["merges"]],
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        errors="replace",
        model_max_length=32768,
    )
    tokenizer.add_special_tokens({"extra_special_tokens": list(SPECIAL_TOKENS[1:])})
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in PLAIN_ADDED_TOKENS[family]])
    tokenizer.chat_template = chat_template(family)
    return tokenizer
