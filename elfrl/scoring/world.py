"""Per-scene scoring inputs, built once and shared by every trajectory scored in the scene.

This is what NAVSIM's metric cache holds (drivable-area map, observation, centerline, route),
in array form: map polygon rings and boxes, agent boxes per 10 Hz step, red-light polygons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from elfrl.scene.arrays import SceneArrays
from elfrl.scoring.constants import DT, PACIFICA
from elfrl.scoring.geometry import box_corners, boxes_intersect
from elfrl.scoring.simulate import STATE_SIZE, initial_state

DRIVABLE_LAYERS = ("roadblock", "intersection", "carpark")  # + DRIVABLE_AREA, never populated
LANE_LAYERS = ("lane", "lane_connector")
V2_STEPS = 41  # v2 observation: steps 0..40 (v1.1: 0..50)


@dataclass(frozen=True)
class Observation:
    """Agent boxes per observation step, and what NAVSIM reads from each agent's first sighting."""

    ids: tuple[str, ...]
    is_agent: np.ndarray  # [A] vehicle / pedestrian / bicycle (nuPlan Agent); others are static
    first_heading: np.ndarray  # [A]
    first_speed: np.ndarray  # [A]
    corners: np.ndarray  # [T, A, 4, 2], NaN where absent
    center: np.ndarray  # [T, A, 2]
    present: np.ndarray  # [T, A] bool
    radius: np.ndarray  # [A] circumradius


@dataclass(frozen=True)
class World:
    token: str
    start: np.ndarray  # [11] initial ego state
    history: np.ndarray  # [14, 11] logged ego states at -1.5..-0.2 s (v2 history comfort)
    polygon_bounds: np.ndarray  # [P, 4] xmin, ymin, xmax, ymax
    rings: np.ndarray  # [V, 2] every polygon's open ring, back to back
    ring_offsets: np.ndarray  # [P + 1] polygon i is rings[ring_offsets[i]:ring_offsets[i + 1]]
    drivable: np.ndarray  # [P] bool
    lane: np.ndarray  # [P] bool
    on_route: np.ndarray  # [P] bool (lanes whose id is on the route)
    intersection: np.ndarray  # [P] bool
    centerline: shapely.LineString
    centerline_xy: np.ndarray  # [N, 2]
    obs: Observation  # steps 0..50 (v1.1 observes 0..50, v2 0..40)
    replay_dropped: np.ndarray  # [A] v2 log replay removes agents overlapping the ego at step 0
    red_polygons: np.ndarray  # [R] shapely polygons of on-route red-light lane connectors
    red_steps: np.ndarray  # [T, R] bool
    red_ids: tuple[str, ...]

    def polygon(self, index: int) -> shapely.Polygon:
        """Map polygon `index` as a shapely geometry (built on demand: only edge cases need GEOS)."""
        return shapely.Polygon(self.rings[self.ring_offsets[index] : self.ring_offsets[index + 1]])


def ego_box_corners(states: np.ndarray) -> np.ndarray:
    """Rear-axle states [..., >=3] -> ego box corners and center [..., 5, 2] (FL, RL, RR, FR, C)."""
    h = states[..., 2]
    center = states[..., :2] + PACIFICA.rear_axle_to_center * np.stack([np.cos(h), np.sin(h)], -1)
    corners = box_corners(center, h, PACIFICA.half_length, PACIFICA.half_width)
    return np.concatenate([corners, center[..., None, :]], axis=-2)


def _history_states(history: np.ndarray) -> np.ndarray:
    """Logged ego rows [H, 8] -> states [14, 11] at -1.5..-0.2 s.

    v2 `_calculate_history_comfort` samples the past InterpolatedTrajectory at
    arange(start, end, 0.1 s)[:-1]: linear in x, y, v, a and the unwrapped heading; omega = alpha = 0.
    """
    t = np.round(np.arange(history[0, 0], history[-1, 0], DT)[:-1], 6)
    heading = np.unwrap(history[:, 3])
    out = np.zeros((len(t), STATE_SIZE))
    for col, src in ((0, 1), (1, 2), (3, 4), (4, 5), (5, 6), (6, 7)):
        out[:, col] = np.interp(t, history[:, 0], history[:, src])
    out[:, 2] = np.interp(t, history[:, 0], heading)
    return out


def _observation(scene: SceneArrays) -> Observation:
    ag = scene.agents
    return Observation(
        ids=ag.ids,
        is_agent=ag.is_agent,
        first_heading=ag.first_heading,
        first_speed=ag.first_speed,
        corners=box_corners(ag.pose[..., :2], ag.pose[..., 2], ag.half_length, ag.half_width),
        center=ag.pose[..., :2],
        present=ag.present,
        radius=np.hypot(ag.half_length, ag.half_width),
    )


def build_world(scene: SceneArrays) -> World:
    layers = np.array(scene.polygon_layers)
    rings = np.concatenate(scene.polygon_rings)
    offsets = np.cumsum([0] + [len(r) for r in scene.polygon_rings])
    lo = np.stack([np.minimum.reduceat(rings[:, 0], offsets[:-1]), np.minimum.reduceat(rings[:, 1], offsets[:-1])], -1)
    hi = np.stack([np.maximum.reduceat(rings[:, 0], offsets[:-1]), np.maximum.reduceat(rings[:, 1], offsets[:-1])], -1)
    on_route = np.array([pid in scene.route_lane_ids for pid in scene.polygon_ids]) & np.isin(layers, LANE_LAYERS)
    start = initial_state(scene.ego)
    ag = scene.agents

    # v2 LogReplayTrafficAgents drops every agent whose step-0 box intersects the initial ego box
    ego0 = ego_box_corners(start)[:4]
    at0 = ag.present[0]
    corners0 = box_corners(ag.pose[0, :, :2], ag.pose[0, :, 2], ag.half_length, ag.half_width)
    overlap0 = np.zeros(len(ag.ids), dtype=bool)
    if at0.any():
        overlap0[at0] = boxes_intersect(np.broadcast_to(ego0, corners0[at0].shape), corners0[at0])

    red_ids = tuple(lid for lid in scene.red_lights if lid in scene.route_lane_ids)
    by_id = dict(zip(scene.polygon_ids, scene.polygon_rings))
    red_steps = np.stack([scene.red_lights[lid] for lid in red_ids], -1) if red_ids else np.zeros((V2_STEPS, 0), bool)

    return World(
        token=scene.token,
        start=start,
        history=_history_states(scene.history),
        polygon_bounds=np.concatenate([lo, hi], axis=1),
        rings=rings,
        ring_offsets=offsets,
        drivable=np.isin(layers, DRIVABLE_LAYERS),
        lane=np.isin(layers, LANE_LAYERS),
        on_route=on_route,
        intersection=layers == "intersection",
        centerline=shapely.linestrings(scene.centerline[:, :2]),
        centerline_xy=scene.centerline[:, :2],
        obs=_observation(scene),
        replay_dropped=overlap0,
        red_polygons=np.array([shapely.Polygon(by_id[lid]) for lid in red_ids], dtype=object),
        red_steps=red_steps,
        red_ids=red_ids,
    )
