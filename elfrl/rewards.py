"""Rollout rewards as pure functions over arrays (DESIGN.md "Scoring"): PDMS + format + goal.

    parsed = [parse_output(t) for t in texts]
    pdms = pdms_reward(scorer, scene, parsed)               # PDMSReward: values [N] + sub-metrics
    fmt = format_reward(parsed)                             # [N]
    goal = goal_reward(stack_poses(parsed), gt_poses)       # [N]
    parts = compose_rewards(pdms.values, fmt, goal, RewardWeights())

`pdms_reward` scores the rollouts that parsed and gives 0 (counted in `unparsable`) to the
rest; `compose_rewards` refuses NaN so a missing score can never pass silently as a number.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
from pydantic import ConfigDict, model_validator

from elfrl.config import StrictModel
from elfrl.data.output import ParsedOutput, parse_output
from elfrl.scene import Scene
from elfrl.scoring import PDMScorer, VersionScores

NUM_POSES = 8


class GoalTiers(StrictModel):
    """Goal reward table: end-point L1 distance `d` earns `rewards[i]` for the first `d <= thresholds_m[i]`.

    Default: d <= 1 m -> 1.0, d <= 2 m -> 0.5, d <= 4 m -> 0.25, else 0. Boundaries are inclusive.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    thresholds_m: tuple[float, ...] = (1.0, 2.0, 4.0)
    rewards: tuple[float, ...] = (1.0, 0.5, 0.25)

    @model_validator(mode="after")
    def _check(self) -> "GoalTiers":
        t, r = np.asarray(self.thresholds_m, float), np.asarray(self.rewards, float)
        if len(t) == 0 or len(t) != len(r):
            raise ValueError(f"need as many rewards as thresholds (>= 1), got {len(t)} and {len(r)}")
        if not (np.isfinite(t).all() and t[0] > 0 and (np.diff(t) > 0).all()):
            raise ValueError(
                f"thresholds_m must be finite, positive and strictly increasing, got {self.thresholds_m}"
            )
        if not (np.isfinite(r).all() and (r >= 0).all() and (np.diff(r) <= 0).all()):
            raise ValueError(f"rewards must be finite, >= 0 and non-increasing, got {self.rewards}")
        return self


class RewardWeights(StrictModel):
    """Weights of the reward components in the total (ELF-VLA: all 1)."""

    pdms: float = 1.0
    format: float = 1.0
    goal: float = 1.0


class RewardBreakdown(NamedTuple):
    total: np.ndarray  # [N] weighted sum of the components below
    pdms: np.ndarray  # [N] unweighted PDMS, 0 for unparsable rollouts
    format: np.ndarray  # [N] unweighted format reward in {0, 0.5, 1}
    goal: np.ndarray  # [N] unweighted goal reward


class PDMSReward(NamedTuple):
    values: np.ndarray  # [N] PDMS (or EPDMS) per rollout, 0 where the output did not parse
    scored: np.ndarray  # [K] indices of the rollouts that were scored
    scores: VersionScores | None  # sub-metrics of the K scored rollouts (None if K = 0)
    unparsable: int  # N - K, rollouts that got 0 because they had no 8 finite poses


def stack_poses(parsed: Sequence[ParsedOutput]) -> np.ndarray:
    """[N, 8, 3] poses of parsed outputs, NaN rows where the answer did not parse."""
    out = np.full((len(parsed), NUM_POSES, 3), np.nan)
    for i, p in enumerate(parsed):
        if p.poses is not None:
            out[i] = p.poses
    return out


def pdms_reward(scorer: PDMScorer, scene: Scene, parsed: Sequence[ParsedOutput], version: str = "v1") -> PDMSReward:
    """PDM score of each rollout of one scene ("v1": NAVSIM v1.1 PDMS, "v2": EPDMS without EC).

    Rollouts are scored together, each with its official single-trajectory value (the EP
    normaliser is per rollout). Unparsable rollouts get 0 and are counted, never dropped.
    """
    if version not in ("v1", "v2"):
        raise ValueError(f"version must be 'v1' or 'v2', got {version!r}")
    poses = stack_poses(parsed)
    scored = np.flatnonzero(np.isfinite(poses).all(axis=(1, 2)))
    values = np.zeros(len(parsed))
    scores = None
    if len(scored):
        result = scorer.score(scene, poses[scored], versions=(version,))
        scores = result.pdms_v1 if version == "v1" else result.epdms_v2
        values[scored] = scores.score
    return PDMSReward(values=values, scored=scored, scores=scores, unparsable=len(parsed) - len(scored))


def format_reward(outputs: Sequence[str | ParsedOutput]) -> np.ndarray:
    """[N]: 0.5 if the four tags are present once each and in order, + 0.5 if the answer holds 8 finite poses.

    The two halves are independent: an answer with 8 good poses but no think tags earns 0.5.
    """
    parsed = [o if isinstance(o, ParsedOutput) else parse_output(o) for o in outputs]
    return np.array([0.5 * p.has_tags + 0.5 * (p.poses is not None) for p in parsed], dtype=np.float64)


def goal_reward(pred_poses: np.ndarray, gt_poses: np.ndarray, tiers: GoalTiers = GoalTiers()) -> np.ndarray:
    """[N]: tiered reward on the L1 distance |dx| + |dy| between the last predicted and last GT pose.

    pred_poses: [N, T, 3], NaN rows for rollouts that did not parse (they get 0).
    gt_poses: [T, 3] (shared by the group) or [N, T, 3]; must be finite.
    """
    pred = np.asarray(pred_poses, dtype=np.float64)
    gt = np.asarray(gt_poses, dtype=np.float64)
    if pred.ndim != 3 or pred.shape[-1] < 2:
        raise ValueError(f"pred_poses must have shape [N, T, 3], got {pred.shape}")
    if gt.shape not in (pred.shape[1:], pred.shape):
        raise ValueError(f"gt_poses must have shape {pred.shape[1:]} or {pred.shape}, got {gt.shape}")
    if not np.isfinite(gt).all():
        raise ValueError("gt_poses contain NaN or inf; ground truth must be finite")
    end_pred = pred[:, -1, :2]  # [N, 2]
    end_gt = gt[..., -1, :2]  # [2] or [N, 2]
    dist = np.abs(end_pred - end_gt).sum(axis=-1)  # [N], NaN for unparsable rollouts
    # side="left": index i with thresholds[i-1] < d <= thresholds[i], so boundaries are inclusive.
    tier = np.searchsorted(np.asarray(tiers.thresholds_m), np.nan_to_num(dist, nan=np.inf), side="left")
    table = np.append(np.asarray(tiers.rewards, dtype=np.float64), 0.0)  # past the last tier: 0
    return table[tier]


def compose_rewards(
    pdms: np.ndarray, fmt: np.ndarray, goal: np.ndarray, weights: RewardWeights
) -> RewardBreakdown:
    """Weighted total plus the unweighted components for logging.

    `pdms` must already hold 0 for unparsable rollouts: a NaN in any component is refused with a
    ValueError naming the component and index rather than being turned into a number here.
    """
    parts = {"pdms": pdms, "format": fmt, "goal": goal}
    arrays = {name: np.asarray(a, dtype=np.float64) for name, a in parts.items()}
    for name, a in arrays.items():
        if a.ndim != 1:
            raise ValueError(f"{name} reward must be a 1-D array [N], got shape {a.shape}")
        if a.shape != arrays["pdms"].shape:
            raise ValueError(f"{name} reward has {a.size} values but pdms has {arrays['pdms'].size}")
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            hint = " (set pdms to 0 for unparsable rollouts before composing)" if name == "pdms" else ""
            raise ValueError(f"{name} reward is {a[bad[0]]} at index {bad[0]}{hint}")
    total = weights.pdms * arrays["pdms"] + weights.format * arrays["format"] + weights.goal * arrays["goal"]
    return RewardBreakdown(total=total, pdms=arrays["pdms"], format=arrays["format"], goal=arrays["goal"])


class GroupFailures(NamedTuple):
    """Total failure of one scene's rollouts (ELF-VLA's total-failure rate; the trainer's `failure/all_fail_*`
    per group, the evaluation's `total_failure` per scene)."""

    all_fail_pdms: bool  # every rollout has PDMS < tau (unparsable ones count as failing)
    all_fail_dac: bool  # every rollout leaves the drivable area (DAC = 0) or did not parse
    all_fail_nc: bool  # every rollout has an at-fault collision (NC = 0) or did not parse


def group_failures(pdms: np.ndarray, dac: np.ndarray, nc: np.ndarray, tau: float) -> GroupFailures:
    """pdms, dac, nc: [G] per rollout; dac and nc are NaN for rollouts that did not parse."""
    fails = lambda m: bool(np.all(np.nan_to_num(np.asarray(m, dtype=np.float64), nan=0.0) == 0.0))  # noqa: E731
    return GroupFailures(bool(np.all(np.asarray(pdms) < tau)), fails(dac), fails(nc))
