"""Numpy views of a validated scene, for computation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from elfrl.scene.schema import MAX_OBSERVATION_STEP, Scene

NUM_STEPS = MAX_OBSERVATION_STEP + 1  # observation steps 0..50 at 10 Hz
AGENT_TYPES = ("vehicle", "pedestrian", "bicycle")  # nuPlan Agent classes; the rest are static objects


@dataclass(frozen=True)
class AgentArrays:
    ids: tuple[str, ...]
    types: tuple[str, ...]
    is_agent: np.ndarray  # [A] bool: vehicle / pedestrian / bicycle (nuPlan `Agent`), else static object
    half_length: np.ndarray  # [A]
    half_width: np.ndarray  # [A]
    first_heading: np.ndarray  # [A] heading at the first listed step
    first_speed: np.ndarray  # [A] |v| at the first listed step (global frame)
    pose: np.ndarray  # [T, A, 3] box-center x, y, heading; NaN where absent
    present: np.ndarray  # [T, A] bool


@dataclass(frozen=True)
class SceneArrays:
    token: str
    ego: np.ndarray  # [7] x, y, heading (rear axle, global), vx, vy, ax, ay (body frame)
    history: np.ndarray  # [H, 8] t, x, y, heading, vx, vy, ax, ay
    polygon_ids: tuple[str, ...]
    polygon_layers: tuple[str, ...]
    polygon_rings: tuple[np.ndarray, ...]  # each [P_i, 2], open ring
    route_lane_ids: frozenset[str]
    centerline: np.ndarray  # [N, 3]
    reference: np.ndarray  # [41, 3] global rear-axle poses at 0.0..4.0 s
    agents: AgentArrays
    red_lights: dict[str, np.ndarray]  # lane connector id -> [T] bool, red at step
    human_trajectory: Optional[np.ndarray]  # [8, 3] relative to the current rear axle


def _agent_arrays(scene: Scene) -> AgentArrays:
    n = len(scene.agents)
    pose = np.full((NUM_STEPS, n, 3), np.nan)
    present = np.zeros((NUM_STEPS, n), dtype=bool)
    first_heading = np.zeros(n)
    first_speed = np.zeros(n)
    for a, agent in enumerate(scene.agents):
        steps = np.asarray(agent.steps, dtype=np.float64)  # [S, 6]
        idx = steps[:, 0].astype(np.int64)
        pose[idx, a] = steps[:, 1:4]
        present[idx, a] = True
        first_heading[a] = steps[0, 3]
        first_speed[a] = np.hypot(steps[0, 4], steps[0, 5])
    types = tuple(a.type for a in scene.agents)
    return AgentArrays(
        ids=tuple(a.id for a in scene.agents),
        types=types,
        is_agent=np.array([t in AGENT_TYPES for t in types], dtype=bool),
        half_length=np.array([a.length / 2.0 for a in scene.agents]),
        half_width=np.array([a.width / 2.0 for a in scene.agents]),
        first_heading=first_heading,
        first_speed=first_speed,
        pose=pose,
        present=present,
    )


def scene_arrays(scene: Scene) -> SceneArrays:
    e = scene.ego
    red = {}
    for light in scene.traffic_lights:
        mask = red.get(light.lane_connector_id, np.zeros(NUM_STEPS, dtype=bool)).copy()
        steps = [s for s in light.red_steps if 0 <= s < NUM_STEPS]
        mask[steps] = True
        red[light.lane_connector_id] = mask
    return SceneArrays(
        token=scene.token,
        ego=np.array([e.x, e.y, e.heading, e.vx, e.vy, e.ax, e.ay], dtype=np.float64),
        history=np.asarray(scene.ego_history, dtype=np.float64),
        polygon_ids=tuple(p.id for p in scene.map.polygons),
        polygon_layers=tuple(p.layer for p in scene.map.polygons),
        polygon_rings=tuple(np.asarray(p.exterior, dtype=np.float64) for p in scene.map.polygons),
        route_lane_ids=frozenset(scene.route_lane_ids),
        centerline=np.asarray(scene.centerline, dtype=np.float64),
        reference=np.asarray(scene.reference, dtype=np.float64),
        agents=_agent_arrays(scene),
        red_lights=red,
        human_trajectory=None
        if scene.human_trajectory is None
        else np.asarray(scene.human_trajectory, dtype=np.float64),
    )
