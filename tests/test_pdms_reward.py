"""PDMS reward of parsed rollouts: scored together, 0 (and counted) where the output did not parse."""

import numpy as np
import pytest

from elfrl.data.output import format_poses, parse_output
from elfrl.rewards import RewardWeights, compose_rewards, format_reward, goal_reward, pdms_reward, stack_poses


def _text(poses) -> str:
    return f"<think>keep lane, maintain speed</think><answer>{format_poses(np.asarray(poses))}</answer>"


@pytest.mark.parametrize("version, attr", [("v1", "pdms_v1"), ("v2", "epdms_v2")])
def test_pdms_reward_matches_the_scorer(dev_scenes, scorer, version, attr):
    scene = dev_scenes[5]
    # 2-decimal answers, as the student writes them
    texts = [_text(c) for c in scene.candidates[:4]] + ["<think>x</think><answer>[[1, 2]]</answer>", "no tags"]
    parsed = [parse_output(t) for t in texts]
    reward = pdms_reward(scorer, scene, parsed, version=version)
    assert reward.unparsable == 2
    assert reward.scored.tolist() == [0, 1, 2, 3]
    rounded = np.round(np.asarray(scene.candidates[:4]), 2)
    expected = getattr(scorer.score(scene, rounded), attr).score
    np.testing.assert_array_equal(reward.values, np.concatenate([expected, [0.0, 0.0]]))


def test_no_parsable_rollout(dev_scenes, scorer):
    reward = pdms_reward(scorer, dev_scenes[0], [parse_output("nothing")] * 3)
    assert reward.values.tolist() == [0.0, 0.0, 0.0] and reward.unparsable == 3 and reward.scores is None


def test_unknown_version(dev_scenes, scorer):
    with pytest.raises(ValueError, match="version must be 'v1' or 'v2'"):
        pdms_reward(scorer, dev_scenes[0], [], version="v3")


def test_full_reward_pipeline(dev_scenes, scorer):
    scene = dev_scenes[7]
    gt = np.asarray(scene.human_trajectory)
    texts = [_text(gt), _text(gt + [0.0, 1.5, 0.0]), "<answer>[[0,0,0]]</answer>"]
    parsed = [parse_output(t) for t in texts]
    pdms = pdms_reward(scorer, scene, parsed)
    fmt = format_reward(parsed)
    goal = goal_reward(stack_poses(parsed), gt)
    parts = compose_rewards(pdms.values, fmt, goal, RewardWeights())
    assert fmt.tolist() == [1.0, 1.0, 0.0]
    assert goal.tolist() == [1.0, 0.5, 0.0]
    np.testing.assert_allclose(parts.total, pdms.values + fmt + goal)
    assert pdms.values[2] == 0.0
