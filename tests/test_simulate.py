"""The PDM simulation: pose interpolation, frames, profile fits, the lateral LQR and the tracker loop.

The fits and the LQR are checked against slow, literal re-statements of the upstream code
(nuplan lqr_utils / PDM batch_lqr_utils.py and batch_lqr.py), written out here.
"""

import numpy as np
import pytest

from elfrl.scoring.constants import DT, PACIFICA, TrackerParams
from elfrl.scoring.simulate import (
    HEADING,
    STATE_SIZE,
    VX,
    X,
    Y,
    _lateral_lqr,
    fit_profiles,
    initial_state,
    interpolate_poses,
    relative_to_absolute,
    simulate,
    wrap_angle,
)

PI = np.pi
START = np.array([100.0, -50.0, 0.4])


def _random_poses(rng, b=3):
    """Global poses [b, 8, 3] wandering away from START."""
    steps = rng.uniform(1.0, 4.0, (b, 8, 1)) * np.stack([np.cos(np.linspace(0, 1, 8)), np.sin(np.linspace(0, 1, 8))], -1)
    xy = START[:2] + np.cumsum(steps, axis=1)
    heading = rng.uniform(-PI, PI, (b, 8, 1))
    return np.concatenate([xy, heading], axis=-1)


def test_interpolate_poses_knots_start_and_midpoints():
    poses = _random_poses(np.random.default_rng(0))
    out = interpolate_poses(START, poses)
    assert out.shape == (3, 41, 3)
    np.testing.assert_array_equal(out[:, 0], np.broadcast_to(START, (3, 3)))
    knots = out[:, 5::5]  # t = 0.5 .. 4.0 s
    np.testing.assert_allclose(knots[..., :2], poses[..., :2], rtol=0, atol=1e-9)
    np.testing.assert_allclose(wrap_angle(knots[..., 2] - poses[..., 2]), 0.0, rtol=0, atol=1e-9)  # modulo 2 pi
    # between knots: linear in x, y and the unwrapped heading
    full = np.concatenate([out[:, :1], knots], axis=1)  # [B, 9, 3]
    for j in range(1, 5):
        np.testing.assert_allclose(out[:, j::5][:, :8], full[:, :-1] + j / 5 * (full[:, 1:] - full[:, :-1]), rtol=0, atol=1e-9)


# (name, start heading, heading of every pose, expected heading at index 1 (0.1 s))
WRAP_CASES = [
    ("3.1 to -3.1 via pi", 3.1, -3.1, 3.1 + 0.2 * (2 * PI - 6.2)),
    ("-3.1 to 3.1 via -pi", -3.1, 3.1, -3.1 - 0.2 * (2 * PI - 6.2)),
    ("0.1 to -0.1 via 0", 0.1, -0.1, 0.1 - 0.2 * 0.2),
]


@pytest.mark.parametrize("name, h0, h1, expected", WRAP_CASES, ids=[c[0] for c in WRAP_CASES])
def test_interpolate_poses_heading_wrap(name, h0, h1, expected):
    poses = np.zeros((1, 8, 3))
    poses[0, :, 0] = np.arange(1, 9) * 2.0
    poses[0, :, 2] = h1
    out = interpolate_poses(np.array([0.0, 0.0, h0]), poses)
    assert out[0, 1, 2] == pytest.approx(expected, abs=1e-12)
    assert np.abs(np.diff(out[0, :, 2])).max() < 0.1  # never sweeps the long way round
    assert wrap_angle(out[0, 40, 2] - h1) == pytest.approx(0.0, abs=1e-12)


# (name, origin, relative pose, expected global pose)
FRAME_CASES = [
    ("identity", (0.0, 0.0, 0.0), (1.0, 2.0, 0.3), (1.0, 2.0, 0.3)),
    ("north, ahead", (10.0, 5.0, PI / 2), (1.0, 0.0, 0.0), (10.0, 6.0, PI / 2)),
    ("north, left", (10.0, 5.0, PI / 2), (0.0, 1.0, 0.0), (9.0, 5.0, PI / 2)),
    ("north, turned right", (10.0, 5.0, PI / 2), (0.0, 0.0, -PI / 2), (10.0, 5.0, 0.0)),
    ("south", (1.0, 2.0, -PI / 2), (2.0, 1.0, 0.0), (2.0, 0.0, -PI / 2)),
    ("west, turned left", (1.0, 2.0, PI), (1.0, 1.0, PI / 2), (0.0, 1.0, -PI / 2)),
    ("heading wraps", (0.0, 0.0, 3.0), (0.0, 0.0, 1.0), (0.0, 0.0, 4.0 - 2 * PI)),
    ("45 deg", (0.0, 0.0, PI / 4), (np.sqrt(2.0), 0.0, 0.0), (1.0, 1.0, PI / 4)),
]


@pytest.mark.parametrize("name, origin, rel, expected", FRAME_CASES, ids=[c[0] for c in FRAME_CASES])
def test_relative_to_absolute(name, origin, rel, expected):
    out = relative_to_absolute(np.array(origin), np.array([[rel, rel]]))  # [1, 2, 3]
    assert out.shape == (1, 2, 3)
    np.testing.assert_allclose(out[0], [expected, expected], rtol=0, atol=1e-12)


# ---- profile fits: the upstream least squares, literally ----------------------------------------


def _upstream_banded_difference(number_rows):
    """_make_banded_difference_matrix: the second write overwrites most of the first (kept upstream)."""
    banded = np.zeros((number_rows, number_rows + 1))
    eye = np.eye(number_rows)
    banded[:, 1:] = eye
    banded[:, :-1] = -eye
    return banded


def _upstream_profiles(poses, dt=DT, jerk_penalty=1e-4, curvature_rate_penalty=1e-2, initial_curvature_penalty=1e-10):
    """get_velocity_curvature_profiles_with_derivatives_from_poses for one trajectory [N, 3]."""
    diff = np.diff(poses, axis=0)
    xy_displacements, heading_displacements = diff[:, :2], wrap_angle(diff[:, 2])
    heading_profile = poses[:-1, 2]

    # _fit_initial_velocity_and_acceleration_profile
    m = len(heading_profile)
    y = xy_displacements.flatten()
    A = np.zeros((2 * m, m))
    for k, heading in enumerate(heading_profile):
        A[2 * k : 2 * k + 2, 0] = [np.cos(heading) * dt, np.sin(heading) * dt]
        if k > 0:
            A[2 * k : 2 * k + 2, 1 : 1 + k] = np.array([[np.cos(heading) * dt**2], [np.sin(heading) * dt**2]])
    banded = _upstream_banded_difference(m - 2)
    R = np.block([np.zeros((len(banded), 1)), banded])
    x = np.linalg.pinv(A.T @ A + jerk_penalty * R.T @ R) @ A.T @ y
    velocity = np.cumsum(np.concatenate([[x[0]], x[1:] * dt]))

    # _fit_initial_curvature_and_curvature_rate_profile
    y = heading_displacements
    A = np.tri(len(y))
    A[:, 0] = velocity * dt
    for k, v in enumerate(velocity):
        if k > 0:
            A[k, 1:] *= v * dt**2
    Q = curvature_rate_penalty * np.eye(len(y))
    Q[0, 0] = initial_curvature_penalty
    x = np.linalg.pinv(A.T @ A + Q) @ A.T @ y
    curvature = np.cumsum(np.concatenate([[x[0]], x[1:] * dt]))
    return velocity, curvature


def _smooth_trajectories(rng, b):
    """[b, 41, 3] rear-axle poses of smooth drives: speed, curvature and heading noise vary."""
    t = np.arange(41) * DT
    out = np.zeros((b, 41, 3))
    for i in range(b):
        speed = rng.uniform(1.0, 15.0) + rng.uniform(-2.0, 2.0) * t + rng.uniform(-0.3, 0.3) * t**2
        curvature = rng.uniform(-0.1, 0.1) + rng.uniform(-0.02, 0.02) * t
        heading = rng.uniform(-PI, PI) + np.concatenate([[0.0], np.cumsum(speed[:-1] * curvature[:-1] * DT)])
        step = np.stack([np.cos(heading), np.sin(heading)], -1) * speed[:, None] * DT
        out[i, :, :2] = rng.uniform(-1e3, 1e3, 2) + np.concatenate([[[0.0, 0.0]], np.cumsum(step[:-1], 0)])
        out[i, :, 2] = wrap_angle(heading + rng.normal(0.0, 0.01, 41))
    return out


def test_fit_profiles_match_upstream_least_squares():
    poses = _smooth_trajectories(np.random.default_rng(7), 6)
    p = TrackerParams()
    velocity, curvature = fit_profiles(poses, p)
    assert velocity.shape == curvature.shape == (6, 40)
    for b in range(len(poses)):
        v, k = _upstream_profiles(
            poses[b], DT, p.jerk_penalty, p.curvature_rate_penalty, p.initial_curvature_penalty
        )
        np.testing.assert_allclose(velocity[b], v, rtol=0, atol=1e-9)
        np.testing.assert_allclose(curvature[b], k, rtol=0, atol=1e-9)


def test_fit_profiles_straight_and_still():
    t = np.arange(41) * DT
    poses = np.zeros((2, 41, 3))
    poses[0, :, 0] = 8.0 * t  # 8 m/s along x
    poses[1, :, :] = [3.0, 4.0, 1.0]  # standing still
    velocity, curvature = fit_profiles(poses)
    np.testing.assert_allclose(velocity, [[8.0] * 40, [0.0] * 40], rtol=0, atol=1e-9)
    np.testing.assert_allclose(curvature, 0.0, rtol=0, atol=1e-12)


# ---- lateral LQR: the upstream 3x3 matrix chain, literally ---------------------------------------


def _upstream_lateral_lqr(e_lat, e_head, steer, v, u, curvature, dt, wheel_base, q, r):
    A, B, g = np.eye(3), np.zeros(3), np.zeros(3)
    for k, kappa in enumerate(curvature):
        vk = v + k * u
        M = np.eye(3)
        M[0, 1] = vk * dt
        M[1, 2] = vk * dt / wheel_base
        A = M @ A
        B = M @ B + np.array([0.0, 0.0, dt])
        g = M @ g + np.array([0.0, -vk * kappa * dt, 0.0])
    e = A @ np.array([e_lat, e_head, steer]) + g
    e[1:] = np.arctan2(np.sin(e[1:]), np.cos(e[1:]))
    Q = np.diag(q)
    return -(B @ Q @ e) / (B @ Q @ B + r)


def test_lateral_lqr_matches_matrix_chain():
    rng = np.random.default_rng(3)
    p = TrackerParams()
    q = np.array(p.q_lateral)
    for _ in range(200):
        args = (
            rng.normal(0.0, 1.0),  # lateral error
            rng.uniform(-PI, PI),  # heading error
            rng.uniform(-1.0, 1.0),  # steering angle
            rng.uniform(-2.0, 20.0),  # speed
            rng.normal(0.0, 0.3),  # speed increment per step
        )
        profile = rng.normal(0.0, 0.1, 40)  # curvature profile
        step = int(rng.integers(0, 40))
        # upstream window: profile[step : step + 10], padded with profile[min(step + 10, 39)]
        ref_idx = min(step + p.tracking_horizon, 39)
        window = np.full(p.tracking_horizon, profile[ref_idx])
        window[: ref_idx - step] = profile[step:ref_idx]
        got = _lateral_lqr(*args, profile, step, p.tracking_horizon, DT, PACIFICA.wheel_base, q, p.r_lateral)
        expected = _upstream_lateral_lqr(*args, window, DT, PACIFICA.wheel_base, q, p.r_lateral)
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)


# ---- the tracker loop ----------------------------------------------------------------------------


def test_simulate_straight_constant_speed_stays_on_line():
    t = np.arange(41) * DT
    reference = np.zeros((2, 41, 3))
    reference[:, :, 0] = 10.0 * t
    start = initial_state(np.array([0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 0.0]))
    states = simulate(start, reference)
    assert states.shape == (2, 41, STATE_SIZE)
    np.testing.assert_array_equal(states[:, 0], np.broadcast_to(start, (2, STATE_SIZE)))
    assert np.abs(states[..., Y]).max() < 1e-6
    assert np.abs(states[..., HEADING]).max() < 1e-9
    np.testing.assert_allclose(states[..., VX], 10.0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(states[..., X], np.broadcast_to(10.0 * t, (2, 41)), rtol=0, atol=1e-9)


def test_simulate_stationary_stays_put():
    start = initial_state(np.array([5.0, -3.0, 2.0, 0.0, 0.0, 0.0, 0.0]))
    reference = np.broadcast_to(start[:3], (1, 41, 3)).copy()
    states = simulate(start, reference)
    assert states.shape == (1, 41, STATE_SIZE)
    np.testing.assert_array_equal(states[0], np.broadcast_to(start, (41, STATE_SIZE)))


def test_simulate_empty_batch_and_start_row():
    start = initial_state(np.array([1.0, 2.0, 0.5, 3.0, 0.1, 0.2, 0.3]))
    assert simulate(start, np.zeros((0, 41, 3))).shape == (0, 41, STATE_SIZE)
    reference = _smooth_trajectories(np.random.default_rng(11), 4)
    states = simulate(start, reference)
    assert states.shape == (4, 41, STATE_SIZE)
    np.testing.assert_array_equal(states[:, 0], np.broadcast_to(start, (4, STATE_SIZE)))
    assert np.isfinite(states).all()
