"""The policy loss against slow direct computations and REINFORCE; the configs and advantages it uses."""

import dataclasses
import math
import statistics

import pytest
import torch

from gui_grpo.grpo import (
    PRESETS,
    ConfigError,
    GRPOInputError,
    LossConfig,
    group_advantages,
    loss_normalizer,
    policy_loss,
    preset,
    zero_std_groups,
)

F64 = torch.float64
B, T = 4, 5
C = B * T  # dr_grpo's constant normaliser: completions x max completion length
MASK = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 0]])
LOGP = torch.tensor(dtype=F64, data=[
    [-0.5, -1.2, -0.1, -2.0, -0.7],
    [-0.3, -0.9, -1.5, 9e3, 9e3],          # padding holds garbage
    [-1.1, 9e3, 9e3, 9e3, 9e3],
    [-0.2, -0.4, -2.5, -0.05, 9e3],
])
# log pi - log pi_old per token: some inside the 0.2 clip range, some outside on either side.
DELTA = torch.tensor(dtype=F64, data=[
    [0.05, -0.30, 0.25, 0.10, -0.05],
    [0.40, 0.01, -0.15, 0.0, 0.0],
    [-0.50, 0.0, 0.0, 0.0, 0.0],
    [1e-4, -2e-4, 3e-4, 1e-4, 0.0],        # tiny: inside even GSPO's clip range
])
REF_DELTA = torch.tensor(dtype=F64, data=[
    [0.3, -0.2, 0.1, 0.0, 0.4],
    [-0.6, 0.2, 0.05, 0.0, 0.0],
    [0.25, 0.0, 0.0, 0.0, 0.0],
    [0.1, 0.1, -0.3, 0.2, 0.0],
])
# log pi_old - log pi_engine: some beyond log(2), to hit the cap of 2.
ENGINE_DELTA = torch.tensor(dtype=F64, data=[
    [0.9, -0.1, 0.0, 0.2, 0.0],
    [0.05, 1.5, -0.2, 0.0, 0.0],
    [0.0, 0.0, 0.0, 0.0, 0.0],
    [-0.3, 0.8, 0.1, 0.0, 0.0],
])
ADV = torch.tensor([1.0, -1.0, 0.5, -0.25], dtype=F64)
WEIGHTS = torch.tensor([0.2, 0.2, 1.0, 0.5], dtype=F64)


@pytest.fixture(autouse=True)
def float64():
    """Doubles inside these tests only, so that GSPO's 3e-4 clip range is far above rounding error."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(F64)
    yield
    torch.set_default_dtype(previous)


def config(name: str, **overrides) -> LossConfig:
    if name == "dr_grpo":
        overrides.setdefault("constant_normalizer", C)
    return preset(name, **overrides)


def garbage_padded(x: torch.Tensor, value: float) -> torch.Tensor:
    return torch.where(MASK.bool(), x, torch.full_like(x, value))


def slow_loss(logp, old, adv, mask, cfg, ref=None, weights=None, engine=None):
    """The loss written out with Python loops over samples and tokens, straight from the formulas."""
    numerator, denominator = 0.0, 0.0
    for i in range(logp.shape[0]):
        tokens = [t for t in range(logp.shape[1]) if mask[i, t]]
        w = 1.0 if weights is None else float(weights[i])
        seq_log_ratio = sum(logp[i, t] - old[i, t] for t in tokens) / len(tokens)
        seq_engine_log_ratio = sum(float(old[i, t] - engine[i, t]) for t in tokens) / len(tokens) if (
            engine is not None) else 0.0
        terms = []
        for t in tokens:
            log_ratio = seq_log_ratio if cfg.ratio_level == "sequence" else logp[i, t] - old[i, t]
            ratio = torch.exp(log_ratio)
            clipped = torch.clamp(ratio, 1 - cfg.eps_low, 1 + cfg.eps_high)
            term = torch.maximum(-adv[i] * ratio, -adv[i] * clipped)
            if engine is not None:
                token_is_log = float(old[i, t] - engine[i, t])
                is_log = seq_engine_log_ratio if cfg.ratio_level == "sequence" else token_is_log
                term = term * min(math.exp(is_log), cfg.importance_sampling_cap)
            if cfg.beta > 0:
                d = ref[i, t] - logp[i, t]
                term = term + cfg.beta * (torch.exp(d) - d - 1)
            terms.append(term)
        if cfg.aggregation == "sequence_mean":
            numerator, denominator = numerator + w * sum(terms) / len(tokens), denominator + w
        elif cfg.aggregation == "token_mean":
            numerator, denominator = numerator + w * sum(terms), denominator + w * len(tokens)
        else:
            numerator, denominator = numerator + w * sum(terms), cfg.constant_normalizer
    return numerator / denominator


@pytest.mark.parametrize("extra", ["plain", "weighted", "kl", "truncated_is"])
@pytest.mark.parametrize("name", PRESETS)
def test_preset_matches_slow_loop(name, extra):
    cfg = config(name, beta=0.04 if extra == "kl" else 0.0,
                 importance_sampling_cap=2.0 if extra == "truncated_is" else None)
    old = garbage_padded(LOGP - DELTA, -math.inf)
    ref = garbage_padded(LOGP + REF_DELTA, math.inf) if extra == "kl" else None
    engine = garbage_padded(old - ENGINE_DELTA, math.nan) if extra == "truncated_is" else None
    weights = WEIGHTS if extra == "weighted" else None

    logp_fast = LOGP.clone().requires_grad_()
    loss, metrics = policy_loss(logp_fast, old, ADV, MASK, cfg, ref_logp=ref, step_weights=weights,
                                engine_logp=engine)
    loss.backward()
    logp_slow = LOGP.clone().requires_grad_()
    expected = slow_loss(logp_slow, old, ADV, MASK, cfg, ref=ref, weights=weights, engine=engine)
    expected.backward()

    assert torch.isfinite(loss)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(logp_fast.grad, logp_slow.grad)
    assert torch.all(logp_fast.grad[~MASK.bool()] == 0)
    assert set(metrics) >= {"clip_frac_low", "clip_frac_high", "approx_kl", "ratio_mean"}
    assert ("kl_ref" in metrics) == (ref is not None)


def _loop_group_advantages(rewards, groups, scale, eps=1e-4):
    out = []
    for i, r in enumerate(rewards):
        members = [rewards[j] for j in range(len(rewards)) if groups[j] == groups[i]]
        centered = r - statistics.mean(members)
        if scale == "none":
            out.append(centered)
        elif scale == "batch":
            out.append(centered / (statistics.stdev(rewards) + eps))
        else:
            std = statistics.stdev(members) if len(members) > 1 else 0.0
            out.append(centered / (std + eps))
    return out


@pytest.mark.parametrize("name", PRESETS)
def test_on_policy_gradient_is_reinforce_with_group_baseline(name):
    """One pass with old_logp = logp: the gradient is -sum_i A_i c_i sum_t grad log pi(a_it), with c_i the
    aggregation's normalisation, computed here analytically for a softmax policy over a (T, V) logit table."""
    cfg = config(name)
    V = 3
    theta = torch.tensor([[0.2, -0.4, 0.1], [1.0, 0.0, -1.0], [-0.3, 0.3, 0.6], [0.5, 0.5, -0.2],
                          [0.0, 0.9, 0.1]], requires_grad=True)                     # (T, V)
    actions = torch.tensor([[0, 1, 2, 0, 1], [2, 2, 0, 0, 0], [1, 0, 0, 0, 0], [0, 1, 1, 2, 0]])  # (B, T)
    groups = [0, 0, 1, 1]
    rewards = [1.0, 0.0, 0.3, 0.9]
    advantages = torch.tensor(_loop_group_advantages(rewards, groups, cfg.scale_std))
    logp = torch.log_softmax(theta, dim=-1)[torch.arange(T), actions]              # (B, T)
    loss, metrics = policy_loss(logp, logp.detach(), advantages, MASK, cfg)
    loss.backward()

    probs = torch.softmax(theta.detach(), dim=-1)
    lengths = MASK.sum(dim=1).tolist()
    expected = torch.zeros_like(theta)
    for i in range(B):
        c = {"sequence_mean": 1 / (B * lengths[i]), "token_mean": 1 / sum(lengths),
             "constant": 1 / C}[cfg.aggregation]
        for t in range(lengths[i]):
            grad_log_pi = torch.nn.functional.one_hot(actions[i, t], V) - probs[t]
            expected[t] -= advantages[i] * c * grad_log_pi
    torch.testing.assert_close(theta.grad, expected)
    assert metrics["ratio_mean"] == pytest.approx(1.0)
    assert metrics["clip_frac_low"] == metrics["clip_frac_high"] == 0.0
    assert metrics["approx_kl"] == pytest.approx(0.0)


@pytest.mark.parametrize("advantage", [1.0, -1.0])
@pytest.mark.parametrize("name", PRESETS)
def test_clip_engages_only_beyond_eps(name, advantage):
    cfg = config(name, **({"constant_normalizer": 1} if name == "dr_grpo" else {}))  # one token
    lo, hi = cfg.eps_low, cfg.eps_high
    for ratio in [1 - 1.5 * lo, 1 - 0.5 * lo, 1.0, 1 + 0.5 * hi, 1 + 1.5 * hi]:
        logp = torch.tensor([[math.log(ratio)]], requires_grad=True)
        loss, metrics = policy_loss(logp, torch.zeros(1, 1), torch.tensor([advantage]), torch.ones(1, 1), cfg)
        loss.backward()
        clipped = (advantage > 0 and ratio > 1 + cfg.eps_high) or (advantage < 0 and ratio < 1 - cfg.eps_low)
        # Unclipped: d(-A * ratio)/d logp = -A * ratio. Clipped: the gradient stops.
        assert logp.grad.item() == pytest.approx(0.0 if clipped else -advantage * ratio)
        assert metrics["clip_frac_high" if advantage > 0 else "clip_frac_low"] == float(clipped)
        assert loss.item() == pytest.approx(-advantage * min(max(ratio, 1 - cfg.eps_low), 1 + cfg.eps_high)
                                            if clipped else -advantage * ratio)


def test_gspo_ratio_is_the_geometric_mean_of_token_ratios():
    cfg = config("gspo")
    logp = LOGP.clone().requires_grad_()
    old = LOGP - DELTA
    adv = torch.tensor([0.0, 0.0, 0.0, 2.0])  # only row 3 (tiny deltas, unclipped) contributes
    loss, metrics = policy_loss(logp, old, adv, MASK, cfg)
    loss.backward()
    n = int(MASK[3].sum())
    token_ratios = [math.exp(DELTA[3, t].item()) for t in range(n)]
    geometric = math.prod(token_ratios) ** (1 / n)
    assert loss.item() == pytest.approx(-2.0 * geometric / B)
    # d/d logp_t of exp(mean_t log-ratio) is ratio / n for each of the row's tokens.
    torch.testing.assert_close(logp.grad[3, :n], torch.full((n,), -2.0 * geometric / (n * B)))
    seq_ratios = [math.exp(DELTA[i, : int(MASK[i].sum())].mean().item()) for i in range(B)]
    token_weighted = sum(r * int(MASK[i].sum()) for i, r in enumerate(seq_ratios)) / int(MASK.sum())
    assert metrics["ratio_mean"] == pytest.approx(token_weighted)


@pytest.mark.parametrize("name", PRESETS)
def test_kl_term_value_and_zero_at_reference(name):
    cfg = config(name, beta=0.1)
    ref = LOGP + REF_DELTA
    logp = LOGP.clone().requires_grad_()
    loss, metrics = policy_loss(logp, LOGP - DELTA, torch.zeros(B), MASK, cfg, ref_logp=ref)
    k3 = torch.exp(REF_DELTA) - REF_DELTA - 1                                       # (B, T)
    m = MASK.double()
    assert torch.all(k3 >= 0)
    aggregated = {"sequence_mean": ((k3 * m).sum(1) / m.sum(1)).mean(),
                  "token_mean": (k3 * m).sum() / m.sum(),
                  "constant": (k3 * m).sum() / C}[cfg.aggregation]
    assert loss.item() == pytest.approx(0.1 * aggregated.item())
    assert metrics["kl_ref"] == pytest.approx(((k3 * m).sum() / m.sum()).item())

    logp = LOGP.clone().requires_grad_()
    loss, metrics = policy_loss(logp, LOGP, torch.zeros(B), MASK, cfg, ref_logp=LOGP)
    loss.backward()
    assert loss.item() == 0.0 and metrics["kl_ref"] == 0.0
    assert torch.all(logp.grad == 0)


@pytest.mark.parametrize("name", PRESETS)
def test_masking_ignores_padded_positions(name):
    cfg = config(name, beta=0.04, importance_sampling_cap=2.0)
    results = []
    for pad in [0.0, 1e4, -math.inf, math.nan]:
        logp = garbage_padded(LOGP, 0.0 if math.isnan(pad) or math.isinf(pad) else -pad).requires_grad_()
        old, ref, engine = (garbage_padded(x, pad) for x in (LOGP - DELTA, LOGP + REF_DELTA, LOGP))
        loss, metrics = policy_loss(logp, old, ADV, MASK.bool(), cfg, ref_logp=ref, engine_logp=engine)
        loss.backward()
        assert torch.isfinite(loss) and torch.all(torch.isfinite(logp.grad))
        assert torch.all(logp.grad[~MASK.bool()] == 0)
        results.append((loss.detach(), logp.grad, metrics))
    for loss, grad, metrics in results[1:]:
        torch.testing.assert_close(loss, results[0][0])
        torch.testing.assert_close(grad, results[0][1])
        assert metrics == pytest.approx(results[0][2])


@pytest.mark.parametrize("name", PRESETS)
def test_micro_batches_accumulate_exactly_with_loss_normalizer(name):
    cfg = config(name)
    old = LOGP - DELTA
    full = LOGP.clone().requires_grad_()
    policy_loss(full, old, ADV, MASK, cfg, step_weights=WEIGHTS)[0].backward()
    parts = [slice(0, 1), slice(1, 4)]
    norms = [loss_normalizer(MASK[p], WEIGHTS[p], cfg) for p in parts]
    split = LOGP.clone().requires_grad_()
    for p, norm in zip(parts, norms, strict=True):
        loss, _ = policy_loss(split[p], old[p], ADV[p], MASK[p], cfg, step_weights=WEIGHTS[p])
        scale = 1.0 if cfg.aggregation == "constant" else norm / sum(norms)
        (loss * scale).backward()
    torch.testing.assert_close(split.grad, full.grad)


def test_truncated_importance_weight_is_capped():
    cfg = config("grpo", importance_sampling_cap=2.0)
    one = torch.ones(1, 1)
    for engine_gap, weight in [(math.log(1.5), 1.5), (math.log(5.0), 2.0), (math.log(0.5), 0.5)]:
        loss, _ = policy_loss(torch.zeros(1, 1), torch.zeros(1, 1), torch.ones(1), one, cfg,
                              engine_logp=torch.full((1, 1), -engine_gap))
        assert loss.item() == pytest.approx(-weight)


def test_bad_inputs_raise_named_errors():
    cfg = config("grpo")
    with pytest.raises(GRPOInputError, match="ref_logp"):
        policy_loss(LOGP, LOGP, ADV, MASK, dataclasses.replace(cfg, beta=0.1))
    with pytest.raises(GRPOInputError, match="importance_sampling_cap"):
        policy_loss(LOGP, LOGP, ADV, MASK, cfg, engine_logp=LOGP)
    with pytest.raises(GRPOInputError, match="old_logp"):
        policy_loss(LOGP, LOGP[:, :3], ADV, MASK, cfg)
    with pytest.raises(GRPOInputError, match="advantages"):
        policy_loss(LOGP, LOGP, ADV[:2], MASK, cfg)
    with pytest.raises(GRPOInputError, match="step_weights"):
        policy_loss(LOGP, LOGP, ADV, MASK, cfg, step_weights=torch.ones(B, 1))


def test_presets_have_the_papers_knobs():
    assert (config("grpo").ratio_level, config("grpo").aggregation, config("grpo").scale_std) == (
        "token", "sequence_mean", "group")
    assert (config("dr_grpo").aggregation, config("dr_grpo").scale_std) == ("constant", "none")
    dapo = config("dapo")
    assert (dapo.eps_low, dapo.eps_high, dapo.aggregation, dapo.drop_zero_std_groups) == (
        0.2, 0.28, "token_mean", True)
    gspo = config("gspo")
    assert (gspo.ratio_level, gspo.eps_low, gspo.eps_high) == ("sequence", 3e-4, 4e-4)
    assert all(config(name).beta == 0.0 for name in PRESETS)


@pytest.mark.parametrize(
    "make,fix_hint",
    [
        (lambda: preset("dr_grpo"), "constant_normalizer"),
        (lambda: preset("ppo"), "grpo, dr_grpo, dapo, gspo"),
        (lambda: preset("grpo", epsilon=0.2), "eps_low"),
        (lambda: LossConfig(constant_normalizer=64), "aggregation='constant'"),
        (lambda: LossConfig(eps_low=1.0), "eps_low"),
        (lambda: LossConfig(eps_high=0.0), "eps_high"),
        (lambda: LossConfig(aggregation="sum"), "sequence_mean"),
        (lambda: LossConfig(ratio_level="tokens"), "'token'"),
        (lambda: LossConfig(scale_std="batchwise"), "'batch'"),
        (lambda: LossConfig(beta=-0.1), "beta"),
        (lambda: LossConfig(importance_sampling_cap=0.5), "2.0"),
        (lambda: dataclasses.replace(LossConfig(), aggregation="constant"), "constant_normalizer"),
    ],
)
def test_bad_loss_config_says_how_to_fix(make, fix_hint):
    with pytest.raises(ConfigError) as err:
        make()
    assert fix_hint in str(err.value)


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_group_advantages_match_loops(scale):
    rewards = [1.0, 0.0, 0.5, 0.2, 0.2, 0.9, 0.7]
    groups = [3, 3, 7, 7, 3, 7, 1]  # unsorted ids, a singleton group
    got = group_advantages(torch.tensor(rewards), torch.tensor(groups), scale)
    torch.testing.assert_close(got, torch.tensor(_loop_group_advantages(rewards, groups, scale)))
    assert got[-1] == 0.0


def test_group_advantages_sum_to_zero_per_group_and_accept_int_rewards():
    adv = group_advantages(torch.tensor([1, 0, 0, 0, 1, 1]), torch.tensor([0, 0, 0, 1, 1, 1]))
    assert adv.dtype.is_floating_point
    assert adv[:3].sum().abs() < 1e-9 and adv[3:].sum().abs() < 1e-9
    assert adv[0] > 0 > adv[1]
    with pytest.raises(GRPOInputError):
        group_advantages(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ConfigError):
        group_advantages(torch.zeros(3), torch.zeros(3), "std")  # type: ignore[arg-type]


def test_zero_std_groups():
    rewards = torch.tensor([1.0, 1.0, 0.0, 0.5, 0.3, 0.3, 0.3, 2.0])
    groups = torch.tensor([0, 0, 1, 1, 2, 2, 2, 3])
    assert zero_std_groups(rewards, groups).tolist() == [True, True, False, False, True, True, True, True]
    assert zero_std_groups(rewards, groups, atol=0.6).tolist() == [True] * 8
    assert torch.all(group_advantages(rewards, groups)[zero_std_groups(rewards, groups)] == 0)
