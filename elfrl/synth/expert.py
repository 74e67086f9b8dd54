"""The rule-based expert whose drive is a synthetic scene's logged human trajectory.

IDM speed control along its path (the route, or a lane change where the scene demands it),
knowing the logged future: an agent that will enter its corridor within 2.5 s already
blocks it where it will enter, and red lights are stop lines. Its 8 poses at 0.5..4.0 s are
the scene's `human_trajectory`.
"""

from __future__ import annotations

import numpy as np

from elfrl.planning.idm import IDMParams, Obstacles, rollout
from elfrl.planning.paths import Path

LOOK_AHEAD = 25  # steps (2.5 s) of logged future the expert anticipates
STEPS = 40
# a human stops a few metres short, so the tracked stop stays clear of the 0.9 s TTC projection
EXPERT_IDM = IDMParams(min_gap=3.0)


def agent_arrays(agents: list[dict], n_steps: int = 51):
    """Agent dicts -> centres [T, A, 2] (NaN absent), velocities [T, A, 2], half length, half width [A]."""
    centers = np.full((n_steps, len(agents), 2), np.nan)
    velocity = np.zeros((n_steps, len(agents), 2))
    for a, agent in enumerate(agents):
        rows = np.asarray(agent["steps"], dtype=np.float64)
        idx = rows[:, 0].astype(int)
        centers[idx, a] = rows[:, 1:3]
        velocity[idx, a] = rows[:, 4:6]
    half_l = np.array([a["length"] / 2 for a in agents])
    half_w = np.array([a["width"] / 2 for a in agents])
    return centers, velocity, half_l, half_w


def drive(
    path: Path,
    ego_xy: np.ndarray,
    v0: float,
    v_target: float,
    agents: list[dict],
    stop_lines: list[tuple[float, np.ndarray]] = (),
    params: IDMParams = EXPERT_IDM,
) -> np.ndarray:
    """Global rear-axle poses [41, 3] at 0.0..4.0 s of the expert along `path`.

    stop_lines: (arc length on `path`, red [T] bool) of each red light on the way.
    """
    centers, velocity, half_l, half_w = agent_arrays(agents)
    obstacles = Obstacles.from_tracks(path, centers, velocity, half_l, half_w, look_ahead=LOOK_AHEAD)
    s0 = float(path.project(np.asarray(ego_xy))[0])
    for s_stop, red in stop_lines:
        if s_stop > s0:
            obstacles = obstacles.with_stop_line(s_stop, red)
    s, _ = rollout(s0, v0, v_target, obstacles, STEPS, params)
    return path.pose(s)
