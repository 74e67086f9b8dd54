"""The PDM simulation: 8 poses -> 41 reference states -> batched LQR tracker -> kinematic bicycle.

Follows NAVSIM `navsim/evaluate/pdm_score.py` (pose interpolation) and
`PDM/simulation/{pdm_simulator,batch_lqr,batch_lqr_utils,batch_kinematic_bicycle}.py`
(identical in v1.1 and v2). The only departure is algebraic: the tracker's 10-step lateral
model is composed in closed form instead of 10 chained 3x3 products per step, and the
profile fits use `solve` instead of `pinv` (the matrices are symmetric positive definite).
"""

from __future__ import annotations

import numpy as np

from elfrl.scoring.constants import DT, NUM_STATES, PACIFICA, TrackerParams, Vehicle

# State layout, PDM/utils/pdm_enums.py::StateIndex (rear axle; velocity and acceleration in body frame)
X, Y, HEADING, VX, VY, AX, AY, STEER, STEER_RATE, YAW_RATE, YAW_ACCEL = range(11)
STATE_SIZE = 11


def wrap_angle(angle: np.ndarray) -> np.ndarray:
    """PDM `normalize_angle`: arctan2(sin, cos), in [-pi, pi]."""
    return np.arctan2(np.sin(angle), np.cos(angle))


def principal_value(angle: np.ndarray) -> np.ndarray:
    """nuPlan `principal_value`: wrap to [-pi, pi)."""
    return (angle + np.pi) % (2 * np.pi) - np.pi


def initial_state(ego: np.ndarray) -> np.ndarray:
    """[7] ego (x, y, heading, vx, vy, ax, ay) -> [11] state; steering, yaw rate and accel 0."""
    state = np.zeros(STATE_SIZE)
    state[:7] = ego
    return state


def relative_to_absolute(origin: np.ndarray, poses: np.ndarray) -> np.ndarray:
    """Poses [..., 3] in the frame of `origin` [3] -> global poses (nuPlan relative_to_absolute_poses)."""
    c, s = np.cos(origin[2]), np.sin(origin[2])
    rc, rs = np.cos(poses[..., 2]), np.sin(poses[..., 2])
    out = np.empty_like(poses)
    out[..., 0] = c * poses[..., 0] - s * poses[..., 1] + origin[0]
    out[..., 1] = s * poses[..., 0] + c * poses[..., 1] + origin[1]
    out[..., 2] = np.arctan2(s * rc + c * rs, c * rc - s * rs)
    return out


# Each 0.1 s sample i lies on 0.5 s segment SEG[i] at fraction STEP[i]/5. Like scipy's interp1d
# (searchsorted side="left"), a sample on a knot is reached from the segment before it.
_I = np.arange(NUM_STATES)
_SEG = np.maximum(_I - 1, 0) // 5
_STEP = (_I - 5 * _SEG).astype(np.float64)


def interpolate_poses(start: np.ndarray, poses: np.ndarray) -> np.ndarray:
    """Global start pose [3] + global poses [B, 8, 3] at 0.5 s -> [B, 41, 3] at 0.1 s.

    Linear in x, y and the unwrapped heading, as nuPlan's InterpolatedTrajectory.
    """
    knots = np.concatenate([np.broadcast_to(start, (len(poses), 1, 3)), poses], axis=1)  # [B, 9, 3]
    knots = knots.copy()
    knots[..., 2] = np.unwrap(knots[..., 2], axis=1)
    lo, hi = knots[:, _SEG], knots[:, _SEG + 1]
    slope = (hi - lo) / 500000.0  # per microsecond, as interp1d over time_us
    return slope * (100000.0 * _STEP)[None, :, None] + lo


def _solve(lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    return np.linalg.solve(lhs, rhs[..., None])[..., 0]


def fit_profiles(poses: np.ndarray, p: TrackerParams = TrackerParams()) -> tuple[np.ndarray, np.ndarray]:
    """Velocity [B, 40] and curvature [B, 40] profiles of reference poses [B, 41, 3].

    batch_lqr_utils.get_velocity_curvature_profiles_with_derivatives_from_poses: two regularised
    least squares fits (jerk penalty, curvature-rate penalty).
    """
    b, n_poses, _ = poses.shape
    m = n_poses - 1  # 40 displacements
    diff = np.diff(poses, axis=1)
    dxy = diff[..., :2].reshape(b, -1)  # [B, 80] dx0, dy0, dx1, ...
    dheading = wrap_angle(diff[..., 2])  # [B, 40]

    # velocity: x = [v0, a0..a38]; rows 2k, 2k+1 see v0*dt + sum_{j<=k} a_{j-1}*dt^2 along heading k
    col = np.empty((b, 2 * m))
    col[:, 0::2] = np.cos(poses[:, :-1, 2])
    col[:, 1::2] = np.sin(poses[:, :-1, 2])
    lower = np.repeat(np.tril(np.ones((m, m))), 2, axis=0)  # [80, 40]
    a_mat = col[..., None] * DT**2 * lower
    a_mat[..., 0] = col * DT
    # batch_lqr_utils._make_banded_difference_matrix writes `banded[:, 1:] = eye` and then
    # `banded[:, :-1] = -eye`, which overwrites the +1 band except in the last row: the "jerk"
    # penalty upstream is mostly a penalty on the accelerations themselves. Kept for parity.
    banded = np.zeros((m - 2, m - 1))
    banded[:, 1:] = np.eye(m - 2)
    banded[:, :-1] = -np.eye(m - 2)
    diffm = np.concatenate([np.zeros((m - 2, 1)), banded], axis=1)
    at = a_mat.transpose(0, 2, 1)
    x = _solve(at @ a_mat + p.jerk_penalty * (diffm.T @ diffm), np.einsum("bij,bj->bi", at, dxy))
    velocity = x[:, :1] + np.pad(np.cumsum(x[:, 1:] * DT, axis=-1), ((0, 0), (1, 0)))  # [B, 40]

    # curvature: x = [k0, kdot0..kdot38]; dheading_i = v_i*dt*k0 + sum_{1<=j<=i} v_i*dt^2*kdot_{j-1}
    a_mat = np.repeat(np.tri(m)[None], b, axis=0)
    a_mat[:, :, 0] = velocity * DT
    a_mat[:, 1:, 1:] *= (velocity * DT**2)[:, 1:, None]
    q = p.curvature_rate_penalty * np.eye(m)
    q[0, 0] = p.initial_curvature_penalty
    at = a_mat.transpose(0, 2, 1)
    x = _solve(at @ a_mat + q, np.einsum("bij,bj->bi", at, dheading))
    curvature = x[:, :1] + np.pad(np.cumsum(x[:, 1:] * DT, axis=-1), ((0, 0), (1, 0)))
    return velocity, curvature


def _lateral_lqr(
    lateral_state: np.ndarray, velocity: np.ndarray, curvature: np.ndarray, p: TrackerParams, wheel_base: float
) -> np.ndarray:
    """Steering-rate command [B] of BatchLQRTracker._lateral_lqr_controller, composed in closed form.

    The per-step matrices M_k = I + v_k*dt*E01 + v_k*dt/L*E12 are unipotent upper triangular, so
    the product over the horizon needs only suffix sums. velocity, curvature: [B, H].
    """
    pk = velocity * DT  # [B, H] entry (0, 1) of M_k
    qk = velocity * DT / wheel_base  # entry (1, 2)
    wk = -velocity * curvature * DT  # affine term on the heading error
    # suffix sums over j > k: sp[k] = sum p_j, sq[k] = sum q_j, c[k] = sum_{k<i<j} p_j q_i
    sp = np.cumsum(pk[:, ::-1], axis=1)[:, ::-1] - pk
    sq = np.cumsum(qk[:, ::-1], axis=1)[:, ::-1] - qk
    c = np.cumsum((qk * sp)[:, ::-1], axis=1)[:, ::-1] - qk * sp
    b0, b1, b2 = DT * c.sum(axis=1), DT * sq.sum(axis=1), DT * velocity.shape[1]
    g0, g1 = (wk * sp).sum(axis=1), wk.sum(axis=1)
    sp_all, sq_all = sp[:, 0] + pk[:, 0], sq[:, 0] + qk[:, 0]
    c_all = c[:, 0] + qk[:, 0] * sp[:, 0]
    e_lat, e_head, steer = lateral_state.T
    err0 = e_lat + sp_all * e_head + c_all * steer + g0
    err1 = wrap_angle(e_head + sq_all * steer + g1)
    err2 = wrap_angle(steer)
    q0, q1, q2 = p.q_lateral
    return -(b0 * q0 * err0 + b1 * q1 * err1 + b2 * q2 * err2) / (
        b0 * q0 * b0 + b1 * q1 * b1 + b2 * q2 * b2 + p.r_lateral
    )


def simulate(
    start: np.ndarray,
    reference: np.ndarray,
    params: TrackerParams = TrackerParams(),
    vehicle: Vehicle = PACIFICA,
) -> np.ndarray:
    """Track reference poses [B, 41, 3] from the initial state [11] -> simulated states [B, 41, 11].

    PDMSimulator.simulate_proposals: at step i the LQR tracker computes (accel, steering rate)
    from state i-1 and the reference at i-1; the bicycle model propagates 0.1 s.
    """
    p = params
    b = len(reference)
    velocity, curvature = fit_profiles(reference, p)  # [B, 40]
    n_prof = velocity.shape[1]
    steps = np.arange(NUM_STATES - 1)
    ref_velocity = velocity[:, np.minimum(steps + p.tracking_horizon, n_prof - 1)]  # [B, 40]
    window = np.minimum(steps[:, None] + np.arange(p.tracking_horizon)[None], n_prof - 1)
    curv_window = curvature[:, window]  # [B, 40, H]
    horizon_steps = np.arange(1, p.tracking_horizon)
    long_gain = -1.0 / (p.tracking_horizon * DT * p.q_longitudinal * p.tracking_horizon * DT + p.r_longitudinal)
    long_gain = long_gain * (p.tracking_horizon * DT) * p.q_longitudinal
    accel_filter = DT / (DT + p.accel_time_constant)
    steer_filter = DT / (DT + p.steering_angle_time_constant)
    L = vehicle.wheel_base

    out = np.zeros((b, NUM_STATES, STATE_SIZE))
    out[:, 0] = start
    s = out[:, 0].copy()
    for i in range(NUM_STATES - 1):
        r = reference[:, i]
        dx, dy = s[:, X] - r[:, X], s[:, Y] - r[:, Y]
        lateral = np.stack(
            [-dx * np.sin(r[:, HEADING]) + dy * np.cos(r[:, HEADING]), wrap_angle(s[:, HEADING] - r[:, HEADING]), s[:, STEER]],
            axis=-1,
        )
        v, v_ref = s[:, VX], ref_velocity[:, i]
        stop = (v_ref <= p.stopping_velocity) & (v <= p.stopping_velocity)
        accel_cmd = np.where(stop, -p.stopping_proportional_gain * (v - v_ref), long_gain * (v - v_ref))
        v_profile = np.concatenate(
            [v[:, None], v[:, None] + np.cumsum(np.repeat(accel_cmd[:, None] * DT, len(horizon_steps), 1), 1)], 1
        )
        steer_rate_cmd = np.where(stop, 0.0, _lateral_lqr(lateral, v_profile, curv_window[:, i], p, L))

        # BatchKinematicBicycleModel.propagate_state: low-pass the commands, then explicit Euler
        # with the OLD speed and steering angle for the pose.
        accel = accel_filter * (accel_cmd - s[:, AX]) + s[:, AX]
        steer_ideal = DT * steer_rate_cmd + s[:, STEER]
        steer_rate = (steer_filter * (steer_ideal - s[:, STEER]) + s[:, STEER] - s[:, STEER]) / DT
        n = out[:, i + 1]
        n[:, X] = s[:, X] + v * np.cos(s[:, HEADING]) * DT
        n[:, Y] = s[:, Y] + v * np.sin(s[:, HEADING]) * DT
        n[:, HEADING] = principal_value(s[:, HEADING] + v * np.tan(s[:, STEER]) / L * DT)
        n[:, VX] = v + accel * DT
        n[:, VY] = 0.0
        n[:, STEER] = np.clip(s[:, STEER] + steer_rate * DT, -p.max_steering_angle, p.max_steering_angle)
        n[:, YAW_RATE] = n[:, VX] * np.tan(n[:, STEER]) / L
        n[:, AX] = accel
        n[:, AY] = 0.0
        n[:, YAW_ACCEL] = (n[:, YAW_RATE] - s[:, YAW_RATE]) / DT
        n[:, STEER_RATE] = steer_rate
        s = n
    return out
