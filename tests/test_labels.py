"""Meta-action labels: a table of hand-made trajectories, then scenes of the synthetic world."""

import numpy as np
import pytest

from elfrl.data.labels import meta_action, path_label, scene_meta_action, speed_label

T = 0.5 * np.arange(1, 9)  # pose times, s


def along_x(v0: float, accel: float = 0.0) -> np.ndarray:
    """Straight along x at v0 with constant acceleration, standing once stopped."""
    t_stop = -v0 / accel if accel < 0 else np.inf
    t = np.minimum(T, t_stop)
    return np.stack([v0 * t + 0.5 * accel * t**2, 0 * t, 0 * t], -1)


def arc(v: float, kappa: float) -> np.ndarray:
    """Constant speed along a circle of curvature kappa (left +) starting at the origin heading +x."""
    s = v * T
    return np.stack([np.sin(kappa * s) / kappa, (1 - np.cos(kappa * s)) / kappa, kappa * s], -1)


def shifted(poses: np.ndarray, offset: float, duration: float = 3.0) -> np.ndarray:
    """A lane change of `offset` metres (left +) over `duration` s added to straight poses."""
    u = np.clip(T / duration, 0, 1)
    y = offset * (0.5 - 0.5 * np.cos(np.pi * u))
    dy = offset * 0.5 * np.pi / duration * np.sin(np.pi * u) * (u < 1)
    heading = np.arctan2(dy, np.gradient(poses[:, 0], T))
    return np.stack([poses[:, 0], y, heading], -1)


STRAIGHT_ROAD = np.array([[-50.0, 0.0], [200.0, 0.0]])


def curved_road(kappa: float) -> np.ndarray:
    s = np.linspace(0, 150, 301)
    return np.stack([np.sin(kappa * s) / kappa, (1 - np.cos(kappa * s)) / kappa], -1)


# (name, poses, current speed, centreline, in junction, speed action, path action)
CASES = [
    ("straight constant speed", along_x(10.0), 10.0, STRAIGHT_ROAD, False, "maintain", "keep lane"),
    ("small speed change", along_x(10.0, 0.3), 10.0, STRAIGHT_ROAD, False, "maintain", "keep lane"),
    ("braking to a stop", along_x(8.0, -3.0), 8.0, STRAIGHT_ROAD, False, "stop", "keep lane"),
    ("standing still", along_x(0.0), 0.0, STRAIGHT_ROAD, False, "stop", "keep lane"),
    ("creeping under 1 m", along_x(0.2), 0.2, STRAIGHT_ROAD, False, "stop", "keep lane"),
    ("speeding up", along_x(5.0, 1.5), 5.0, STRAIGHT_ROAD, False, "accelerate", "keep lane"),
    ("starting from rest", along_x(0.0, 2.0), 0.0, STRAIGHT_ROAD, False, "accelerate", "keep lane"),
    ("slowing down", along_x(10.0, -1.5), 10.0, STRAIGHT_ROAD, False, "decelerate", "keep lane"),
    ("left turn at a junction", arc(5.0, 1 / 12.0), 5.0, curved_road(1 / 12.0), True, "maintain", "turn left"),
    ("right turn at a junction", arc(4.0, -1 / 8.25), 4.0, curved_road(-1 / 8.25), True, "maintain", "turn right"),
    ("turn off a straight route", arc(5.0, 1 / 15.0), 5.0, STRAIGHT_ROAD, False, "maintain", "turn left"),
    ("lane change left", shifted(along_x(10.0), 3.5), 10.0, STRAIGHT_ROAD, False, "maintain", "change lane left"),
    ("lane change right", shifted(along_x(10.0), -3.5), 10.0, STRAIGHT_ROAD, False, "maintain", "change lane right"),
    ("drift within the lane", shifted(along_x(10.0), -1.0), 10.0, STRAIGHT_ROAD, False, "maintain", "keep lane"),
    ("curved road, constant speed", arc(11.0, 0.012), 11.0, curved_road(0.012), False, "maintain", "keep lane"),
    ("curved road to the right", arc(11.0, -0.012), 11.0, curved_road(-0.012), False, "maintain", "keep lane"),
]


@pytest.mark.parametrize("name, poses, v0, centerline, junction, speed, path", CASES, ids=[c[0] for c in CASES])
def test_meta_action_table(name, poses, v0, centerline, junction, speed, path):
    label = meta_action(poses, v0, centerline, junction)
    assert (label.speed.action, label.path.action) == (speed, path)
    assert label.text == f"{speed}, {path}"


def test_curve_needs_the_route_to_explain_it():
    # the same curved trajectory: keep lane on the curved road, a turn when the route goes straight
    poses = arc(11.0, 0.012)
    on_curve = path_label(poses, curved_road(0.012), in_junction=False)
    off_route = path_label(poses, STRAIGHT_ROAD, in_junction=False)
    assert on_curve.heading_change > 0.35 and on_curve.action == "keep lane"
    assert on_curve.route_heading_change == pytest.approx(on_curve.heading_change, abs=0.02)
    assert off_route.action == "turn left" and off_route.route_heading_change == pytest.approx(0.0)


def test_lane_change_on_a_curved_road():
    kappa = 0.01
    road = curved_road(kappa)
    poses = arc(10.0, kappa)
    normal = np.stack([-np.sin(poses[:, 2]), np.cos(poses[:, 2])], -1)
    u = np.clip(T / 3.0, 0, 1)
    poses[:, :2] += (3.5 * (0.5 - 0.5 * np.cos(np.pi * u)))[:, None] * normal
    label = path_label(poses, road, in_junction=False)
    assert label.action == "change lane left"
    assert label.lateral_end - label.lateral_start == pytest.approx(3.5, abs=0.1)


def test_decisive_numbers():
    speed = speed_label(along_x(8.0, -3.0), 8.0)
    assert speed.final_speed == pytest.approx(0.0) and speed.travel == pytest.approx(8.0**2 / 6.0)
    speed = speed_label(along_x(5.0, 1.5), 5.0)
    assert speed.late_speed == pytest.approx(5.0 + 1.5 * 3.0) and speed.current_speed == 5.0
    path = path_label(shifted(along_x(10.0), 3.5), STRAIGHT_ROAD, False)
    assert path.lateral_start == pytest.approx(0.0) and path.lateral_end == pytest.approx(3.5)


def test_centreline_shorter_than_the_trajectory_is_extended():
    short = np.array([[-5.0, 0.0], [5.0, 0.0]])
    label = path_label(along_x(12.0), short, False)
    assert label.action == "keep lane" and label.lateral_end == pytest.approx(0.0)


@pytest.mark.parametrize(
    "poses, v0, match",
    [
        (np.zeros((7, 3)), 1.0, "8 poses"),
        (np.full((8, 3), np.nan), 1.0, "NaN"),
        (along_x(5.0), -1.0, "current_speed"),
        (along_x(5.0), np.inf, "current_speed"),
    ],
)
def test_bad_inputs_are_named(poses, v0, match):
    with pytest.raises(ValueError, match=match):
        meta_action(poses, v0, STRAIGHT_ROAD, False)


@pytest.fixture(scope="module")
def synth():
    from elfrl.scoring import PDMScorer
    from elfrl.synth.generate import generate_one

    scorer = PDMScorer(cache_size=2)
    return lambda family, index: generate_one(0, index, (family,), scorer).scene


@pytest.mark.parametrize(
    "family, speeds, path",
    [
        ("static_obstacle", {"accelerate", "maintain"}, "change lane right"),  # the expert passes a parked car
        ("curve", {"accelerate", "maintain"}, "keep lane"),
        ("stopped_lead", {"decelerate", "stop"}, "keep lane"),
    ],
)
def test_synthetic_scenes(synth, family, speeds, path):
    for index in range(2):
        label = scene_meta_action(synth(family, index))
        assert label.speed.action in speeds and label.path.action == path, (family, index, label)


def test_synthetic_junction_turn(synth):
    scene = synth("intersection", 29)  # a green light and a right turn reached within 4 s
    label = scene_meta_action(scene)
    assert label.path.in_junction and label.path.action == "turn right"


def test_scene_without_human_trajectory(synth):
    scene = synth("curve", 0).model_copy(update={"human_trajectory": None})
    with pytest.raises(ValueError, match="no human_trajectory"):
        scene_meta_action(scene)
