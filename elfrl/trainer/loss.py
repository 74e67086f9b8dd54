"""The feedback-GRPO loss (ELF-VLA eq. 6) as a pure function over per-token tensors.

    J = 1/n sum_i min(c_i A_i, clip(c_i, 1 +- eps) A_i)  +  1/k sum_j f(p_j) A_j  -  beta KL(pi || pi_ref)

Originals (on-policy rollouts) get the clipped PPO term with c = pi_theta / pi_old per token.
Refined samples were generated under the feedback prompt but are scored under the BASE prompt,
so they are off-policy for pi_theta(. | q_base): they get LUFFY's policy shaping
f(p) = p / (p + gamma) with p = pi_theta(token | q_base, prefix) and no clipping (ELF-VLA:
"we apply the CLIP only to the original batch rollout samples"). The gradient of f(p) is
gamma / (p + gamma)^2 * dp, which lifts low-probability tokens that plain importance weights
would let vanish (LUFFY §3.3).

How the two sums are averaged is a choice the paper leaves open:
- "split" (default, the paper's formula read literally): the per-sequence token means of the
  originals are averaged over the originals, those of the refined samples over the refined
  samples, and the two averages are added. One refinement weighs as much as all n originals.
- "joint": one average of the per-sequence token means over all rows (TRL's `loss_type="grpo"`).

The KL term (k3 estimator, as TRL) is added to every token of every row, original or refined.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, Optional

import torch

Weighting = Literal["split", "joint"]


class LossTerms(NamedTuple):
    loss: torch.Tensor  # scalar, the value to minimise (-J)
    kl: torch.Tensor  # scalar, mean per-token KL to the reference over all rows (0 without a reference)
    clip_frac: torch.Tensor  # scalar, share of ORIGINAL tokens whose ratio was clipped
    shaped_ratio_mean: torch.Tensor  # scalar, mean f(p) over refined tokens (NaN when there are none)
    refined_rows: int


def shaped_weight(logps: torch.Tensor, gamma: float) -> torch.Tensor:
    """f(p) = p / (p + gamma) of per-token log-probabilities (LUFFY policy shaping)."""
    p = logps.exp()
    return p / (p + gamma)


def feedback_grpo_loss(
    logps: torch.Tensor,  # [B, T] log pi_theta(o_t | q_base, o_<t), with grad
    old_logps: torch.Tensor,  # [B, T] log pi_old, no grad (= logps.detach() when on-policy)
    advantages: torch.Tensor,  # [B]
    mask: torch.Tensor,  # [B, T] 1 for completion tokens
    is_refined: torch.Tensor,  # [B] bool
    *,
    epsilon_low: float = 0.2,
    epsilon_high: float = 0.2,
    gamma: float = 0.1,
    beta: float = 0.0,
    ref_logps: Optional[torch.Tensor] = None,  # [B, T] log pi_ref, needed when beta > 0
    weighting: Weighting = "split",
) -> LossTerms:
    if beta > 0 and ref_logps is None:
        raise ValueError("beta > 0 needs the reference model's log-probs (ref_logps)")
    mask = mask.to(logps.dtype)
    adv = advantages.to(logps.dtype).unsqueeze(1)  # [B, 1]
    refined = is_refined.bool().unsqueeze(1)  # [B, 1]

    ratio = torch.exp(logps - old_logps)
    clipped = torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high)
    on_policy = -torch.min(ratio * adv, clipped * adv)  # [B, T]
    shaped = shaped_weight(logps, gamma)
    off_policy = -shaped * adv  # [B, T], no clip and no pi_old
    # where, not a masked sum: a huge ratio on a refined row must not turn into inf * 0 = NaN.
    per_token = torch.where(refined, off_policy, on_policy)

    if beta > 0:
        diff = ref_logps - logps
        per_token_kl = torch.exp(diff) - diff - 1  # k3 estimator, >= 0
        per_token = per_token + beta * per_token_kl
        kl = (per_token_kl * mask).sum() / mask.sum().clamp(min=1)
    else:
        kl = logps.new_zeros(())

    seq = (per_token * mask).sum(1) / mask.sum(1).clamp(min=1)  # [B] per-sequence token mean
    rows = is_refined.bool()
    if weighting == "split":
        loss = seq.new_zeros(())
        if (~rows).any():
            loss = loss + seq[~rows].mean()
        if rows.any():
            loss = loss + seq[rows].mean()
    elif weighting == "joint":
        loss = seq.mean()
    else:
        raise ValueError(f"weighting must be 'split' or 'joint', got {weighting!r}")

    with torch.no_grad():
        orig_mask = mask * (~refined)
        was_clipped = ((ratio < 1 - epsilon_low) & (adv < 0)) | ((ratio > 1 + epsilon_high) & (adv > 0))
        clip_frac = (was_clipped * orig_mask).sum() / orig_mask.sum().clamp(min=1)
        ref_mask = mask * refined
        n_ref_tokens = ref_mask.sum()
        shaped_mean = (shaped * ref_mask).sum() / n_ref_tokens if n_ref_tokens > 0 else logps.new_tensor(float("nan"))
    return LossTerms(loss, kl.detach(), clip_frac, shaped_mean.detach(), int(rows.sum()))
