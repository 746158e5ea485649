"""The clipped GRPO policy loss, one function for the grpo, dr_grpo, dapo and gspo variants.

    ratio    = pi(o_t) / pi_old(o_t)  (token)   or   exp(mean_t log(pi(o_t) / pi_old(o_t)))  (sequence)
    pg_loss1 = -A * ratio
    pg_loss2 = -A * clip(ratio, 1 - eps_low, 1 + eps_high)
    loss     = aggregate(max(pg_loss1, pg_loss2) + beta * k3(pi_ref, pi))

Departures from the papers (GRPO: Shao et al. 2024; Dr. GRPO: Liu et al. 2025; DAPO: Yu et al. 2025;
GSPO: Zheng et al. 2025):

1. One function, three knobs: the variants differ only in ratio level, clip range and aggregation
   (``LossConfig``, ``preset``). Advantages are computed outside (``advantages.group_advantages``); their
   std uses Bessel's correction plus eps, as in TRL.
2. Per-sample weights (``step_weights``) that no paper has: a sample is one step of a multi-step episode, and
   weighting each step by 1/T_i gives every episode the same total weight. Every aggregation is a weighted
   mean (or, for ``constant``, a weighted sum) over samples; weights of 1 give the papers' formulas.
3. KL: the k3 estimate exp(ref - logp) - (ref - logp) - 1 is added per token inside the aggregation, as in the
   GRPO paper, but beta defaults to 0 (TRL, DAPO, Dr. GRPO). The reference is the adapter-disabled model.
4. GSPO's sequence ratio is broadcast to the completion's tokens. With ``sequence_mean`` this is exactly the
   paper's per-sequence loss; with other aggregations each sequence counts by its length.
5. Truncated importance sampling (not in the papers; from verl / TRL): with ``engine_logp`` and
   ``cfg.importance_sampling_cap``, each term is weighted by min(pi_old / pi_engine, cap), detached, computed
   at ``ratio_level``, so that numeric disagreement between the sampling engine and the trainer does not bias
   the update.
6. Positions outside ``mask`` get a log-ratio of 0 before anything is exponentiated, so padding values (even
   inf) never reach the loss or its gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gui_grpo.grpo.config import GRPOInputError, LossConfig


def policy_loss(
    logp: Tensor, old_logp: Tensor, advantages: Tensor, mask: Tensor, cfg: LossConfig,
    ref_logp: Tensor | None = None, step_weights: Tensor | None = None, engine_logp: Tensor | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Loss to minimise, and metrics. Log-probs (B, T) of the sampled completion tokens under: the policy
    being trained (``logp``, with grad), the sampling policy at its temperature (``old_logp``), the reference
    (``ref_logp``, needed when beta > 0), the sampling engine (``engine_logp``, for the truncated IS
    correction). advantages (B,); mask (B, T) is 1 at completion tokens; step_weights (B,), e.g. 1/T_i.
    """
    _check_inputs(logp, old_logp, advantages, mask, cfg, ref_logp, step_weights, engine_logp)
    keep = mask.bool()                                                            # (B, T)
    m = mask.to(logp.dtype)                                                       # (B, T)
    token_log_ratio = torch.where(keep, logp - old_logp.detach(), 0.0)            # (B, T)
    ratio = torch.exp(_at_level(token_log_ratio, m, cfg.ratio_level))             # (B, T)
    adv = advantages.to(logp.dtype).unsqueeze(1)                                  # (B, 1)
    pg_loss1 = -adv * ratio
    pg_loss2 = -adv * torch.clamp(ratio, 1.0 - cfg.eps_low, 1.0 + cfg.eps_high)
    per_token = torch.max(pg_loss1, pg_loss2)                                     # (B, T)
    if engine_logp is not None:
        engine_log_ratio = torch.where(keep, old_logp - engine_logp, 0.0).detach()  # (B, T)
        is_weight = torch.exp(_at_level(engine_log_ratio, m, cfg.ratio_level))    # (B, T)
        per_token = per_token * is_weight.clamp(max=cfg.importance_sampling_cap)
    kl_ref = None
    if ref_logp is not None:
        delta = torch.where(keep, ref_logp.detach() - logp, 0.0)                  # (B, T)
        kl_ref = torch.exp(delta) - delta - 1.0                                   # (B, T), k3
        if cfg.beta > 0.0:
            per_token = per_token + cfg.beta * kl_ref
    weights = _weights(step_weights, logp)                                        # (B,)
    if cfg.aggregation == "sequence_mean":
        per_sample = (per_token * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)     # (B,)
    else:
        per_sample = (per_token * m).sum(dim=1)                                   # (B,)
    loss = (weights * per_sample).sum() / loss_normalizer(m, step_weights, cfg)
    return loss, _metrics(token_log_ratio, ratio, adv, m, cfg, kl_ref)


def loss_normalizer(mask: Tensor, step_weights: Tensor | None, cfg: LossConfig) -> Tensor:
    """The divisor ``policy_loss`` uses: sum of weights, of weighted token counts, or the constant.

    To accumulate gradients exactly over micro-batches of one batch, scale each micro-batch's loss by its
    normaliser divided by the sum of the micro-batches' normalisers (``constant`` needs no scaling).
    """
    m = mask.to(torch.get_default_dtype() if not mask.is_floating_point() else mask.dtype)  # (B, T)
    weights = _weights(step_weights, m)                                           # (B,)
    if cfg.aggregation == "sequence_mean":
        total = weights.sum()
    elif cfg.aggregation == "token_mean":
        total = (weights * m.sum(dim=1)).sum()
    else:
        total = torch.tensor(float(cfg.constant_normalizer), dtype=m.dtype, device=m.device)
    return total.clamp(min=torch.finfo(m.dtype).tiny)


def _at_level(token_log_ratio: Tensor, m: Tensor, level: str) -> Tensor:
    """Token log-ratios as they are, or each row's mean over its tokens broadcast to the row (GSPO)."""
    if level == "token":
        return token_log_ratio                                                    # (B, T)
    seq = (token_log_ratio * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)          # (B,)
    return seq.unsqueeze(1).expand_as(token_log_ratio)                            # (B, T)


def _weights(step_weights: Tensor | None, like: Tensor) -> Tensor:
    if step_weights is None:
        return torch.ones(like.shape[0], dtype=like.dtype, device=like.device)   # (B,)
    return step_weights.to(like.dtype)                                            # (B,)


@torch.no_grad()
def _metrics(
    token_log_ratio: Tensor, ratio: Tensor, adv: Tensor, m: Tensor, cfg: LossConfig, kl_ref: Tensor | None
) -> dict[str, float]:
    """Token means over the mask: clip fractions (where the clip stops the gradient), KL estimates, ratio."""
    n = m.sum().clamp(min=1.0)

    def mean(x: Tensor) -> float:
        return float((x.to(m.dtype) * m).sum() / n)

    metrics = {
        "clip_frac_low": mean((ratio < 1.0 - cfg.eps_low) & (adv < 0)),
        "clip_frac_high": mean((ratio > 1.0 + cfg.eps_high) & (adv > 0)),
        "approx_kl": mean(torch.exp(token_log_ratio) - 1.0 - token_log_ratio),
        "ratio_mean": mean(ratio),
    }
    if kl_ref is not None:
        metrics["kl_ref"] = mean(kl_ref)
    return metrics


def _check_inputs(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    cfg: LossConfig,
    ref_logp: Tensor | None,
    step_weights: Tensor | None,
    engine_logp: Tensor | None,
) -> None:
    if logp.dim() != 2:
        raise GRPOInputError(f"logp must be (B, T), got shape {tuple(logp.shape)}")
    named = {"old_logp": old_logp, "mask": mask, "ref_logp": ref_logp, "engine_logp": engine_logp}
    for name, t in named.items():
        if t is not None and t.shape != logp.shape:
            raise GRPOInputError(f"{name} has shape {tuple(t.shape)}, logp {tuple(logp.shape)}; must match")
    for name, t in {"advantages": advantages, "step_weights": step_weights}.items():
        if t is not None and t.shape != logp.shape[:1]:
            raise GRPOInputError(f"{name} must be (B,) = ({logp.shape[0]},), got shape {tuple(t.shape)}")
    if cfg.beta > 0.0 and ref_logp is None:
        raise GRPOInputError(f"cfg.beta={cfg.beta} needs ref_logp (the reference policy's log-probs); "
                             "pass it or set beta=0")
    if engine_logp is not None and cfg.importance_sampling_cap is None:
        raise GRPOInputError("engine_logp was given but cfg.importance_sampling_cap is None: set a cap "
                             "(e.g. 2.0) to correct for the engine, or do not pass engine_logp")
