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
from elfrl.scoring.geometry import CENTER, FRONT_LEFT, FRONT_RIGHT, boxes_intersect, relative_angle, segment_intersects_box
from elfrl.scoring.simulate import VX, VY
from elfrl.scoring.world import Observation, World

EGO_RADIUS = float(np.hypot(PACIFICA.half_length, PACIFICA.half_width))
NO_EVENT = -1  # time index / agent index when nothing happened


@dataclass(frozen=True)
class Areas:
    """PDMScorer._calculate_ego_area plus the intersection tests of TTC, DDC (v2) and LK (v2)."""

    multiple_lanes: np.ndarray  # [B, T]
    non_drivable: np.ndarray  # [B, T]
    oncoming: np.ndarray  # [B, T] center on no on-route lane
    center_in_intersection: np.ndarray  # [B, T]
    rear_in_intersection: np.ndarray  # [B, T]


@dataclass(frozen=True)
class Event:
    """A per-proposal score with when and against what it was decided (for diagnosis)."""

    score: np.ndarray  # [B]
    step: np.ndarray  # [B] int, NO_EVENT if none
    agent: np.ndarray  # [B] int index into the observation's agents, NO_EVENT if none


def ego_areas(world: World, states: np.ndarray, coords: np.ndarray) -> Areas:
    """Strict point-in-polygon tests (shapely `within`, as `shapely.vectorized.contains`)."""
    b, t = states.shape[:2]
    n_box = b * t * 5
    points = shapely.points(np.concatenate([coords.reshape(-1, 2), states[..., :2].reshape(-1, 2)]))
    pt, poly = world.tree.query(points, predicate="within")
    is_box = pt < n_box
    bt, which = np.divmod(pt, 5)
    corner = is_box & (which != CENTER)
    n_poly = len(world.polygons)

    lane_hit = corner & world.lane[poly]
    per_lane = np.bincount(bt[lane_hit] * n_poly + poly[lane_hit], minlength=b * t * n_poly).reshape(b * t, n_poly)
    lanes_touched = (per_lane > 0).sum(-1)
    fully_in_a_lane = (per_lane == 4).any(-1)
    drv = corner & world.drivable[poly]
    corner_on_drivable = np.zeros(b * t * 4, dtype=bool)
    corner_on_drivable[bt[drv] * 4 + which[drv]] = True
    centre = is_box & (which == CENTER)
    on_route = np.zeros(b * t, dtype=bool)
    on_route[bt[centre & world.on_route[poly]]] = True
    center_inter = np.zeros(b * t, dtype=bool)
    center_inter[bt[centre & world.intersection[poly]]] = True
    rear_inter = np.zeros(b * t, dtype=bool)
    rear = ~is_box & world.intersection[poly]
    rear_inter[pt[rear] - n_box] = True
    shape = (b, t)
    return Areas(
        multiple_lanes=((lanes_touched > 1) & ~fully_in_a_lane).reshape(shape),
        non_drivable=(corner_on_drivable.reshape(b * t, 4).sum(-1) < 4).reshape(shape),
        oncoming=~on_route.reshape(shape),
        center_in_intersection=center_inter.reshape(shape),
        rear_in_intersection=rear_inter.reshape(shape),
    )


def contacts(ego: np.ndarray, steps: np.ndarray, obs: Observation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ego boxes [B, K, 5, 2] (corners + center) against the agents at observation step steps[k].

    Returns (b, k, a) of every intersecting pair (touching counts, as STRtree `intersects`).
    """
    center = obs.center[steps]  # [K, A, 2]
    dist = np.linalg.norm(ego[:, :, None, CENTER] - center[None], axis=-1)  # [B, K, A]
    near = obs.present[steps][None] & (dist <= EGO_RADIUS + obs.radius + 1e-6)
    b, k, a = np.nonzero(near)
    hit = boxes_intersect(ego[b, k, :4], obs.corners[steps[k], a])
    return b[hit], k[hit], a[hit]


def _first_decisive(b, a, key, decisive, n_b, n_a) -> np.ndarray:
    """Key of each (proposal, object)'s first contact in `decisive`, else +inf: NAVSIM adds an
    object to the proposal's ignore list there, so later contacts with it are skipped."""
    first = np.full((n_b, n_a), np.inf)
    np.minimum.at(first, (b[decisive], a[decisive]), key[decisive])
    return first[b, a]


def _event(n_b: int, b, t, a, score) -> Event:
    """Per proposal: min score over counted contacts, with the earliest decisive contact."""
    out = np.ones(n_b)
    np.minimum.at(out, b, score)
    step = np.full(n_b, NO_EVENT)
    agent = np.full(n_b, NO_EVENT)
    order = np.lexsort((score, t, b))  # per proposal: earliest, then worst
    seen = np.zeros(n_b, dtype=bool)
    for i in order:
        if not seen[b[i]]:
            seen[b[i]] = True
            step[b[i]], agent[b[i]] = t[i], a[i]
    return Event(score=out, step=step, agent=agent)


def no_at_fault_collision(
    states: np.ndarray, coords: np.ndarray, areas: Areas, obs: Observation, p: MetricParams
) -> Event:
    """NC: nuPlan collision classification (pdm_scorer_utils.get_collision_type) per contact."""
    n_b, n_t = states.shape[:2]
    b, t, a = contacts(coords, np.arange(n_t), obs)
    stopped_ego = np.hypot(states[b, t, VX], states[b, t, VY]) <= p.collision_stopped_speed_threshold
    stopped_track = ~obs.is_agent[a] | (obs.first_speed[a] <= p.collision_stopped_speed_threshold)
    # track pose = (polygon centroid now, heading at first sighting)
    behind = relative_angle(states[b, t, :3], obs.center[t, a]) > np.deg2rad(p.agent_behind_angle_deg)
    front = segment_intersects_box(coords[b, t, FRONT_LEFT], coords[b, t, FRONT_RIGHT], obs.corners[t, a])
    lateral_fault = areas.multiple_lanes[b, t] | areas.non_drivable[b, t]
    at_fault = ~stopped_ego & (stopped_track | (~behind & (front | lateral_fault)))
    counted = at_fault & (t < _first_decisive(b, a, t, ~at_fault, n_b, len(obs.ids)))
    score = np.where(obs.is_agent[a], 0.0, p.static_collision_score)
    return _event(n_b, b[counted], t[counted], a[counted], score[counted])


def time_to_collision(
    states: np.ndarray,
    coords: np.ndarray,
    areas: Areas,
    obs: Observation,
    offsets: tuple[int, ...],
    p: MetricParams,
) -> Event:
    """TTC: the ego box moved at constant velocity by offsets*0.1 s against the logged boxes then.

    Evaluated for t with t + max(offset) within the 40 simulated steps plus the observation
    (v1.1: all 41 steps against a 51-step observation; v2: t <= 31).
    """
    n_b, n_t = states.shape[:2]
    n_eval = min(n_t, obs.present.shape[0] - max(offsets))
    speed = np.hypot(states[..., VX], states[..., VY])[:, :n_eval]
    h = states[:, :n_eval, 2]
    dxy = np.stack([np.cos(h) * speed, np.sin(h) * speed], axis=-1)  # [B, Te, 2]
    delta = np.array(offsets, dtype=np.float64) * DT  # [D]
    moved = coords[:, :n_eval, None] + dxy[:, :, None, None, :] * delta[None, None, :, None, None]
    n_d = len(offsets)
    steps = (np.arange(n_eval)[:, None] + np.array(offsets)[None]).reshape(-1)
    b, k, a = contacts(moved.reshape(n_b, n_eval * n_d, 5, 2), steps, obs)
    t = k // n_d
    active = speed[b, t] >= p.ttc_stopped_speed_threshold
    angle = relative_angle(states[b, t, :3], obs.center[steps[k], a])
    ahead = angle < np.deg2rad(p.agent_ahead_angle_deg)
    behind = angle > np.deg2rad(p.agent_behind_angle_deg)
    risky_area = areas.multiple_lanes[b, t] | areas.non_drivable[b, t] | areas.rear_in_intersection[b, t]
    flagged = ahead | (risky_area & ~behind)
    counted = active & flagged & (k < _first_decisive(b, a, k, active & ~flagged, n_b, len(obs.ids)))
    return _event(n_b, b[counted], t[counted], a[counted], np.zeros(counted.sum()))


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
    ends = shapely.points(coords[:, [0, -1], CENTER])
    along = shapely.line_locate_point(world.centerline, ends)
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


def lane_keeping(world: World, coords: np.ndarray, areas: Areas, p: MetricParams) -> Event:
    """LK (v2): 0 after 20 consecutive steps with the center > 0.5 m from the centerline.

    Steps inside an intersection neither count nor reset the run.
    """
    deviation = shapely.distance(shapely.points(coords[:, :, CENTER]), world.centerline)
    exceed = deviation > p.lane_keeping_deviation_limit
    run = np.zeros(len(coords), dtype=np.int64)
    step = np.full(len(coords), NO_EVENT)
    for t in range(coords.shape[1]):
        skip = areas.center_in_intersection[:, t]
        run = np.where(skip, run, np.where(exceed[:, t], run + 1, 0))
        step = np.where((step == NO_EVENT) & (run >= p.lane_keeping_steps), t, step)
    return Event(np.where(step == NO_EVENT, 1.0, 0.0), step, np.full(len(coords), NO_EVENT))
