"""The feedback GRPO loss (elfrl.trainer.loss) on hand-made tensors: values and gradients by the formula."""

import math

import pytest
import torch

from elfrl.trainer.loss import feedback_grpo_loss, shaped_weight

GAMMA = 0.1


def _f(p):
    return p / (p + GAMMA)


def _df_dlogp(p):  # d f(p) / d log p = p * gamma / (p + gamma)^2
    return p * GAMMA / (p + GAMMA) ** 2


def test_shaped_loss_value_and_gradient_on_two_tokens():
    p = torch.tensor([[0.5, 0.05]], dtype=torch.float64)
    logps = p.log().requires_grad_(True)
    adv = 1.5
    terms = feedback_grpo_loss(
        logps, torch.full_like(logps, -30.0), torch.tensor([adv]), torch.ones(1, 2), torch.tensor([True]), gamma=GAMMA,
    )
    expected = -(_f(0.5) + _f(0.05)) / 2 * adv  # mean over the 2 tokens of -f(p) A
    assert terms.loss.item() == pytest.approx(expected, rel=1e-12)
    terms.loss.backward()
    grad = logps.grad[0].tolist()
    assert grad[0] == pytest.approx(-adv / 2 * _df_dlogp(0.5), rel=1e-12)
    assert grad[1] == pytest.approx(-adv / 2 * _df_dlogp(0.05), rel=1e-12)
    assert terms.shaped_ratio_mean.item() == pytest.approx((_f(0.5) + _f(0.05)) / 2, rel=1e-12)
    assert terms.refined_rows == 1


def test_shaped_weight_is_p_over_p_plus_gamma():
    p = torch.tensor([0.0, 0.1, 1.0], dtype=torch.float64)
    assert shaped_weight(p.log(), GAMMA).tolist() == pytest.approx([0.0, 0.5, 1 / 1.1])


def test_clipping_applies_to_originals_only():
    # Both rows: current prob 0.6 against an old prob 0.2 (ratio 3, far above 1 + eps), positive advantage.
    logps = torch.full((2, 1), math.log(0.6), dtype=torch.float64, requires_grad=True)
    old = torch.full((2, 1), math.log(0.2), dtype=torch.float64)
    adv = torch.tensor([1.0, 1.0])
    refined = torch.tensor([False, True])
    terms = feedback_grpo_loss(logps, old, adv, torch.ones(2, 1), refined, epsilon_low=0.2, epsilon_high=0.2,
                               gamma=GAMMA, weighting="joint")
    # original: clipped at 1.2 -> -1.2 A, no gradient; refined: -f(0.6) A, unclipped, with gradient
    assert terms.loss.item() == pytest.approx((-1.2 + -_f(0.6)) / 2, rel=1e-12)
    terms.loss.backward()
    assert logps.grad[0, 0].item() == 0.0
    assert logps.grad[1, 0].item() == pytest.approx(-_df_dlogp(0.6) / 2, rel=1e-12)
    assert terms.clip_frac.item() == 1.0  # the one original token was clipped; the refined token is not counted


def test_unclipped_original_is_the_ppo_ratio_term():
    logps = torch.tensor([[math.log(0.3)]], dtype=torch.float64, requires_grad=True)
    old = torch.tensor([[math.log(0.3)]], dtype=torch.float64)
    terms = feedback_grpo_loss(logps, old, torch.tensor([-2.0]), torch.ones(1, 1), torch.tensor([False]))
    assert terms.loss.item() == pytest.approx(2.0)  # -(ratio 1 * A)
    terms.loss.backward()
    assert logps.grad.item() == pytest.approx(2.0)  # d(-r A)/d logp = -r A
    assert terms.clip_frac.item() == 0.0 and math.isnan(terms.shaped_ratio_mean.item())


def test_split_weighting_averages_originals_and_refined_separately():
    logps = torch.log(torch.tensor([[0.5], [0.5], [0.5], [0.2]], dtype=torch.float64))
    adv = torch.tensor([1.0, -1.0, 0.5, 2.0])
    refined = torch.tensor([False, False, False, True])
    split = feedback_grpo_loss(logps, logps, adv, torch.ones(4, 1), refined, gamma=GAMMA, weighting="split")
    joint = feedback_grpo_loss(logps, logps, adv, torch.ones(4, 1), refined, gamma=GAMMA, weighting="joint")
    originals = [-1.0, 1.0, -0.5]
    shaped = -_f(0.2) * 2.0
    assert split.loss.item() == pytest.approx(sum(originals) / 3 + shaped, rel=1e-12)
    assert joint.loss.item() == pytest.approx((sum(originals) + shaped) / 4, rel=1e-12)


def test_kl_to_the_reference_on_every_row_and_padding_is_ignored():
    logps = torch.log(torch.tensor([[0.5, 0.9], [0.4, 0.1]], dtype=torch.float64))
    ref = torch.log(torch.tensor([[0.25, 0.3], [0.4, 0.7]], dtype=torch.float64))
    mask = torch.tensor([[1, 0], [1, 1]])
    terms = feedback_grpo_loss(logps, logps, torch.zeros(2), mask, torch.tensor([False, True]), beta=0.1,
                               ref_logps=ref, weighting="joint")
    k3 = lambda p, r: r / p - math.log(r / p) - 1  # noqa: E731
    per_row = [k3(0.5, 0.25), (k3(0.4, 0.4) + k3(0.1, 0.7)) / 2]  # the padded token of row 0 is left out
    assert terms.loss.item() == pytest.approx(0.1 * sum(per_row) / 2, rel=1e-12)
    assert terms.kl.item() == pytest.approx((k3(0.5, 0.25) + k3(0.4, 0.4) + k3(0.1, 0.7)) / 3, rel=1e-12)


def test_a_huge_ratio_on_a_refined_row_stays_finite():
    logps = torch.tensor([[-0.1]], dtype=torch.float64, requires_grad=True)
    old = torch.tensor([[-500.0]], dtype=torch.float64)  # exp(499.9) = inf as a PPO ratio
    terms = feedback_grpo_loss(logps, old, torch.tensor([1.0]), torch.ones(1, 1), torch.tensor([True]))
    terms.loss.backward()
    assert math.isfinite(terms.loss.item()) and math.isfinite(logps.grad.item())


def test_beta_without_reference_is_an_error():
    x = torch.zeros(1, 1)
    with pytest.raises(ValueError, match="ref_logps"):
        feedback_grpo_loss(x, x, torch.zeros(1), torch.ones(1, 1), torch.tensor([False]), beta=0.1)
