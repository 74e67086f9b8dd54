"""A PDM-Closed-style reference planner built on the scorer (navsim pdm_planner/pdm_closed_planner.py).

IDM proposals along the route centreline and two parallel paths (+-1 m), at five fractions of
the speed limit, with agents forecast at constant velocity from the current frame and red
lights as stop lines; every proposal is simulated and scored (PDMS v1.1, group-normalised EP,
as PDM-Closed scores its own proposals) and the best is kept. Its 41 poses are a scene's
`reference` (the EP normaliser) and it doubles as a baseline planner.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from elfrl.planning.idm import IDMParams, Obstacles, rollout
from elfrl.planning.paths import Path
from elfrl.scene.arrays import scene_arrays
from elfrl.scene.schema import Scene
from elfrl.scoring import PDMScorer, VersionScores

STEPS = 40  # 4 s at 0.1 s


@dataclass(frozen=True)
class PDMClosedParams:
    speed_fractions: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0)
    lateral_offsets: tuple[float, ...] = (0.0, -1.0, 1.0)  # centre first: it wins ties
    fallback_speed: float = 15.0  # m/s when the scene has no speed limit
    idm: IDMParams = IDMParams()


@dataclass(frozen=True)
class Plan:
    poses: np.ndarray  # [41, 3] global rear-axle poses at 0.0..4.0 s (the chosen proposal)
    proposals: np.ndarray  # [P, 41, 3]
    scores: VersionScores  # PDMS v1.1 of every proposal
    best: int


def constant_velocity_obstacles(scene: Scene, path: Path, steps: int = STEPS + 1) -> Obstacles:
    """Agents seen now, moved at their current velocity (what PDM-Closed's forecast does)."""
    ag = scene_arrays(scene).agents
    now = ag.present[0]
    center0 = ag.pose[0, now, :2]
    vel = np.array([[a.steps[0][4], a.steps[0][5]] for a, n in zip(scene.agents, now) if n]).reshape(-1, 2)
    t = np.arange(steps)[:, None, None] * 0.1
    centers = center0[None] + t * vel[None]
    return Obstacles.from_tracks(path, centers, np.broadcast_to(vel, centers.shape), ag.half_length[now], ag.half_width[now])


def plan(
    scene: Scene,
    centerline: Path,
    speed_limit: float | None,
    scorer: PDMScorer,
    stop_lines: dict[str, float] | None = None,
    params: PDMClosedParams = PDMClosedParams(),
) -> Plan:
    """The best of the IDM proposals for `scene` (its `reference` is not used)."""
    ego = scene.ego
    s0 = float(centerline.project(np.array([ego.x, ego.y]))[0])
    v_max = speed_limit or params.fallback_speed
    red = {light.lane_connector_id: np.isin(np.arange(STEPS + 1), light.red_steps) for light in scene.traffic_lights}
    proposals = []
    for offset in params.lateral_offsets:
        path = centerline.offset(offset) if offset else centerline
        obstacles = constant_velocity_obstacles(scene, path)
        for lc, s_stop in (stop_lines or {}).items():
            if lc in red and s_stop > s0:
                obstacles = obstacles.with_stop_line(s_stop, red[lc])
        for fraction in params.speed_fractions:
            s, _ = rollout(s0, max(ego.vx, 0.0), fraction * v_max, obstacles, STEPS, params.idm)
            poses = path.pose(s)
            poses[0] = (ego.x, ego.y, ego.heading)
            poses[1:, 2] = np.unwrap(np.concatenate([[ego.heading], poses[1:, 2]]))[1:]
            proposals.append(poses)
    proposals = np.stack(proposals)
    scores = scorer.score_plans(scene, proposals)
    best = int(np.argmax(scores.score))
    return Plan(poses=proposals[best], proposals=proposals, scores=scores, best=best)
