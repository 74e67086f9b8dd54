"""PDM sub-metrics of simulated ego states, vectorised over proposals and time.

Each function mirrors one `PDMScorer._calculate_*` method of NAVSIM (v1.1 and v2 share most of
them; differences are parameters). The official code loops over time steps and over STRtree
hits with per-proposal ignore lists; here every contact is found at once (oriented-box
separating-axis tests) and the ignore lists become "counts only before the first
not-at-fault contact with that object", which is what the sequential loop computes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from elfrl.scoring.constants import DT, PACIFICA, MetricParams
from elfrl.scoring.geometry import (
    CENTER,
    FRONT_LEFT,
    FRONT_RIGHT,
    box_contacts,
    points_in_polygons,
    relative_angle,
    segment_intersects_box,
    UNSURE,
)
from elfrl.scoring.simulate import VX, VY
from elfrl.scoring.world import Observation, World

EGO_RADIUS = float(np.hypot(PACIFICA.half_length, PACIFICA.half_width))
NO_EVENT = -1  # time index / agent index when nothing happened


@dataclass(frozen=True)
class Areas:
    """PDMScorer._calculate_ego_area plus the center-in-intersection test of DDC and LK (v2)."""

    multiple_lanes: np.ndarray  # [B, T]
    non_drivable: np.ndarray  # [B, T]
    oncoming: np.ndarray  # [B, T] center on no on-route lane
    center_in_intersection: np.ndarray  # [B, T]


@dataclass(frozen=True)
class Event:
    """A per-proposal score with when and against what it was decided (for diagnosis)."""

    score: np.ndarray  # [B]
    step: np.ndarray  # [B] int, NO_EVENT if none
    agent: np.ndarray  # [B] int index into the observation's agents, NO_EVENT if none


def _inside(world: World, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Strict point-in-polygon (`shapely.vectorized.contains`, boundary = outside) for points
    [N, 2] -> (polygon index [K], inside [K, N]) over the K polygons whose box meets the points."""
    if len(points) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=bool)
    lo, hi = points.min(0), points.max(0)
    bounds = world.polygon_bounds
    near = np.flatnonzero((bounds[:, 0] <= hi[0]) & (bounds[:, 2] >= lo[0]) & (bounds[:, 1] <= hi[1]) & (bounds[:, 3] >= lo[1]))
    code = points_in_polygons(points, world.rings, world.ring_offsets, near, bounds)
    inside = code == 1
    for k, i in zip(*np.nonzero(code == UNSURE)):  # on or within rounding of an edge: ask GEOS
        inside[k, i] = shapely.contains_xy(world.polygon(near[k]), points[i, 0], points[i, 1])
    return near, inside


def ego_areas(world: World, states: np.ndarray, coords: np.ndarray) -> Areas:
    """PDMScorer._calculate_ego_area on the box corners and center (strict point-in-polygon)."""
    b, t = states.shape[:2]
    poly, inside = _inside(world, coords.reshape(-1, 2))
    box = inside.reshape(len(poly), b, t, 5)  # [K, B, T, 5]
    corners, center = box[..., :4], box[..., CENTER]
    per_lane = corners[world.lane[poly]].sum(-1)  # [lanes, B, T] corners inside each lane
    return Areas(
        multiple_lanes=((per_lane > 0).sum(0) > 1) & ~(per_lane == 4).any(0),
        non_drivable=corners[world.drivable[poly]].any(0).sum(-1) < 4,
        oncoming=~center[world.on_route[poly]].any(0),
        center_in_intersection=center[world.intersection[poly]].any(0),
    )


def in_intersection(world: World, points: np.ndarray) -> np.ndarray:
    """[N] bool: points [N, 2] strictly inside an INTERSECTION polygon (PDMDrivableMap.is_in_layer)."""
    if len(points) == 0 or not world.intersection.any():
        return np.zeros(len(points), dtype=bool)
    poly, inside = _inside(world, points)
    return inside[world.intersection[poly]].any(0)


@dataclass(frozen=True)
class Contacts:
    """Every intersecting (ego box, agent box) pair, in NAVSIM's loop order `key`."""

    b: np.ndarray  # proposal
    t: np.ndarray  # ego time step
    a: np.ndarray  # agent index in the observation
    obs_step: np.ndarray  # observation step the agent box is taken from
    key: np.ndarray  # order of the official loops (time, then look-ahead offset)

    def where(self, keep: np.ndarray) -> "Contacts":
        return Contacts(self.b[keep], self.t[keep], self.a[keep], self.obs_step[keep], self.key[keep])


def _box_contacts(coords: np.ndarray, dxy: np.ndarray, offsets: tuple[int, ...], obs: Observation):
    if obs.corners.shape[1] == 0 or len(coords) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return box_contacts(
        np.ascontiguousarray(coords), np.ascontiguousarray(dxy), np.array(offsets, dtype=np.int64), DT,
        EGO_RADIUS, obs.corners, obs.center, obs.present, obs.radius,
    )


def collision_contacts(coords: np.ndarray, obs: Observation) -> Contacts:
    """Ego boxes [B, T, 5, 2] against the agents at the same step."""
    b, t, a = _box_contacts(coords, np.zeros(coords.shape[:2] + (2,)), (0,), obs)
    return Contacts(b, t, a, t, t)


def ttc_contacts(states: np.ndarray, coords: np.ndarray, obs: Observation, offsets: tuple[int, ...]) -> Contacts:
    """The ego box at t moved at constant velocity for offset*0.1 s against the agents at t + offset.

    `_calculate_ttc`: speed = |(vx, vy)|, direction = heading. Evaluated wherever t + offset is
    observed (v1.1: t <= 40 against steps 0..50; v2 later keeps t <= 31).
    """
    n_eval = min(states.shape[1], obs.present.shape[0] - max(offsets))
    speed = np.hypot(states[:, :n_eval, VX], states[:, :n_eval, VY])
    h = states[:, :n_eval, 2]
    dxy = np.stack([np.cos(h) * speed, np.sin(h) * speed], axis=-1)  # [B, Te, 2] per second
    b, k, a = _box_contacts(coords[:, :n_eval], dxy, offsets, obs)
    t = k // len(offsets)
    return Contacts(b, t, a, t + np.array(offsets)[k % len(offsets)], k)


def _first_decisive(c: Contacts, decisive: np.ndarray, n_b: int, n_a: int) -> np.ndarray:
    """Key of each (proposal, object)'s first contact in `decisive`, else +inf: NAVSIM adds an
    object to the proposal's ignore list there, so later contacts with it are skipped."""
    first = np.full((n_b, n_a), np.inf)
    np.minimum.at(first, (c.b[decisive], c.a[decisive]), c.key[decisive])
    return first[c.b, c.a]


def _event(n_b: int, c: Contacts, score: np.ndarray) -> Event:
    """Per proposal: min score over counted contacts, with the earliest (then worst) one."""
    out = np.ones(n_b)
    np.minimum.at(out, c.b, score)
    step = np.full(n_b, NO_EVENT)
    agent = np.full(n_b, NO_EVENT)
    order = np.lexsort((score, c.t, c.b))  # by proposal, then time, then score
    _, first = np.unique(c.b[order], return_index=True)
    pick = order[first]
    step[c.b[pick]], agent[c.b[pick]] = c.t[pick], c.a[pick]
    return Event(score=out, step=step, agent=agent)


def no_at_fault_collision(states: np.ndarray, coords: np.ndarray, areas: Areas, obs: Observation, c: Contacts, p: MetricParams) -> Event:
    """NC: nuPlan collision classification (pdm_scorer_utils.get_collision_type) per contact."""
    b, t, a = c.b, c.t, c.a
    stopped_ego = np.hypot(states[b, t, VX], states[b, t, VY]) <= p.collision_stopped_speed_threshold
    stopped_track = ~obs.is_agent[a] | (obs.first_speed[a] <= p.collision_stopped_speed_threshold)
    # track pose = (polygon centroid now, heading at first sighting)
    behind = relative_angle(states[b, t, :3], obs.center[t, a]) > np.deg2rad(p.agent_behind_angle_deg)
    front = segment_intersects_box(coords[b, t, FRONT_LEFT], coords[b, t, FRONT_RIGHT], obs.corners[t, a])
    lateral_fault = areas.multiple_lanes[b, t] | areas.non_drivable[b, t]
    at_fault = ~stopped_ego & (stopped_track | (~behind & (front | lateral_fault)))
    counted = at_fault & (c.key < _first_decisive(c, ~at_fault, len(states), len(obs.ids)))
    score = np.where(obs.is_agent[a], 0.0, p.static_collision_score)
    return _event(len(states), c.where(counted), score[counted])


def time_to_collision(
    world: World, states: np.ndarray, areas: Areas, obs: Observation, c: Contacts, p: MetricParams
) -> Event:
    """TTC: 0 if a projected contact has the agent ahead (< 30 deg), or, in a risky area
    (several lanes, off the drivable area, rear axle in an intersection), not behind (> 150 deg)."""
    b, t, a = c.b, c.t, c.a
    active = np.hypot(states[b, t, VX], states[b, t, VY]) >= p.ttc_stopped_speed_threshold
    angle = relative_angle(states[b, t, :3], obs.center[c.obs_step, a])
    ahead = angle < np.deg2rad(p.agent_ahead_angle_deg)
    behind = angle > np.deg2rad(p.agent_behind_angle_deg)
    risky_area = areas.multiple_lanes[b, t] | areas.non_drivable[b, t]
    undecided = ~ahead & ~behind & ~risky_area  # only these depend on the rear axle's position
    risky_area[undecided] = in_intersection(world, states[b[undecided], t[undecided], :2])
    flagged = ahead | (risky_area & ~behind)
    counted = active & flagged & (c.key < _first_decisive(c, active & ~flagged, len(states), len(obs.ids)))
    return _event(len(states), c.where(counted), np.zeros(counted.sum()))


def drivable_area_compliance(areas: Areas) -> Event:
    off = areas.non_drivable
    step = np.where(off.any(-1), off.argmax(-1), NO_EVENT)
    return Event(score=np.where(off.any(-1), 0.0, 1.0), step=step, agent=np.full(len(off), NO_EVENT))


def driving_direction_compliance(coords: np.ndarray, areas: Areas, exclude_intersection: bool, p: MetricParams):
    """DDC: max over 1 s windows of distance driven while the center is on no on-route lane.

    Returns (score [B], worst window distance [B] in metres). v2 also skips intersection points.
    """
    center = coords[:, :, CENTER]
    step = np.zeros(center.shape[:2])
    step[:, 1:] = np.linalg.norm(center[:, 1:] - center[:, :-1], axis=-1)
    counts = areas.oncoming & ~areas.center_in_intersection if exclude_intersection else areas.oncoming
    step[~counts] = 0.0
    cum = np.concatenate([np.zeros((len(step), 1)), np.cumsum(step, axis=1)], axis=1)
    h = p.driving_direction_horizon_steps
    idx = np.arange(step.shape[1])
    window = cum[:, idx + 1] - cum[:, np.maximum(idx - h, 0)]  # sum over [max(0, t-h), t]
    worst = window.max(-1)
    score = np.where(
        worst < p.driving_direction_compliance_threshold,
        1.0,
        np.where(worst < p.driving_direction_violation_threshold, 0.5, 0.0),
    )
    return score, worst


def progress(world: World, coords: np.ndarray) -> np.ndarray:
    """Raw ego progress [B]: centerline arc length from the first to the last box center, >= 0."""
    along = shapely.line_locate_point(world.centerline, shapely.points(coords[:, [0, -1], CENTER]))
    return np.clip(along[:, 1] - along[:, 0], 0.0, None)


def traffic_light_compliance(world: World, coords: np.ndarray) -> Event:
    """TLC (v2): the ego polygon touches a red on-route lane connector at any step."""
    n_b, n_t = coords.shape[:2]
    if len(world.red_polygons) == 0:
        return Event(np.ones(n_b), np.full(n_b, NO_EVENT), np.full(n_b, NO_EVENT))
    rings = np.concatenate([coords[:, :, :4], coords[:, :, :1]], axis=2)
    ego = shapely.polygons(rings)  # [B, T]
    hit = shapely.intersects(ego[..., None], world.red_polygons[None, None]) & world.red_steps[None, :n_t]
    ran = hit.any(-1)
    step = np.where(ran.any(-1), ran.argmax(-1), NO_EVENT)
    return Event(np.where(ran.any(-1), 0.0, 1.0), step, np.full(n_b, NO_EVENT))


def distance_to_polyline(points: np.ndarray, line: np.ndarray, beyond: float) -> np.ndarray:
    """Euclidean distance [N] from points [N, 2] to the polyline [S + 1, 2], exact up to `beyond`.

    Only segments whose box comes within `beyond` of the points' box are measured; a point whose
    true distance is <= beyond always has its nearest segment among them, so comparisons with
    any threshold <= beyond are exact (farther points may get a larger finite value or inf).
    """
    p0, p1 = line[:-1], line[1:]
    if len(points) == 0:
        return np.zeros(0)
    lo, hi = points.min(0) - beyond, points.max(0) + beyond
    near = (np.minimum(p0, p1) <= hi).all(-1) & (np.maximum(p0, p1) >= lo).all(-1)
    p0, p1 = p0[near], p1[near]
    if len(p0) == 0:
        return np.full(len(points), np.inf)
    d = p1 - p0  # [S, 2]
    len2 = (d * d).sum(-1)
    rel = points[:, None] - p0[None]  # [N, S, 2]
    frac = np.clip((rel * d).sum(-1) / np.where(len2 > 0, len2, 1.0), 0.0, 1.0)
    gap = rel - frac[..., None] * d
    return np.sqrt((gap * gap).sum(-1)).min(-1)


def lane_keeping(world: World, coords: np.ndarray, areas: Areas, p: MetricParams) -> Event:
    """LK (v2): 0 once the center has been > 0.5 m from the centerline for 20 consecutive steps.

    Steps inside an intersection neither count nor reset the run (`_calculate_lane_keeping`).
    """
    n_b, n_t = coords.shape[:2]
    center = coords[:, :, CENTER].reshape(-1, 2)
    limit = p.lane_keeping_deviation_limit
    exceed = (distance_to_polyline(center, world.centerline_xy, 2 * limit) > limit).reshape(n_b, n_t)
    skip = areas.center_in_intersection
    counted = np.cumsum(exceed & ~skip, axis=1)
    reset = ~exceed & ~skip
    last_reset = np.maximum.accumulate(np.where(reset, np.arange(n_t), -1), axis=1)
    before = np.where(last_reset >= 0, np.take_along_axis(counted, np.maximum(last_reset, 0), 1), 0)
    failed = (counted - before) >= p.lane_keeping_steps
    step = np.where(failed.any(-1), failed.argmax(-1), NO_EVENT)
    return Event(np.where(failed.any(-1), 0.0, 1.0), step, np.full(n_b, NO_EVENT))
