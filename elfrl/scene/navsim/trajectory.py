"""Ego state and trajectories of a metric cache: the current ego, ego rows, the PDM-Closed reference, poses."""

from __future__ import annotations

from typing import Any

import numpy as np

from elfrl.scene.navsim.common import REFERENCE_HORIZON_S, STEP_S, NavsimExportError, _attr, _has, _wrap
from elfrl.scene.schema import NUM_REFERENCE_STATES, EgoState


def ego_from_state(ego_state: Any, where: str) -> EgoState:
    """nuPlan EgoState -> scene-pack ego: rear-axle pose (global), body-frame velocity and acceleration."""
    row = _ego_row(ego_state, 0, where, "metric_cache.ego_state")
    return EgoState(x=row[1], y=row[2], heading=row[3], vx=row[4], vy=row[5], ax=row[6], ay=row[7])


def _ego_row(state: Any, t0_us: int, where: str, name: str) -> list[float]:
    """[t, x, y, heading, vx, vy, ax, ay] of an EgoState, t in seconds relative to t0_us."""
    return [
        (int(_attr(state, name, "time_point.time_us", where)) - t0_us) / 1e6,
        float(_attr(state, name, "rear_axle.x", where)),
        float(_attr(state, name, "rear_axle.y", where)),
        float(_attr(state, name, "rear_axle.heading", where)),
        float(_attr(state, name, "dynamic_car_state.rear_axle_velocity_2d.x", where)),
        float(_attr(state, name, "dynamic_car_state.rear_axle_velocity_2d.y", where)),
        float(_attr(state, name, "dynamic_car_state.rear_axle_acceleration_2d.x", where)),
        float(_attr(state, name, "dynamic_car_state.rear_axle_acceleration_2d.y", where)),
    ]


def _sampled_states(trajectory: Any, name: str, where: str) -> list:
    states = list(_attr(trajectory, name, "get_sampled_trajectory", where)())
    if len(states) < 2:
        raise NavsimExportError(f"{where}: `{name}` holds {len(states)} states; an InterpolatedTrajectory has >= 2")
    return states


def reference_from_trajectory(trajectory: Any, start_us: int, where: str) -> list[list[float]]:
    """PDM-Closed InterpolatedTrajectory -> 41 rear-axle poses at t0 + 0.0..4.0 s.

    Sampled like `get_trajectory_as_array` (navsim/evaluate/pdm_score.py): times
    `arange(0, 4.0 + 0.1, 0.1) + t0` in seconds, to integer microseconds, clipped to the
    trajectory's time span; x, y linear in time, heading linear after unwrapping and wrapped back
    (InterpolatedTrajectory + AngularInterpolator, nuplan/common/geometry/compute.py).
    """
    states = _sampled_states(trajectory, "metric_cache.trajectory", where)
    name = "metric_cache.trajectory[i]"
    t_us = np.array([int(_attr(s, name, "time_point.time_us", where)) for s in states], dtype=np.float64)
    if np.any(np.diff(t_us) <= 0):
        raise NavsimExportError(f"{where}: `metric_cache.trajectory` state times must increase strictly")
    xyh = np.array(
        [[_attr(s, name, f"rear_axle.{k}", where) for k in ("x", "y", "heading")] for s in states], dtype=np.float64
    )
    times_s = np.arange(0.0, REFERENCE_HORIZON_S + STEP_S, STEP_S) + start_us * 1e-6  # TimePoint.time_s
    times_us = np.clip([int(t * 1e6) for t in times_s], t_us[0], t_us[-1]).astype(np.float64)
    if len(times_us) != NUM_REFERENCE_STATES:  # guards the float arange
        raise NavsimExportError(f"{where}: sampled {len(times_us)} reference times, expected {NUM_REFERENCE_STATES}")
    x = np.interp(times_us, t_us, xyh[:, 0])
    y = np.interp(times_us, t_us, xyh[:, 1])
    h = _wrap(np.interp(times_us, t_us, np.unwrap(xyh[:, 2])))
    return np.stack([x, y, h], axis=1).tolist()


def _poses(seq: Any, name: str, where: str) -> list[list[float]]:
    """StateSE2 objects (.x, .y, .heading) or an [N, >=3] array -> [[x, y, heading], ...]."""
    items = list(seq)
    if items and _has(items[0], "x"):
        return [[float(_attr(p, f"{name}[i]", k, where)) for k in ("x", "y", "heading")] for p in items]
    arr = np.asarray(items, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 3:
        raise NavsimExportError(f"{where}: `{name}` must be StateSE2 poses or an [N, 3] array, got shape {arr.shape}")
    return arr[:, :3].tolist()
