import numpy as np
import pytest
from pydantic import ValidationError

from elfrl.data import format_poses, parse_output
from elfrl.rewards import GoalTiers, RewardBreakdown, RewardWeights, compose_rewards, format_reward, goal_reward

BODY = format_poses(np.arange(24.0).reshape(8, 3))
SEVEN = BODY[: BODY.rindex(", [")] + "]"


# (name, text, expected format reward)
FORMAT_CASES = [
    ("well-formed", f"<think>t</think><answer>{BODY}</answer>", 1.0),
    ("extra text around", f"ok <think>t</think><answer>{BODY}</answer> bye", 1.0),
    ("missing think, 8 poses", f"<answer>{BODY}</answer>", 0.5),
    ("tags reversed, 8 poses", f"<answer>{BODY}</answer><think>t</think>", 0.5),
    ("tags, 7 poses", f"<think>t</think><answer>{SEVEN}</answer>", 0.5),
    ("tags, NaN pose", f"<think>t</think><answer>{BODY.replace('0.00', 'nan', 1)}</answer>", 0.5),
    ("tags, prose answer", "<think>t</think><answer>straight</answer>", 0.5),
    ("missing answer", f"<think>t</think>{BODY}", 0.0),
    ("missing think, 7 poses", f"<answer>{SEVEN}</answer>", 0.0),
    ("nothing", "", 0.0),
]


@pytest.mark.parametrize("name, text, expected", FORMAT_CASES, ids=[c[0] for c in FORMAT_CASES])
def test_format_reward_cases(name, text, expected):
    assert format_reward([text]).tolist() == [expected]


def test_format_reward_batch_and_parsed_inputs():
    texts = [c[1] for c in FORMAT_CASES]
    expected = [c[2] for c in FORMAT_CASES]
    out = format_reward(texts)
    assert out.dtype == np.float64 and out.tolist() == expected
    assert format_reward([parse_output(t) for t in texts]).tolist() == expected
    assert format_reward([]).shape == (0,)


def end_at(x, y):
    """[8, 3] poses ending at (x, y), earlier poses arbitrary."""
    poses = np.zeros((8, 3))
    poses[:, 0] = np.linspace(0, 100, 8)  # only the last pose counts
    poses[-1] = [x, y, 1.0]
    return poses


GT = end_at(10.0, 2.0)

# (name, end point of prediction, expected goal reward); L1 distance to (10, 2) in the name
GOAL_CASES = [
    ("exact 0 m", (10.0, 2.0), 1.0),
    ("0.75 m", (10.5, 1.75), 1.0),
    ("boundary 1.0 m", (10.5, 2.5), 1.0),
    ("1.25 m", (11.0, 2.25), 0.5),
    ("boundary 2.0 m", (9.0, 1.0), 0.5),
    ("2.5 m", (8.0, 2.5), 0.25),
    ("boundary 4.0 m", (12.0, 0.0), 0.25),
    ("4.5 m", (14.5, 2.0), 0.0),
    ("far", (-50.0, 30.0), 0.0),
    ("NaN (unparsable)", (np.nan, np.nan), 0.0),
    ("NaN y only", (10.0, np.nan), 0.0),
    ("inf", (np.inf, 2.0), 0.0),
]


@pytest.mark.parametrize("name, end, expected", GOAL_CASES, ids=[c[0] for c in GOAL_CASES])
def test_goal_reward_tiers(name, end, expected):
    assert goal_reward(end_at(*end)[None], GT).tolist() == [expected]


def test_goal_reward_ignores_heading_and_earlier_poses():
    pred = end_at(10.0, 2.0)
    pred[:-1] = 1e6
    pred[-1, 2] = -3.0
    assert goal_reward(pred[None], GT).tolist() == [1.0]


def test_goal_reward_batch_shared_and_per_rollout_gt():
    pred = np.stack([end_at(*c[1]) for c in GOAL_CASES])  # [N, 8, 3]
    expected = [c[2] for c in GOAL_CASES]
    assert goal_reward(pred, GT).tolist() == expected
    assert goal_reward(pred, np.broadcast_to(GT, pred.shape)).tolist() == expected
    # an unparsable rollout is a whole NaN row
    assert goal_reward(np.full((2, 8, 3), np.nan), GT).tolist() == [0.0, 0.0]


def test_goal_reward_custom_tiers():
    tiers = GoalTiers(thresholds_m=(0.5, 3.0), rewards=(2.0, 1.0))
    pred = np.stack([end_at(10.5, 2.0), end_at(10.5, 2.1), end_at(13.0, 2.0), end_at(13.1, 2.0)])
    assert goal_reward(pred, GT, tiers).tolist() == [2.0, 1.0, 1.0, 0.0]


@pytest.mark.parametrize(
    "pred_shape, gt, message",
    [
        ((8, 3), GT, r"pred_poses must have shape \[N, T, 3\], got \(8, 3\)"),
        ((2, 8, 3), GT[:7], r"gt_poses must have shape \(8, 3\) or \(2, 8, 3\), got \(7, 3\)"),
        ((2, 8, 3), np.full((8, 3), np.nan), "gt_poses contain NaN or inf"),
    ],
)
def test_goal_reward_bad_shapes(pred_shape, gt, message):
    with pytest.raises(ValueError, match=message):
        goal_reward(np.zeros(pred_shape), gt)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"thresholds_m": (2.0, 1.0), "rewards": (1.0, 0.5)}, "strictly increasing"),
        ({"thresholds_m": (1.0, 1.0), "rewards": (1.0, 0.5)}, "strictly increasing"),
        ({"thresholds_m": (0.0, 1.0), "rewards": (1.0, 0.5)}, "positive"),
        ({"thresholds_m": (1.0, 2.0), "rewards": (1.0,)}, "need as many rewards as thresholds"),
        ({"thresholds_m": (), "rewards": ()}, "need as many rewards as thresholds"),
        ({"thresholds_m": (1.0, 2.0), "rewards": (0.5, 1.0)}, "non-increasing"),
        ({"thresholds_m": (1.0,), "rewards": (-1.0,)}, ">= 0"),
        ({"thresholds_m": (1.0,), "rewards": (1.0,), "extra": 1}, "Extra inputs are not permitted"),
    ],
)
def test_goal_tiers_validation(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        GoalTiers(**kwargs)


def test_goal_tiers_default_and_frozen():
    tiers = GoalTiers()
    assert (tiers.thresholds_m, tiers.rewards) == ((1.0, 2.0, 4.0), (1.0, 0.5, 0.25))
    with pytest.raises(ValidationError):
        tiers.rewards = (1.0, 1.0, 1.0)


# (weights, expected total) for pdms [0.9, 0, 0.5], format [1, 0.5, 1], goal [0.25, 0, 1]
COMPOSE_CASES = [
    (RewardWeights(), [2.15, 0.5, 2.5]),
    (RewardWeights(format=0.0, goal=0.0), [0.9, 0.0, 0.5]),
    (RewardWeights(pdms=2.0, format=0.5, goal=4.0), [3.3, 0.25, 5.5]),
]


@pytest.mark.parametrize("weights, total", COMPOSE_CASES)
def test_compose_rewards(weights, total):
    pdms, fmt, goal = [0.9, 0.0, 0.5], [1.0, 0.5, 1.0], [0.25, 0.0, 1.0]
    out = compose_rewards(np.array(pdms), np.array(fmt), np.array(goal), weights)
    assert isinstance(out, RewardBreakdown)
    np.testing.assert_allclose(out.total, total, rtol=0, atol=1e-12)
    # components are logged unweighted
    assert (out.pdms.tolist(), out.format.tolist(), out.goal.tolist()) == (pdms, fmt, goal)


@pytest.mark.parametrize(
    "pdms, fmt, goal, message",
    [
        ([0.5, np.nan], [1, 1], [0, 0], r"^pdms reward is nan at index 1 \(set pdms to 0 for unparsable rollouts before composing\)$"),
        ([0.5, 0.5], [np.nan, 1], [0, 0], r"^format reward is nan at index 0$"),
        ([0.5, 0.5], [1, 1], [0, np.inf], r"^goal reward is inf at index 1$"),
        ([0.5, 0.5], [1], [0, 0], r"^format reward has 1 values but pdms has 2$"),
        ([[0.5]], [1], [0], r"^pdms reward must be a 1-D array \[N\], got shape \(1, 1\)$"),
    ],
)
def test_compose_refuses_bad_components(pdms, fmt, goal, message):
    with pytest.raises(ValueError, match=message):
        compose_rewards(np.array(pdms), np.array(fmt), np.array(goal), RewardWeights())


def test_reward_weights_are_strict():
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        RewardWeights(pmds=1.0)
