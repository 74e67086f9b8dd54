"""Score the rollouts of one scene: parse, PDMS v1.1, format and goal rewards (elfrl.rewards), plus the
sub-scores the teacher needs. Plain class, usable without a trainer."""

from __future__ import annotations

from typing import Mapping, NamedTuple, Optional, Sequence

import numpy as np

from elfrl.data.labels import gt_poses
from elfrl.data.output import ParsedOutput, parse_output
from elfrl.rewards import GoalTiers, RewardWeights, compose_rewards, format_reward, goal_reward, pdms_reward, stack_poses
from elfrl.scene.schema import Scene
from elfrl.scoring import PDMScorer, VersionScores

REWARD_NAMES = ("pdms", "format", "goal")  # columns of the reward matrix, in this order


class ScoredRollouts(NamedTuple):
    parsed: list[ParsedOutput]
    poses: np.ndarray  # [N, 8, 3], NaN rows where the answer did not parse
    pdms: np.ndarray  # [N] PDMS v1.1, 0 where unparsable
    format: np.ndarray  # [N]
    goal: np.ndarray  # [N]
    total: np.ndarray  # [N] weighted sum
    dac: np.ndarray  # [N] NaN where unparsable
    nc: np.ndarray  # [N] NaN where unparsable
    scores: Optional[VersionScores]  # sub-metrics of the parsed rollouts only
    index: np.ndarray  # [N] row of each rollout in `scores`, -1 where unparsable

    def matrix(self) -> np.ndarray:
        """[N, 3] unweighted components in REWARD_NAMES order (what TRL weights and sums)."""
        return np.stack([self.pdms, self.format, self.goal], axis=1)


class RolloutScorer:
    def __init__(self, scenes: Mapping[str, Scene], scorer: Optional[PDMScorer] = None,
                 weights: RewardWeights = RewardWeights(), tiers: GoalTiers = GoalTiers()):
        self.scenes, self.scorer, self.weights, self.tiers = scenes, scorer or PDMScorer(), weights, tiers

    def scene(self, token: str) -> Scene:
        try:
            return self.scenes[token]
        except KeyError:
            raise KeyError(f"no scene with token {token!r} among the {len(self.scenes)} loaded scenes") from None

    def score(self, token: str, texts: Sequence[str]) -> ScoredRollouts:
        scene = self.scene(token)
        parsed = [parse_output(t) for t in texts]
        pd = pdms_reward(self.scorer, scene, parsed)
        fmt = format_reward(parsed)
        poses = stack_poses(parsed)
        goal = goal_reward(poses, gt_poses(scene), self.tiers)
        parts = compose_rewards(pd.values, fmt, goal, self.weights)
        index = np.full(len(texts), -1)
        index[pd.scored] = np.arange(len(pd.scored))
        dac, nc = np.full(len(texts), np.nan), np.full(len(texts), np.nan)
        if pd.scores is not None:
            dac[pd.scored] = pd.scores.metrics["dac"]
            nc[pd.scored] = pd.scores.metrics["nc"]
        return ScoredRollouts(parsed, poses, parts.pdms, parts.format, parts.goal, parts.total, dac, nc,
                              pd.scores, index)
