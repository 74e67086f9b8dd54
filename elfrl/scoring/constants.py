"""Constants of the NAVSIM PDM scorer, with the upstream file each one is read from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DT = 0.1  # proposal sampling: 40 poses at 0.1 s (config/pdm_scoring/default_scoring_parameters.yaml)
NUM_STATES = 41  # t = 0.0 .. 4.0 s
POSE_DT = 0.5  # model output: 8 poses at 0.5 s (navsim/common/dataclasses.py::Trajectory)


@dataclass(frozen=True)
class Vehicle:
    """nuPlan `get_pacifica_parameters()` (nuplan/common/actor_state/vehicle_parameters.py)."""

    width: float = 1.1485 * 2.0
    front_length: float = 4.049
    rear_length: float = 1.127
    wheel_base: float = 3.089

    @property
    def half_width(self) -> float:
        return self.width / 2.0

    @property
    def half_length(self) -> float:
        return (self.front_length + self.rear_length) / 2.0

    @property
    def rear_axle_to_center(self) -> float:
        return (self.front_length - self.rear_length) / 2.0


PACIFICA = Vehicle()


@dataclass(frozen=True)
class TrackerParams:
    """PDM/simulation/batch_lqr.py::BatchLQRTracker and batch_kinematic_bicycle.py defaults."""

    q_longitudinal: float = 10.0
    r_longitudinal: float = 1.0
    q_lateral: tuple[float, float, float] = (1.0, 10.0, 0.0)
    r_lateral: float = 1.0
    tracking_horizon: int = 10
    jerk_penalty: float = 1e-4
    curvature_rate_penalty: float = 1e-2
    initial_curvature_penalty: float = 1e-10  # batch_lqr_utils.py::INITIAL_CURVATURE_PENALTY
    stopping_proportional_gain: float = 0.5
    stopping_velocity: float = 0.2
    max_steering_angle: float = np.pi / 3
    accel_time_constant: float = 0.2
    steering_angle_time_constant: float = 0.05


@dataclass(frozen=True)
class MetricParams:
    """PDMScorerConfig (v1.1 and v2) and nuPlan collision constants."""

    driving_direction_horizon_steps: int = 10  # int(1.0 s / 0.1 s)
    driving_direction_compliance_threshold: float = 2.0  # m
    driving_direction_violation_threshold: float = 6.0  # m
    ttc_stopped_speed_threshold: float = 5e-3  # m/s
    collision_stopped_speed_threshold: float = 5e-2  # m/s, get_collision_type / is_track_stopped
    progress_distance_threshold: float = 5.0  # m
    lane_keeping_deviation_limit: float = 0.5  # m
    lane_keeping_steps: int = 20  # ceil(2.0 s / 0.1 s)
    agent_ahead_angle_deg: float = 30.0
    agent_behind_angle_deg: float = 150.0
    static_collision_score: float = 0.5  # at-fault contact with a non-agent object
    ttc_offsets: tuple[int, ...] = (0, 3, 6, 9)  # v1.1 np.arange(0, 10, 3); v2 np.arange(0, int(1.0 * 10), 3)


@dataclass(frozen=True)
class ComfortBounds:
    """pdm_comfort_metrics.py module constants; every bound is strict."""

    min_lon_accel: float = -4.05
    max_lon_accel: float = 2.40
    max_abs_lat_accel: float = 4.89
    max_abs_mag_jerk: float = 8.37
    max_abs_lon_jerk: float = 4.13
    max_abs_yaw_accel: float = 1.93
    max_abs_yaw_rate: float = 0.95


# PDMS v1.1 weights: EP 5, TTC 5, C 2 (DDC 0) -> /12. EPDMS v2: EP 5, TTC 5, LK 2, HC 2 (EC dropped) -> /14.
V1_WEIGHTS = {"ep": 5.0, "ttc": 5.0, "c": 2.0}
V2_WEIGHTS = {"ep": 5.0, "ttc": 5.0, "lk": 2.0, "hc": 2.0}
