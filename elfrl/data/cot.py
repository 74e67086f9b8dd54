"""The chain of thought of a scene: key objects, traffic light and meta action, as facts and text.

ELF-VLA / AdaThinkDrive CoT sections (shared/reference/driving_vla.md §5): CIPO-1 (closest in-path
object in the ego lane), CIPO-2 (an agent cutting in), motion-interaction agents, then the meta
action. Everything is measured from the logged scene at the current step (step 0), in route
coordinates: `ahead` is the arc length along the route centreline from the ego rear axle to the
box centre, `lateral` the signed offset across it relative to the ego (left +).

| section     | rule                                                                                       |
|-------------|--------------------------------------------------------------------------------------------|
| corridor    | the strip the ego sweeps along the route centreline: half width 1.45 m (ego half width     |
|             | 1.15 m + 0.3 m); a box is in it when abs(offset of its centre from the centreline) - its  |
|             | half extent across the route < 1.45 m                                                      |
| CIPO-1      | any object whose box is in the corridor with its centre beyond the ego's front bumper     |
|             | (4.049 m ahead of the rear axle) and ahead <= 80 m; the nearest                           |
| CIPO-2      | a vehicle or bicycle outside the corridor now, within 80 m along the route, whose logged  |
|             | box enters the corridor within 3.0 s while its centre is beyond the front bumper of the   |
|             | logged ego at that time; the earliest to enter, then the nearest (a pedestrian stepping   |
|             | in is an interaction, not a cut-in)                                                        |
| Interaction | other vehicles / pedestrians / bicycles (not CIPO-1/2) that move (>= 0.5 m/s at some step |
|             | of 0..4 s), within max(30 m, 4 s at the ego's speed) of the ego now, and whose logged     |
|             | centres come within 3.0 m of the ego path within 4 s; the ego path is the ground truth,   |
|             | extended straight along its last heading to 4 s at the current speed when it is shorter   |
|             | (a braking ego still "meets" the pedestrian it brakes for); the text names the 3 nearest |
| Light       | the nearest traffic light on a route lane connector ahead (within 80 m): red if red at    |
|             | step 0, else green; "none" when there is no light on the route                            |
| Motion      | static object types -> static; speed < 0.5 m/s -> stopped; heading relative to the route  |
|             | within 45 deg -> same direction, beyond 135 deg -> oncoming, else crossing; CIPO-2 ->     |
|             | "cutting in from the left/right"                                                           |

Text (numbers with 1 decimal, sections always present, in this order):
`CIPO-1: vehicle 23.4 m ahead, 0.2 m right, stopped. CIPO-2: none. Interaction: pedestrian 18.0 m
ahead, 3.1 m right, crossing. Light: red. Meta action: decelerate, keep lane.` Several
interactions are joined with "; ". A lateral offset that rounds to 0.0 is written "0.0 m left";
an object behind is "12.0 m behind".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict

from elfrl.data.labels import (
    POSE_DT,
    MetaAction,
    ego_centerline,
    ego_pose,
    extended_path,
    gt_poses,
    scene_meta_action,
)
from elfrl.planning.paths import Path
from elfrl.scene.frames import to_ego_frame
from elfrl.scene.schema import MAX_OBSERVATION_STEP, AgentType, Scene

# The ego Pacifica (elfrl.scoring.constants.PACIFICA), copied, not imported: importing
# elfrl.scoring loads numba (~6 s).
EGO_FRONT = 4.049  # m, rear axle to front bumper
EGO_HALF_WIDTH = 1.1485  # m
# m, the strip the ego sweeps along the route plus 0.3 m clearance; narrower than the 3.5 m lane
# so that a car whose corner has just crossed the lane line is still a cut-in, not in the path
CORRIDOR_HALF_WIDTH = EGO_HALF_WIDTH + 0.3
RANGE_AHEAD = 80.0  # m along the route for CIPO-1, CIPO-2 and lights
CUT_IN_HORIZON = 30  # steps (3.0 s) within which a cut-in enters the corridor
CUT_IN_TYPES = ("vehicle", "bicycle")
INTERACTION_TYPES = ("vehicle", "pedestrian", "bicycle")
INTERACTION_RANGE = 30.0  # m, least radius around the ego (grown to 4 s at the ego's speed)
INTERACTION_GAP = 3.0  # m, agent centre to the ego path
INTERACTION_STEPS = 40  # steps (4.0 s)
MAX_INTERACTIONS = 3
MOVING_SPEED = 0.5  # m/s
STATIC_TYPES = ("traffic_cone", "barrier", "czone_sign", "generic_object")
TYPE_WORDS = {
    "vehicle": "vehicle",
    "pedestrian": "pedestrian",
    "bicycle": "bicycle",
    "traffic_cone": "traffic cone",
    "barrier": "barrier",
    "czone_sign": "construction sign",
    "generic_object": "object",
}

Motion = Literal[
    "static", "stopped", "same direction", "oncoming", "crossing", "cutting in from the left", "cutting in from the right"
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObjectFact(_Frozen):
    id: str
    type: AgentType
    ahead: float  # m along the route, box centre minus ego rear axle (negative: behind)
    lateral: float  # m across the route relative to the ego, left +
    speed: float  # m/s at step 0
    motion: Motion


class CutInFact(ObjectFact):
    entry_time: float  # s at which the box first enters the corridor


class InteractionFact(ObjectFact):
    min_gap: float  # m, least distance of its centre to the ego path within 4 s
    min_gap_time: float  # s at which that happens


class LightFact(_Frozen):
    lane_connector_id: str
    state: Literal["red", "green"]  # at step 0
    distance: float  # m along the route to the connector's start (0 when already on it)


class CotFacts(_Frozen):
    token: str
    cipo1: Optional[ObjectFact]
    cipo2: Optional[CutInFact]
    interactions: list[InteractionFact]  # all of them, nearest first; the text names the first 3
    light: Optional[LightFact]
    meta: MetaAction


# -- text -------------------------------------------------------------------------------------


def _object_text(fact: ObjectFact) -> str:
    ahead = round(fact.ahead, 1) + 0.0
    lateral = round(fact.lateral, 1) + 0.0
    along = f"{abs(ahead):.1f} m {'ahead' if ahead >= 0 else 'behind'}"
    across = f"{abs(lateral):.1f} m {'left' if lateral >= 0 else 'right'}"
    return f"{TYPE_WORDS[fact.type]} {along}, {across}, {fact.motion}"


def cot_text(facts: CotFacts) -> str:
    """The CoT sentence sequence of the module docstring."""
    cipo1 = _object_text(facts.cipo1) if facts.cipo1 else "none"
    cipo2 = _object_text(facts.cipo2) if facts.cipo2 else "none"
    inter = "; ".join(_object_text(f) for f in facts.interactions[:MAX_INTERACTIONS]) or "none"
    light = facts.light.state if facts.light else "none"
    return (
        f"CIPO-1: {cipo1}. CIPO-2: {cipo2}. Interaction: {inter}. "
        f"Light: {light}. Meta action: {facts.meta.text}."
    )


# -- facts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tracks:
    """The logged agents in the ego frame and in route coordinates, steps 0..50."""

    xy: np.ndarray  # [T, A, 2] box centres in the current rear-axle frame (NaN where absent)
    s: np.ndarray  # [T, A] arc length on the route minus the ego's (ahead +)
    d: np.ndarray  # [T, A] signed offset from the centreline (left +)
    speed: np.ndarray  # [T, A] m/s
    rel_heading: np.ndarray  # [T, A] heading minus the route heading at the projection
    present: np.ndarray  # [T, A] bool
    in_corridor: np.ndarray  # [T, A] bool: the box overlaps the ego corridor


def _tracks(scene: Scene, route: Path, s_ego: float) -> _Tracks:
    n_steps, n = MAX_OBSERVATION_STEP + 1, len(scene.agents)
    rows = np.full((n_steps, n, 5), np.nan)  # x, y, heading, vx, vy (global)
    for a, agent in enumerate(scene.agents):
        steps = np.asarray(agent.steps, dtype=np.float64)
        rows[steps[:, 0].astype(int), a] = steps[:, 1:]
    origin = ego_pose(scene)
    xy = to_ego_frame(origin, rows[..., :2])
    present = ~np.isnan(xy[..., 0])
    s, d = route.project(np.nan_to_num(xy)) if n else (np.zeros((n_steps, 0)), np.zeros((n_steps, 0)))
    rel_heading = rows[..., 2] - origin[2] - np.interp(s, route.s, route.heading)
    half_l = np.array([a.length / 2 for a in scene.agents])
    half_w = np.array([a.width / 2 for a in scene.agents])
    extent = half_l * np.abs(np.sin(rel_heading)) + half_w * np.abs(np.cos(rel_heading))
    return _Tracks(
        xy=xy,
        s=s - s_ego,
        d=d,
        speed=np.hypot(rows[..., 3], rows[..., 4]),
        rel_heading=rel_heading,
        present=present,
        in_corridor=present & (np.abs(d) - extent < CORRIDOR_HALF_WIDTH),
    )


def _motion(kind: str, speed: float, relative_heading: float) -> Motion:
    if kind in STATIC_TYPES:
        return "static"
    if speed < MOVING_SPEED:
        return "stopped"
    rel = abs(np.arctan2(np.sin(relative_heading), np.cos(relative_heading)))
    return "same direction" if rel <= np.pi / 4 else "oncoming" if rel >= 3 * np.pi / 4 else "crossing"


def _ego_positions(poses: np.ndarray) -> np.ndarray:
    """Ground-truth rear-axle positions [41, 2] at the 10 Hz steps 0..40 (linear between poses)."""
    xy = np.concatenate([np.zeros((1, 2)), poses[:, :2]])
    times, t = POSE_DT * np.arange(len(xy)), np.arange(INTERACTION_STEPS + 1) * 0.1
    return np.stack([np.interp(t, times, xy[:, 0]), np.interp(t, times, xy[:, 1])], -1)


def _ego_path(poses: np.ndarray, speed: float) -> Path:
    """The ground-truth ego path (origin first), extended straight to 4 s at the current speed."""
    xy = np.concatenate([np.zeros((1, 2)), poses[:, :2]])
    travel = np.hypot(*np.diff(xy, axis=0).T).sum()
    extra = speed * POSE_DT * len(poses) - travel
    if extra > 0.1:
        h = poses[-1, 2]
        xy = np.concatenate([xy, xy[-1:] + extra * np.array([[np.cos(h), np.sin(h)]])])
    keep = np.concatenate([[True], np.hypot(*np.diff(xy, axis=0).T) > 1e-6])  # a stopped ego repeats poses
    xy = xy[keep]
    if len(xy) < 2:  # never moves: a point path
        xy = np.concatenate([xy, xy + [[1e-3, 0.0]]])
    return Path.from_points(xy)


def _cipo1(tr: _Tracks) -> Optional[int]:
    ahead = tr.s[0]
    candidates = np.flatnonzero(tr.in_corridor[0] & (ahead > EGO_FRONT) & (ahead <= RANGE_AHEAD))
    return int(candidates[np.argmin(ahead[candidates])]) if len(candidates) else None


def _cipo2(tr: _Tracks, types: list[str], ego_s: np.ndarray, skip: set) -> Optional[tuple[int, int]]:
    """(agent, entry step) of the cut-in; ego_s [41] is the logged ego's route arc length minus today's."""
    steps = np.arange(1, CUT_IN_HORIZON + 1)
    best = None
    for a, kind in enumerate(types):
        if kind not in CUT_IN_TYPES or a in skip or not tr.present[0, a] or tr.in_corridor[0, a]:
            continue
        if abs(tr.s[0, a]) > RANGE_AHEAD:
            continue
        entering = tr.in_corridor[steps, a] & (tr.s[steps, a] > ego_s[steps] + EGO_FRONT)
        if entering.any():
            key = (int(steps[entering.argmax()]), abs(float(tr.s[0, a])))
            if best is None or key < best[0]:
                best = (key, a)
    return None if best is None else (best[1], best[0][0])


def _interactions(tr: _Tracks, types: list[str], ego_path: Path, radius: float, skip: set) -> list[tuple[int, float, int]]:
    """(agent, least gap to the ego path, its step) of the moving agents near the ego path."""
    window = slice(0, INTERACTION_STEPS + 1)
    found = []
    for a, kind in enumerate(types):
        if kind not in INTERACTION_TYPES or a in skip or not tr.present[0, a]:
            continue
        if np.hypot(*tr.xy[0, a]) > radius or not (np.nan_to_num(tr.speed[window, a]) >= MOVING_SPEED).any():
            continue
        seen = np.flatnonzero(tr.present[window, a])
        gap = np.abs(ego_path.project(tr.xy[seen, a])[1])
        if gap.min() <= INTERACTION_GAP:
            found.append((a, float(gap.min()), int(seen[gap.argmin()])))
    return found


def _route_tracks(scene: Scene) -> tuple[Path, float, float, _Tracks]:
    """The ego's route, the ego's arc length and lateral offset on it, and the agents' tracks."""
    route = extended_path(ego_centerline(scene))
    (s_ego,), (d_ego,) = route.project(np.zeros((1, 2)))
    return route, float(s_ego), float(d_ego), _tracks(scene, route, s_ego)


def scene_facts(scene: Scene, poses=None) -> CotFacts:
    """The CoT facts of a scene; `poses` [8, 3] is the ground truth (default: the logged human trajectory)."""
    poses = gt_poses(scene) if poses is None else np.asarray(poses, dtype=np.float64)
    meta = scene_meta_action(scene, poses)  # validates the poses
    route, s_ego, d_ego, tr = _route_tracks(scene)
    types = [a.type for a in scene.agents]

    def fact(a: int) -> dict:
        speed = float(tr.speed[0, a])
        return dict(
            id=scene.agents[a].id,
            type=types[a],
            ahead=float(tr.s[0, a]),
            lateral=float(tr.d[0, a] - d_ego),
            speed=speed,
            motion=_motion(types[a], speed, float(tr.rel_heading[0, a])),
        )

    i1 = _cipo1(tr)
    cipo1 = None if i1 is None else ObjectFact(**fact(i1))

    ego_s = route.project(_ego_positions(poses))[0] - s_ego  # [41]
    cut_in = _cipo2(tr, types, ego_s, skip={i1})
    cipo2 = None
    if cut_in is not None:
        a, step = cut_in
        side = "left" if tr.d[0, a] > 0 else "right"
        cipo2 = CutInFact(**{**fact(a), "motion": f"cutting in from the {side}"}, entry_time=step * 0.1)

    ego_speed = float(np.hypot(scene.ego.vx, scene.ego.vy))
    radius = max(INTERACTION_RANGE, ego_speed * INTERACTION_STEPS * 0.1)
    skip = {i1, None if cut_in is None else cut_in[0]}
    interactions = [
        InteractionFact(**fact(a), min_gap=gap, min_gap_time=step * 0.1)
        for a, gap, step in _interactions(tr, types, _ego_path(poses, ego_speed), radius, skip)
    ]
    interactions.sort(key=lambda f: (np.hypot(f.ahead, f.lateral), f.id))
    return CotFacts(
        token=scene.token,
        cipo1=cipo1,
        cipo2=cipo2,
        interactions=interactions,
        light=_light(scene, route, s_ego),
        meta=meta,
    )


def _light(scene: Scene, route: Path, s_ego: float) -> Optional[LightFact]:
    route_lanes = set(scene.route_lane_ids)
    polygons = {p.id: p for p in scene.map.polygons}
    found = []
    for light in scene.traffic_lights:
        if light.lane_connector_id not in route_lanes:
            continue
        ring = to_ego_frame(ego_pose(scene), np.asarray(polygons[light.lane_connector_id].exterior, dtype=np.float64))
        s, _ = route.project(ring)
        start, end = float(s.min()) - s_ego, float(s.max()) - s_ego
        if end > 0 and start <= RANGE_AHEAD:
            state = "red" if 0 in light.red_steps else "green"
            found.append((max(start, 0.0), light.lane_connector_id, state))
    if not found:
        return None
    distance, lane_id, state = min(found)
    return LightFact(lane_connector_id=lane_id, state=state, distance=distance)


def agent_positions(scene: Scene) -> dict[str, tuple[str, float, float]]:
    """Every agent present now: id -> (type, metres ahead along the route, lateral offset from the ego, left +),
    measured as the CoT measures its key objects (for the teacher's safety analysis)."""
    _, _, d_ego, tr = _route_tracks(scene)
    return {
        agent.id: (agent.type, float(tr.s[0, a]), float(tr.d[0, a] - d_ego))
        for a, agent in enumerate(scene.agents)
        if tr.present[0, a]
    }


def scene_cot(scene: Scene, poses=None) -> tuple[str, CotFacts]:
    """The CoT text and the facts behind it (for QA generation)."""
    facts = scene_facts(scene, poses)
    return cot_text(facts), facts
