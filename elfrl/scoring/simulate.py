"""The PDM simulation: 8 poses -> 41 reference states -> batched LQR tracker -> kinematic bicycle.

Follows NAVSIM `navsim/evaluate/pdm_score.py` (pose interpolation) and
`PDM/simulation/{pdm_simulator,batch_lqr,batch_lqr_utils,batch_kinematic_bicycle}.py`
(identical in v1.1 and v2). The per-step loop is compiled with numba (one proposal at a
time, the same operations as upstream); the profile fits use `solve` instead of `pinv` (the
matrices are symmetric positive definite).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit

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


def _banded_difference(m: int) -> np.ndarray:
    """batch_lqr_utils regulariser R [m - 2, m] of the velocity fit.

    Upstream `_make_banded_difference_matrix` writes `banded[:, 1:] = eye` and then
    `banded[:, :-1] = -eye`, which overwrites the +1 band except in the last row: the "jerk"
    penalty is mostly a penalty on the accelerations themselves. Kept for parity.
    """
    banded = np.zeros((m - 2, m - 1))
    banded[:, 1:] = np.eye(m - 2)
    banded[:, :-1] = -np.eye(m - 2)
    return np.concatenate([np.zeros((m - 2, 1)), banded], axis=1)


@lru_cache(maxsize=8)
def _velocity_fit_operator(m: int, jerk_penalty: float) -> np.ndarray:
    """[m, m] matrix taking along-heading displacements [m] to x = [v0, a0 .. a_{m-2}].

    _fit_initial_velocity_and_acceleration_profile minimises ||y - A x||^2 + lambda ||R x||^2
    with rows 2k, 2k+1 of A equal to (cos, sin)(heading_k) * c(k), c(k) = [dt, dt^2 (j <= k)].
    Since cos^2 + sin^2 = 1, A^T A = C^T C does not depend on the headings and A^T y = C^T proj
    with proj_k = (cos, sin)(heading_k) . (dx_k, dy_k): one fixed operator for every trajectory.
    """
    c = np.tril(np.ones((m, m))) * DT**2
    c[:, 0] = DT
    r = _banded_difference(m)
    op = np.linalg.solve(c.T @ c + jerk_penalty * (r.T @ r), c.T)
    op.setflags(write=False)
    return op


@njit(cache=True)
def _integrate(x, out):
    """_generate_profile_from_initial_condition_and_derivatives: x[0] + cumsum(x[1:] * dt)."""
    acc = 0.0
    out[0] = x[0]
    for j in range(1, x.shape[0]):
        acc += x[j] * DT
        out[j] = x[0] + acc


@njit(cache=True)
def _fit(poses, velocity_operator, rate_penalty, initial_penalty):
    """Velocity and curvature profiles [B, m] of reference poses [B, m + 1, 3]
    (batch_lqr_utils.get_velocity_curvature_profiles_with_derivatives_from_poses).

    Velocity: x = [v0, a0 .. a_{m-2}] = velocity_operator @ proj, proj_k = heading_k . (dx, dy)_k
    (see _velocity_fit_operator). Curvature: x = [k0, kdot_0 .. kdot_{m-2}] minimising
    ||A x - dheading||^2 + x^T Q x with A[i, 0] = v_i dt, A[i, j] = v_i dt^2 (1 <= j <= i),
    Q = diag(initial_penalty, rate_penalty, ...). With z = D x (D = diag(dt, dt^2, ...)) and
    w = cumsum(z), A x = v * w, so the normal equations in w are tridiagonal:
    (v_i^2 + c_i + c_{i+1}) w_i - c_i w_{i-1} - c_{i+1} w_{i+1} = v_i y_i, c_j = Q_j / D_j^2,
    solved by the Thomas algorithm (the matrix is diagonally dominant).
    """
    n_b, m = poses.shape[0], poses.shape[1] - 1
    velocity = np.empty((n_b, m))
    curvature = np.empty((n_b, m))
    c = np.full(m + 1, rate_penalty / DT**4)
    c[0] = initial_penalty / DT**2
    c[m] = 0.0
    proj = np.empty(m)
    dheading = np.empty(m)
    sub = np.empty(m)
    rhs = np.empty(m)
    w = np.empty(m)
    x = np.empty(m)
    for b in range(n_b):
        for k in range(m):
            h = poses[b, k, 2]
            proj[k] = np.cos(h) * (poses[b, k + 1, 0] - poses[b, k, 0]) + np.sin(h) * (poses[b, k + 1, 1] - poses[b, k, 1])
            dh = poses[b, k + 1, 2] - h
            dheading[k] = np.arctan2(np.sin(dh), np.cos(dh))
        _integrate(velocity_operator @ proj, velocity[b])
        v = velocity[b]
        for i in range(m):  # forward sweep
            diag = v[i] ** 2 + c[i] + c[i + 1]
            r = v[i] * dheading[i]
            if i > 0:
                diag -= c[i] * sub[i - 1]
                r += c[i] * rhs[i - 1]
            sub[i] = c[i + 1] / diag
            rhs[i] = r / diag
        w[m - 1] = rhs[m - 1]
        for i in range(m - 2, -1, -1):
            w[i] = rhs[i] + sub[i] * w[i + 1]
        x[0] = w[0] / DT
        for j in range(1, m):
            x[j] = (w[j] - w[j - 1]) / DT**2
        _integrate(x, curvature[b])
    return velocity, curvature


def fit_profiles(poses: np.ndarray, p: TrackerParams = TrackerParams()) -> tuple[np.ndarray, np.ndarray]:
    """Velocity [B, 40] and curvature [B, 40] profiles of reference poses [B, 41, 3]: two
    regularised least squares fits (acceleration penalty, curvature-rate penalty)."""
    poses = np.ascontiguousarray(poses, dtype=np.float64)
    op = _velocity_fit_operator(poses.shape[1] - 1, p.jerk_penalty)
    return _fit(poses, op, p.curvature_rate_penalty, p.initial_curvature_penalty)


@njit(cache=True)
def _lateral_lqr(e_lat, e_head, steer, v, u, curvature, step, horizon, dt, wheel_base, q, r):
    """BatchLQRTracker._lateral_lqr_controller for one proposal.

    Composes the horizon's linear time-varying lateral model x_{k+1} = M_k x_k + B steer_rate
    + aff_k, linearised at speeds v_k = v + k*u, into (A, B, g) by the same recursion as
    upstream (A <- M A, B <- M B + in, g <- M g + aff), then solves the one-step LQR on the
    wrapped error. M_k = I + v_k*dt*E01 + v_k*dt/L*E12 is unipotent upper triangular, so only
    its three free entries are carried (the other products are exact zeros and ones). The
    curvature window is curvature[step : step + horizon], padded with the last profile value.
    """
    last = curvature.shape[0] - 1
    a01 = a02 = a12 = 0.0
    b0 = b1 = b2 = 0.0
    g0 = g1 = 0.0
    vk = v
    for k in range(horizon):
        p = vk * dt
        qq = vk * dt / wheel_base
        a01, a02, a12 = a01 + p, a02 + p * a12, a12 + qq
        b0, b1, b2 = b0 + p * b1, b1 + qq * b2, b2 + dt
        g0, g1 = g0 + p * g1, g1 + -vk * curvature[min(step + k, last)] * dt
        vk = vk + u
    e0 = e_lat + a01 * e_head + a02 * steer + g0
    e1 = e_head + a12 * steer + g1
    e1 = np.arctan2(np.sin(e1), np.cos(e1))
    e2 = np.arctan2(np.sin(steer), np.cos(steer))
    num = b0 * q[0] * e0 + b1 * q[1] * e1 + b2 * q[2] * e2
    den = b0 * q[0] * b0 + b1 * q[1] * b1 + b2 * q[2] * b2 + r
    return -num / den


@njit(cache=True)
def _track(start, reference, velocity, curvature, horizon, dt, wheel_base, q_lat, r_lat, long_gain,
           stop_velocity, stop_gain, accel_filter, steer_filter, max_steer):
    """PDMSimulator.simulate_proposals loop: LQR tracker + kinematic bicycle, per proposal."""
    n_b, n_t = reference.shape[0], reference.shape[1]
    out = np.zeros((n_b, n_t, 11))
    for bi in range(n_b):
        out[bi, 0] = start
        s = out[bi, 0]
        for i in range(n_t - 1):
            rx, ry, rh = reference[bi, i, 0], reference[bi, i, 1], reference[bi, i, 2]
            dx, dy = s[0] - rx, s[1] - ry
            e_lat = -dx * np.sin(rh) + dy * np.cos(rh)
            e_head = np.arctan2(np.sin(s[2] - rh), np.cos(s[2] - rh))
            v, v_ref = s[3], velocity[bi, min(i + horizon, velocity.shape[1] - 1)]
            if v_ref <= stop_velocity and v <= stop_velocity:
                accel_cmd = -stop_gain * (v - v_ref)
                steer_rate_cmd = 0.0
            else:
                accel_cmd = long_gain * (v - v_ref)
                steer_rate_cmd = _lateral_lqr(
                    e_lat, e_head, s[7], v, accel_cmd * dt, curvature[bi], i, horizon, dt, wheel_base, q_lat, r_lat
                )
            # BatchKinematicBicycleModel.propagate_state: low-pass the commands, then explicit
            # Euler with the OLD speed and steering angle for the pose.
            n = out[bi, i + 1]
            accel = accel_filter * (accel_cmd - s[5]) + s[5]
            steer_rate = (steer_filter * (dt * steer_rate_cmd + s[7] - s[7]) + s[7] - s[7]) / dt
            n[0] = s[0] + v * np.cos(s[2]) * dt
            n[1] = s[1] + v * np.sin(s[2]) * dt
            n[2] = (s[2] + v * np.tan(s[7]) / wheel_base * dt + np.pi) % (2 * np.pi) - np.pi
            n[3] = v + accel * dt
            n[5] = accel
            n[7] = min(max(s[7] + steer_rate * dt, -max_steer), max_steer)
            n[8] = steer_rate
            n[9] = n[3] * np.tan(n[7]) / wheel_base
            n[10] = (n[9] - s[9]) / dt
            s = n
    return out


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
    reference = np.ascontiguousarray(reference, dtype=np.float64)
    if len(reference) == 0:
        return np.zeros((0, reference.shape[1], STATE_SIZE))
    velocity, curvature = fit_profiles(reference, p)  # [B, 40]
    horizon = p.tracking_horizon * DT
    long_gain = -1.0 / (horizon * p.q_longitudinal * horizon + p.r_longitudinal) * horizon * p.q_longitudinal
    return _track(
        np.asarray(start, dtype=np.float64),
        reference,
        velocity,
        curvature,
        p.tracking_horizon,
        DT,
        vehicle.wheel_base,
        np.array(p.q_lateral, dtype=np.float64),
        p.r_lateral,
        long_gain,
        p.stopping_velocity,
        p.stopping_proportional_gain,
        DT / (DT + p.accel_time_constant),
        DT / (DT + p.steering_angle_time_constant),
        p.max_steering_angle,
    )
