"""Sampling engines: shared prefill equals separate prefills; per-row seeds; errors; vLLM when present."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from emulators.phonesim import SimDevice
from gui_grpo.policy.engine import EngineError, HFEngine, Policy
from gui_grpo.policy.logprobs import completion_logprobs, right_aligned
from gui_grpo.policy.model import load_policy
from gui_grpo.policy.prompts import PromptBuilder, PromptConfig

PROMPT = PromptConfig(observation="pixels+elements", action_format="json", max_pixels=28 * 28 * 16)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def setup(tiny_model_dir):
    model, processor, family = load_policy(tiny_model_dir, device="cpu", dtype="float32")
    builder = PromptBuilder(processor, family, PROMPT)
    engine = HFEngine(model, processor, max_new_tokens=12, encode=builder.encode)
    prompts = []
    for i, seed in enumerate((1, 2)):
        device = SimDevice(seed=seed, resolution="small")
        screen = builder.resize(device.screenshot())
        text = "Turn on Wi-Fi" + " please" * i  # different lengths: rows are left-padded differently
        prompts.append(builder.build(text, [screen], [], device.screen_size, device.elements()))
    return engine, builder, prompts


@pytest.fixture
def many_stops(setup):
    """Every third token stops a row, so rows end at different steps and are dropped mid-decode."""
    engine = setup[0]
    saved = engine.stop_ids
    engine.stop_ids = sorted(
        set(range(0, engine.model.config.text_config.vocab_size, 3)) - set(engine.banned_ids)
    )
    yield engine
    engine.stop_ids = saved


SEEDS = [[11, 12, 13, 14], [21, 22, 23, 24]]


def ids(completions):
    return [c.token_ids for c in completions]


def test_shared_prefill_equals_separate_prefills(setup, many_stops):
    engine, _, prompts = setup
    shared = [c for row in engine.sample(prompts, 4, seeds=SEEDS) for c in row]
    separate = [
        engine.sample([p], 1, seeds=[[s]])[0][0] for p, row in zip(prompts, SEEDS, strict=True) for s in row
    ]
    assert ids(shared) == ids(separate)
    assert len({len(c.token_ids) for c in shared}) > 1 and any(c.stopped for c in shared)
    for a, b in zip(shared, separate, strict=True):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-5)
        assert a.prompt_tokens == b.prompt_tokens > 100


def test_shared_prefill_equals_num_return_sequences(setup, many_stops):
    engine, builder, prompts = setup
    for prompt, row in zip(prompts, SEEDS, strict=True):
        shared = engine.sample([prompt], 4, seeds=[row])[0]
        repeated = engine.generate_repeated(builder.encode([prompt]), 4, seeds=row)
        assert ids(shared) == ids(repeated)
        for a, b in zip(shared, repeated, strict=True):
            assert a.logprobs == pytest.approx(b.logprobs, abs=1e-5)


def test_logprobs_are_those_the_loss_recomputes(setup):
    engine, builder, prompts = setup
    comps = [c for row in engine.sample(prompts, [2, 3], seeds=[[1, 2], [3, 4, 5]]) for c in row]
    rows = [prompts[0]] * 2 + [prompts[1]] * 3
    batch = builder.encode(rows, completions=ids(comps))
    with torch.no_grad():
        logp, mask = completion_logprobs(
            engine.model, batch, [len(c.token_ids) for c in comps], engine.temperature, engine.banned_ids
        )
    old = right_aligned([c.logprobs for c in comps], logp.shape[1])
    assert torch.allclose(logp * mask, old * mask, atol=1e-4)


def test_a_sample_depends_only_on_its_seed(setup):
    engine, _, prompts = setup
    one = engine.sample(prompts, 2, seeds=[[7, 8], [9, 10]])
    other = engine.sample(prompts, 2, seeds=[[7, 99], [98, 10]])
    assert one[0][0].token_ids == other[0][0].token_ids and one[1][1].token_ids == other[1][1].token_ids
    assert one[0][1].token_ids != other[0][1].token_ids
    greedy = engine.sample(prompts, 2, greedy=True)
    assert greedy[0][0].token_ids == greedy[0][1].token_ids


def test_policy_merges_identical_prompts_without_changing_samples(setup):
    engine, builder, prompts = setup
    calls = []
    original = engine.sample

    def spy(batch, n=1, **kw):
        calls.append(list(n) if not isinstance(n, int) else n)
        return original(batch, n, **kw)

    engine.sample = spy
    try:
        policy = Policy(builder, engine)
        merged = policy.sample([prompts[0], prompts[1], prompts[0]], [5, 6, 7], False, max_batch=16)
    finally:
        del engine.sample
    assert calls == [[2, 1]]  # prompt 0 twice, prompt 1 once: two prefills for three samples
    assert ids(merged) == [
        engine.sample([p], 1, seeds=[[s]])[0][0].token_ids
        for p, s in zip([prompts[0], prompts[1], prompts[0]], [5, 6, 7], strict=True)
    ]


def test_bad_calls_raise_named_errors(setup, tiny_model_dir):
    engine, _, prompts = setup
    with pytest.raises(EngineError, match="seeds"):
        engine.sample(prompts, 2)
    with pytest.raises(EngineError, match="samples per prompt"):
        engine.sample(prompts, 2, seeds=[[1], [2, 3]])
    with pytest.raises(EngineError, match="n must be"):
        engine.sample(prompts, [1], seeds=[[1]])
    bare = HFEngine(engine.model, engine.processor)
    with pytest.raises(EngineError, match="encoder"):
        bare.sample(prompts[:1], 1, seeds=[[1]])


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed (GPU-only extra)")
def test_vllm_engine_samples_seeded_with_processed_logprobs(tiny_model_dir, setup):
    pytest.importorskip("torch.cuda")
    if not torch.cuda.is_available():
        pytest.skip("vllm needs a CUDA device")
    from gui_grpo.policy.vllm_engine import VLLMEngine

    _, builder, prompts = setup
    engine = VLLMEngine(tiny_model_dir, max_new_tokens=12, enable_lora=False, gpu_memory_utilization=0.3)
    engine.bind(builder)
    a = engine.sample(prompts, 2, seeds=[[1, 2], [3, 4]])
    b = engine.sample(prompts[:1], 1, seeds=[[1]])
    assert a[0][0].token_ids == b[0][0].token_ids
    for c in (c for row in a for c in row):
        assert len(c.logprobs) == len(c.token_ids) > 0 and all(lp <= 0 for lp in c.logprobs)
    hf = HFEngine(*load_policy(tiny_model_dir, device="cuda", dtype="float32")[:2], max_new_tokens=12)
    hf.bind(builder)
    batch = builder.encode([prompts[0]], completions=[a[0][0].token_ids])
    with torch.no_grad():
        logp, _ = completion_logprobs(hf.model, batch, [len(a[0][0].token_ids)], 1.0, hf.banned_ids)
    assert logp[0].cpu().tolist() == pytest.approx(a[0][0].logprobs, abs=2e-2)


def test_sampling_stops_right_after_the_tool_call_and_keeps_it_in_the_text(setup):
    engine = setup[0]
    tok = engine.processor.tokenizer
    closing, im_end = tok.convert_tokens_to_ids("</tool_call>"), tok.convert_tokens_to_ids("<|im_end|>")
    assert {closing, im_end} <= set(engine.stop_ids) and engine.kept_stop_ids == {closing}
    call = tok.encode('<tool_call>\n{"name": "mobile_use", "arguments": {"action": "wait", "time": 1}}\n')
    comp = engine._cut([*call, closing, 5, 6], [-0.1] * (len(call) + 3))
    assert comp.stopped and comp.token_ids == [*call, closing] and comp.text.endswith("</tool_call>")
    done = engine._cut([*call[:3], im_end, 7], [-0.1] * 5)
    assert done.token_ids == [*call[:3], im_end] and "<|im_end|>" not in done.text


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_without_vllm_the_engine_says_how_to_get_it():
    from gui_grpo.policy.vllm_engine import VLLMEngine, VLLMUnavailable

    with pytest.raises(VLLMUnavailable, match=r"gui-grpo\[vllm\]"):
        VLLMEngine("/nonexistent/model")


def test_seeded_sampler_draws_from_the_tempered_distribution_and_never_a_banned_token():
    from gui_grpo.policy.sampler import SeededSampler

    logits = torch.tensor([[2.0, 0.5, -1.0, 1.0, 3.0, 0.0]]).repeat(4000, 1)  # (N, V)
    sampler = SeededSampler(list(range(4000)), temperature=1.5, greedy=False, banned=[4])
    counts = torch.zeros(6)
    for _ in range(5):
        tokens, logps = sampler.draw(logits.clone())
        counts += torch.bincount(tokens, minlength=6)
    expected = torch.softmax(torch.tensor([2.0, 0.5, -1.0, 1.0, float("-inf"), 0.0]) / 1.5, dim=0)
    assert counts[4] == 0
    assert (counts / counts.sum() - expected).abs().max() < 0.01  # 20,000 draws: about 4 standard errors
    assert torch.allclose(logps, expected.log()[tokens])
