"""Intelligent Driver Model along a path, with the obstacles that block its corridor.

Shared by the PDM-Closed-style reference planner and the synthetic world's rule-based expert.
Parameters follow PDM-Closed's BatchIDMPolicy (navsim pdm_planner/proposal/batch_idm_policy.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from elfrl.scoring.constants import PACIFICA
from elfrl.planning.paths import Path

DT = 0.1
EGO_FRONT = PACIFICA.front_length  # rear axle -> front bumper
CORRIDOR_MARGIN = 0.3  # m beyond the two half widths


@dataclass(frozen=True)
class IDMParams:
    accel_max: float = 1.5
    decel_max: float = 3.0
    min_gap: float = 1.0
    headway: float = 1.5
    exponent: float = 4.0


@dataclass(frozen=True)
class Obstacles:
    """What blocks the path, per 10 Hz step: arc length of the obstacle's rear [T, K] (inf where
    nothing) and its speed along the path [T, K]. Red lights are obstacles at their stop line."""

    rear_s: np.ndarray
    speed: np.ndarray

    @classmethod
    def from_tracks(
        cls,
        path: Path,
        centers: np.ndarray,  # [T, A, 2] box centres, NaN where absent
        velocity: np.ndarray,  # [T, A, 2] global
        half_length: np.ndarray,  # [A]
        half_width: np.ndarray,  # [A]
        look_ahead: int = 0,
    ) -> "Obstacles":
        """Agents inside the ego corridor. With look_ahead > 0 (an expert who knows the logged
        future), an agent that will enter the corridor within look_ahead steps already blocks it,
        standing, where it will enter."""
        n_t, n_a = centers.shape[:2]
        if n_a == 0:
            return cls(np.full((n_t, 0), np.inf), np.zeros((n_t, 0)))
        ok = np.isfinite(centers[..., 0])
        s, d = path.project(np.where(ok[..., None], centers, 0.0))
        ph = np.interp(s, path.s, path.heading)
        inside = ok & (np.abs(d) < PACIFICA.half_width + half_width[None] + CORRIDOR_MARGIN) & (s > 0.0)
        along = velocity[..., 0] * np.cos(ph) + velocity[..., 1] * np.sin(ph)
        rear = np.where(inside, s - half_length[None], np.inf)
        speed = np.where(inside, np.maximum(along, 0.0), 0.0)
        if look_ahead:
            for k in range(n_t):
                window = rear[k : k + look_ahead + 1]
                soon = np.isfinite(window).any(0) & ~np.isfinite(rear[k])
                first = np.where(soon, np.argmax(np.isfinite(window), axis=0), 0)
                rear[k, soon] = window[first[soon], np.flatnonzero(soon)]
                speed[k, soon] = 0.0
        return cls(rear, speed)

    def with_stop_line(self, s_stop: float, red: np.ndarray) -> "Obstacles":
        """Add a red light: a standing obstacle at s_stop at the steps where red [T] is True."""
        col = np.where(red, s_stop, np.inf)[:, None]
        return Obstacles(np.concatenate([self.rear_s, col], 1), np.concatenate([self.speed, np.zeros_like(col)], 1))


def idm_accel(v: float, v_target: float, gap: float, v_lead: float, p: IDMParams) -> float:
    free = 1.0 - (max(v, 0.0) / max(v_target, 0.1)) ** p.exponent
    if not np.isfinite(gap):
        return float(np.clip(p.accel_max * free, -p.decel_max, p.accel_max))
    desired = p.min_gap + max(v, 0.0) * p.headway + v * (v - v_lead) / (2.0 * np.sqrt(p.accel_max * p.decel_max))
    a = p.accel_max * (free - (max(desired, 0.0) / max(gap, 0.1)) ** 2)
    return float(np.clip(a, -p.decel_max, p.accel_max))


def rollout(s0: float, v0: float, v_target: float, obstacles: Obstacles, steps: int, p: IDMParams = IDMParams()):
    """Arc length and speed [steps + 1] of IDM driving from (s0, v0); explicit Euler at 0.1 s.

    The lead at each step is the nearest obstacle whose rear is ahead of the ego's front bumper
    (one already overlapping the bumper counts with gap 0.1 m: brake)."""
    s = np.empty(steps + 1)
    v = np.empty(steps + 1)
    s[0], v[0] = s0, v0
    for k in range(steps):
        row = min(k, obstacles.rear_s.shape[0] - 1)
        gaps = obstacles.rear_s[row] - (s[k] + EGO_FRONT)
        ahead = gaps > -PACIFICA.half_length  # obstacles behind the ego no longer block it
        gap, v_lead = np.inf, 0.0
        if ahead.any():
            i = np.flatnonzero(ahead)[np.argmin(gaps[ahead])]
            gap, v_lead = gaps[i], obstacles.speed[row, i]
        a = idm_accel(v[k], v_target, gap, v_lead, p)
        v[k + 1] = max(v[k] + a * DT, 0.0)
        s[k + 1] = s[k] + v[k] * DT
    return s, v
