"""Export NAVSIM scenes (OpenScene logs + metric caches) as `elfrl.scene/1` scene packs.

For users who have NAVSIM installed. NAVSIM and nuPlan are imported only inside
`load_navsim` and `main`, so this module imports without them; every other function reads
NAVSIM objects by attribute only, and the tests drive it with small stand-ins of the same
shape.

    scene_loader, cache_loader = load_navsim(logs, sensor_blobs, metric_cache)
    summary = export_scenes(scene_loader, cache_loader, "out/navtest", split="navtest",
                            sensor_blobs_path=sensor_blobs)

writes `out/navtest/scenes/TOKEN.json` (one scene object each) and `out/navtest/manifest.jsonl`
(one `ManifestRecord` a line; `scene` is relative to the manifest's folder).

Where each field of the scene pack comes from (metric cache = `mc`, SceneLoader scene = `scene`,
`cur` = `scene.scene_metadata.num_history_frames - 1`, the current frame):

| scene pack field | source |
|---|---|
| ego | `mc.ego_state` (rear axle, global; velocity/acceleration already body frame) |
| reference | `mc.trajectory` (PDM-Closed) sampled at t0 + 0.0..4.0 s exactly like `get_trajectory_as_array` |
| centerline, route_lane_ids | `mc.centerline.discrete_path`, `mc.route_lane_ids` (ids outside the map are dropped: they cannot matter) |
| map | `mc.drivable_area_map` (tokens, map types, polygons: exterior ring, opened) |
| agents | `mc.observation.detections_tracks` (v2) / `mc.observation._occupancy_maps` + `unique_objects` (v1.1), or the log frames (`agents_from="frames"`) |
| traffic_lights | `red_light_<id>` geometries of `mc.observation._occupancy_maps` (v2); v1.1 caches hold none: red lights of the log frames |
| ego_history | `mc.past_human_trajectory` (v2) or log frames cur-3..cur (v1.1) |
| human_trajectory | `mc.human_trajectory.poses` (v2; None for synthetic scenes) or log frames cur+1..cur+8 (v1.1) |
| driving_command | `scene.frames[cur].ego_status.driving_command`, one-hot (left, straight, right, unknown) |

Every NAVSIM / nuPlan attribute this module reads (the contract to re-check when NAVSIM
changes; `PDM/` = `navsim/planning/simulation/planner/pdm_planner/`):

| attribute | from (class: file) |
|---|---|
| `mc.file_path` (default token: its parent folder) | MetricCache: navsim/planning/metric_caching/metric_cache.py |
| `mc.ego_state`, `.trajectory`, `.centerline`, `.route_lane_ids`, `.drivable_area_map`, `.observation` | MetricCache (v1.1 and v2): same file |
| `mc.past_human_trajectory`, `mc.human_trajectory` (v2 only) | MetricCache (v2): same file |
| `ego.rear_axle.x/.y/.heading` | EgoState: nuplan/common/actor_state/ego_state.py; StateSE2: nuplan/common/actor_state/state_representation.py |
| `ego.dynamic_car_state.rear_axle_velocity_2d.x/.y`, `.rear_axle_acceleration_2d.x/.y` | DynamicCarState: nuplan/common/actor_state/dynamic_car_state.py |
| `ego.time_point.time_us` | TimePoint: nuplan/common/actor_state/state_representation.py |
| `trajectory.get_sampled_trajectory()` (EgoStates) | InterpolatedTrajectory: nuplan/planning/simulation/trajectory/interpolated_trajectory.py |
| `centerline.discrete_path` (StateSE2 list) | PDMPath: PDM/utils/pdm_path.py |
| `drivable_area_map.tokens`, `.map_types` (`.name`), `._geometries` (shapely) | PDMDrivableMap / PDMOccupancyMap: PDM/observation/pdm_occupancy_map.py; SemanticMapLayer: nuplan/common/maps/maps_datatypes.py |
| `observation.detections_tracks` (v2) | PDMObservation: PDM/observation/pdm_observation.py |
| `observation._occupancy_maps[t].tokens`, `._geometries`; `observation.unique_objects` | PDMObservation, PDMOccupancyMap: same files |
| `detections.tracked_objects.tracked_objects` | DetectionsTracks: nuplan/planning/simulation/observation/observation_type.py; TrackedObjects: nuplan/common/actor_state/tracked_objects.py |
| `obj.track_token`, `.tracked_object_type.name`, `.box.center.x/.y/.heading`, `.box.length`, `.box.width` | SceneObject: nuplan/common/actor_state/scene_object.py; OrientedBox: nuplan/common/actor_state/oriented_box.py; TrackedObjectType: nuplan/common/actor_state/tracked_objects_types.py |
| `obj.velocity.x/.y` (vehicle, pedestrian, bicycle only) | AgentState: nuplan/common/actor_state/agent_state.py |
| `human_trajectory.poses` | Trajectory: navsim/common/dataclasses.py |
| `scene_loader.tokens`, `.get_scene_from_token(t)`, `.scene_frames_dicts[t][i]["cams"]["CAM_F0"]["data_path"]` | SceneLoader: navsim/common/dataloader.py |
| `cache_loader.tokens`, `.get_from_token(t)` | MetricCacheLoader: navsim/common/dataloader.py |
| `scene.scene_metadata.num_history_frames`, `.num_future_frames` | SceneMetadata: navsim/common/dataclasses.py |
| `scene.frames[i].timestamp`, `.traffic_lights` ((id, is_red) pairs), `.ego_status.ego_pose/.ego_velocity/.ego_acceleration/.driving_command` | Frame, EgoStatus: navsim/common/dataclasses.py |
| `scene.frames[i].annotations.boxes` (N x 7: x, y, z, length, width, height, heading; ego frame), `.names`, `.velocity_3d`, `.track_tokens` | Annotations: navsim/common/dataclasses.py; BoundingBoxIndex: navsim/common/enums.py |
| `scene.frames[i].cameras.cam_f0.camera_path` (v2) | Cameras, Camera: navsim/common/dataclasses.py |

Units and frames: global frame, metres, radians. Ego poses are rear-axle poses; ego velocity
and acceleration are body frame (nuPlan's `rear_axle_velocity_2d` is). Agent poses are box
centres and agent velocities global: log boxes are converted from the ego frame the way
`annotations_to_detection_tracks` does (navsim/planning/scenario_builder/navsim_scenario_utils.py).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, NamedTuple, Optional, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from elfrl.scene.schema import (
    MAX_OBSERVATION_STEP,
    NUM_POSES,
    NUM_REFERENCE_STATES,
    Agent,
    EgoState,
    MapPolygon,
    Scene,
    SceneMap,
    TrafficLight,
)

log = logging.getLogger(__name__)

# nuPlan SemanticMapLayer name -> scene-pack layer. PDMDrivableMap.from_simulation
# (PDM/observation/pdm_occupancy_map.py) fills exactly these five; DRIVABLE_AREA is a
# drivable layer for the scorer but is never populated, so it has no scene-pack layer.
MAP_LAYERS = {
    "ROADBLOCK": "roadblock",
    "LANE": "lane",
    "LANE_CONNECTOR": "lane_connector",
    "INTERSECTION": "intersection",
    "CARPARK_AREA": "carpark",
}
LANE_LAYERS = ("lane", "lane_connector")
# nuPlan TrackedObjectType name -> scene-pack agent type (EGO has no scene-pack type).
AGENT_TYPES_BY_NAME = {
    "VEHICLE": "vehicle",
    "PEDESTRIAN": "pedestrian",
    "BICYCLE": "bicycle",
    "TRAFFIC_CONE": "traffic_cone",
    "BARRIER": "barrier",
    "CZONE_SIGN": "czone_sign",
    "GENERIC_OBJECT": "generic_object",
}
# nuPlan AGENT_TYPES (nuplan/common/actor_state/tracked_objects_types.py) minus EGO: these are
# `Agent`s with a velocity; every other type is a `StaticObject` (no velocity: 0 here).
MOVING_TYPES = ("vehicle", "pedestrian", "bicycle")
# OpenScene one-hot order (left, forward, right, unknown): OpenDriveLab/OpenScene
# DriveEngine/process_data/helpers/driving_command.py::get_driving_command.
DRIVING_COMMANDS = ("left", "straight", "right", "unknown")
RED_LIGHT_PREFIX = "red_light_"  # PDMObservation._get_traffic_light_geometries: f"red_light_{lane_connector_id}"

FRAME_S = 0.5  # OpenScene frames are 2 Hz
STEP_S = 0.1  # observation steps are 10 Hz
STEPS_PER_FRAME = 5
HISTORY_FRAMES = 4  # -1.5, -1.0, -0.5, 0.0 s (get_ego_past_trajectory(0, 1.5) in the metric cache)
V1_FRAMES = 11  # v1.1 metric cache: boxes at 0..5 s -> 51 steps; v2: 9 frames, 0..4 s -> 41 steps
V2_FRAMES = 9
REFERENCE_HORIZON_S = 4.0


class NavsimExportError(ValueError):
    """NAVSIM input this exporter cannot convert; the message names the token and the attribute."""


class TrackBox(NamedTuple):
    """One box of one track at one time: global box-centre pose, size, global velocity."""

    token: str
    type: str  # scene-pack agent type
    x: float
    y: float
    heading: float
    length: float
    width: float
    vx: float = 0.0
    vy: float = 0.0


class ManifestRecord(BaseModel):
    """One line of `manifest.jsonl`: a scene pack and the camera images that go with it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str
    family: Literal["navsim"] = "navsim"
    split: str
    scene: str  # relative to the manifest's folder
    images: dict[str, str]  # camera name -> image file (under the sensor blobs root when it was given)


@dataclass
class ExportSummary:
    """What `export_scenes` did: files written, tokens skipped and why, every count of drops/defaults."""

    out_dir: Path
    manifest: Path
    paths: list[Path] = field(default_factory=list)
    missing_metric_cache: list[str] = field(default_factory=list)
    missing_scene: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)


# ---------------------------------------------------------------------------------------------
# reading NAVSIM objects by attribute, with errors that name the attribute


def _attr(obj: Any, name: str, attrs: str, where: str) -> Any:
    """`obj.<attrs>` (dotted), where `obj` is called `name` in messages; a missing attribute
    raises NavsimExportError naming it, e.g. `metric_cache.ego_state.dynamic_car_state`."""
    value = obj
    parts = attrs.split(".")
    for i, part in enumerate(parts):
        try:
            value = getattr(value, part)
        except AttributeError:
            missing = ".".join([name] + parts[: i + 1])
            raise NavsimExportError(
                f"{where}: `{missing}` is missing. The exporter reads the NAVSIM v1.1 / v2 attributes listed in "
                f"the docstring of elfrl/scene/navsim_export.py; check that this object is what it expects "
                f"(or that NAVSIM did not rename it)."
            ) from None
    return value


def _has(obj: Any, name: str) -> bool:
    try:
        getattr(obj, name)
    except AttributeError:
        return False
    return True


def _wrap(angle):
    """normalize_angle of PDM/utils/pdm_geometry_utils.py: arctan2(sin, cos), in (-pi, pi]."""
    return np.arctan2(np.sin(angle), np.cos(angle))


def _enum_name(value: Any) -> str:
    name = getattr(value, "name", None)
    return str(name) if name is not None else str(value)


def _note(counts: Counter, key: str, level: int, message: str) -> None:
    counts[key] += 1
    log.log(level, message)


# ---------------------------------------------------------------------------------------------
# pure functions: 2 Hz log boxes -> 10 Hz steps -> scene-pack agents


def interpolate_tracks(frames_2hz: Sequence[Sequence[TrackBox]]) -> list[list[TrackBox]]:
    """Boxes of 2 Hz frames (frame k at k * 0.5 s) -> boxes at every 10 Hz step (step i at i * 0.1 s).

    The rule of the official metric cache, `MetricCacheProcessor._interpolate_gt_observation`
    (navsim/planning/metric_caching/metric_cache_processor.py: main 0a380a9 line 99, the
    once-seen branch line 177; v1.1 3e8291b lines 91 / 165) with `StateInterpolator`
    (navsim/planning/metric_caching/metric_caching_utils.py):
    - a track is linear in x, y, heading (unwrapped over its sightings, then wrapped back with
      arctan2) and velocity between consecutive sightings, gaps included, and present only at
      steps within [first sighting, last sighting]: no extrapolation;
    - a track seen in exactly one frame is present at EVERY step with that one box
      (`if interpolator.start_time == interpolator.end_time: interpolated_tracks.append(initial_detection_track)`);
    - type, length and width come from the first sighting; static types have zero velocity;
    - at every step, tracks are listed in order of first sighting.
    """
    n = len(frames_2hz)
    if n < 1:
        raise NavsimExportError("interpolate_tracks needs at least one frame")
    # times exactly as the metric cache computes them (arange * step), so the [first, last] test agrees
    frame_t = np.arange(n, dtype=float) * FRAME_S
    step_t = np.arange(STEPS_PER_FRAME * (n - 1) + 1, dtype=float) * STEP_S
    sightings: dict[str, list[tuple[float, TrackBox]]] = {}
    for k, frame in enumerate(frames_2hz):
        seen: set[str] = set()
        for box in frame:
            if box.token in seen:
                raise NavsimExportError(f"track {box.token!r} appears twice in 2 Hz frame {k}")
            seen.add(box.token)
            sightings.setdefault(box.token, []).append((frame_t[k], box))

    steps: list[list[TrackBox]] = [[] for _ in step_t]
    for token, track in sightings.items():
        first = track[0][1]
        moving = first.type in MOVING_TYPES
        if len(track) == 1:
            box = first if moving else first._replace(vx=0.0, vy=0.0)
            for row in steps:
                row.append(box)
            continue
        t = np.array([s[0] for s in track])
        states = np.array(
            [[b.x, b.y, b.heading, b.vx if moving else 0.0, b.vy if moving else 0.0] for _, b in track],
            dtype=np.float64,
        )
        states[:, 2] = np.unwrap(states[:, 2])
        inside = np.flatnonzero((t[0] <= step_t) & (step_t <= t[-1]))
        values = np.stack([np.interp(step_t[inside], t, states[:, c]) for c in range(5)], axis=1)
        values[:, 2] = _wrap(values[:, 2])
        for i, (x, y, h, vx, vy) in zip(inside, values.tolist()):
            steps[i].append(TrackBox(token, first.type, x, y, h, first.length, first.width, vx, vy))
    return steps


def agents_from_steps(
    steps: Sequence[Sequence[TrackBox]], counts: Optional[Counter] = None, where: str = "tracks"
) -> list[Agent]:
    """Per-step boxes (step i = list index) -> scene-pack agents, one per track in order of first
    sighting; type and size from the first sighting. Steps past 50 are dropped (and counted)."""
    counts = Counter() if counts is None else counts
    if len(steps) > MAX_OBSERVATION_STEP + 1:
        _note(
            counts,
            "observation_steps_truncated",
            logging.WARNING,
            f"{where}: the observation has {len(steps)} steps; the scene pack keeps steps 0..{MAX_OBSERVATION_STEP}",
        )
        steps = steps[: MAX_OBSERVATION_STEP + 1]
    first: dict[str, TrackBox] = {}
    rows: dict[str, list[tuple]] = {}
    for i, boxes in enumerate(steps):
        for b in boxes:
            if b.token not in first:
                first[b.token] = b
                rows[b.token] = []
            rows[b.token].append((i, b.x, b.y, b.heading, b.vx, b.vy))
    agents = []
    for token, b in first.items():
        try:
            agents.append(Agent(id=token, type=b.type, length=b.length, width=b.width, steps=rows[token]))
        except ValidationError as err:
            message = f"{where}: track {token!r} does not make a valid agent:\n{_describe(err)}"
            raise NavsimExportError(message) from None
    return agents


def _describe(err: ValidationError) -> str:
    return "\n".join(f"  {'.'.join(str(p) for p in e['loc']) or '<value>'}: {e['msg']}" for e in err.errors())


def boxes_from_annotations(
    annotations: Any, ego_pose: Sequence[float], where: str, counts: Optional[Counter] = None
) -> list[TrackBox]:
    """One log frame's `Annotations` (ego-frame boxes) -> global TrackBoxes.

    As `annotations_to_detection_tracks` / `gt_boxes_oriented_box` (navsim/planning/
    scenario_builder/navsim_scenario_utils.py): the box centre is rotated by the ego heading and
    shifted by the ego (rear-axle) position, heading += ego heading (wrapped), and the velocity of
    vehicles, pedestrians and bicycles (`velocity_3d[:2]`) is rotated by the ego heading.
    """
    counts = Counter() if counts is None else counts
    boxes = np.asarray(_attr(annotations, "annotations", "boxes", where), dtype=np.float64).reshape(-1, 7)
    names = list(_attr(annotations, "annotations", "names", where))
    velocity = np.asarray(_attr(annotations, "annotations", "velocity_3d", where), dtype=np.float64).reshape(-1, 3)
    tokens = [str(t) for t in _attr(annotations, "annotations", "track_tokens", where)]
    if not len(boxes) == len(names) == len(velocity) == len(tokens):
        raise NavsimExportError(
            f"{where}: annotations have {len(boxes)} boxes, {len(names)} names, {len(velocity)} velocities "
            f"and {len(tokens)} track tokens; they must be equal"
        )
    ex, ey, eh = (float(v) for v in ego_pose[:3])
    c, s = math.cos(eh), math.sin(eh)
    out = []
    for box, name, vel, token in zip(boxes, names, velocity, tokens):
        if name == "ego":
            _note(counts, "ego_boxes_skipped", logging.WARNING, f"{where}: skipped a box of type 'ego' ({token})")
            continue
        if name not in AGENT_TYPES_BY_NAME.values():
            raise NavsimExportError(
                f"{where}: box {token!r} has type {name!r}; known types: {sorted(AGENT_TYPES_BY_NAME.values())}"
            )
        lx, ly, lh = box[0], box[1], box[6]
        heading = float(_wrap(_wrap(lh + eh)))  # rotate_state_se2 wraps, then gt_boxes_oriented_box wraps again
        vx = vy = 0.0
        if name in MOVING_TYPES:
            vx, vy = vel[0] * c - vel[1] * s, vel[0] * s + vel[1] * c
        out.append(
            TrackBox(
                token,
                name,
                float(lx * c - ly * s + ex),
                float(lx * s + ly * c + ey),
                heading,
                float(box[3]),
                float(box[4]),
                float(vx),
                float(vy),
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# metric cache -> scene-pack parts


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


def map_from_drivable_map(drivable_area_map: Any, where: str, counts: Counter) -> list[MapPolygon]:
    """PDMDrivableMap -> scene-pack polygons (exterior ring, opened; ids are the map tokens).

    A map type outside MAP_LAYERS or a non-Polygon geometry raises: dropping it would change
    what the scorer counts as drivable. Holes are dropped (the scene pack keeps exterior rings)
    and counted. Lane ids are referenced by the route and red lights, so a non-lane polygon
    whose id collides with another is renamed "<layer>:<id>" (counted)."""
    name = "metric_cache.drivable_area_map"
    tokens = [str(t) for t in _attr(drivable_area_map, name, "tokens", where)]
    types = list(_attr(drivable_area_map, name, "map_types", where))
    geoms = list(_attr(drivable_area_map, name, "_geometries", where))
    if not len(tokens) == len(types) == len(geoms):
        raise NavsimExportError(
            f"{where}: `{name}` has {len(tokens)} tokens, {len(types)} map types and {len(geoms)} geometries"
        )
    entries = []
    for token, map_type, geom in zip(tokens, types, geoms):
        type_name = _enum_name(map_type)
        layer = MAP_LAYERS.get(type_name)
        if layer is None:
            raise NavsimExportError(
                f"{where}: map polygon {token!r} has map type {type_name}, which the scene format has no layer "
                f"for (known: {sorted(MAP_LAYERS)}); extend MAP_LAYERS in elfrl/scene/navsim_export.py and the "
                f"scene format if the scorer must see it"
            )
        if getattr(geom, "geom_type", None) != "Polygon":
            raise NavsimExportError(
                f"{where}: map polygon {token!r} ({type_name}) is a {getattr(geom, 'geom_type', type(geom).__name__)}"
                f"; the scene format holds single polygons"
            )
        if len(geom.interiors):
            _note(
                counts,
                "polygon_holes_dropped",
                logging.WARNING,
                f"{where}: map polygon {token!r} ({type_name}) has {len(geom.interiors)} holes; kept its exterior only",
            )
        ring = [(float(x), float(y)) for x, y, *_ in geom.exterior.coords]
        if len(ring) > 1 and ring[0] == ring[-1]:
            ring = ring[:-1]  # shapely rings are closed; the scene pack's are open
        entries.append((token, layer, ring))

    lane_ids = [t for t, layer, _ in entries if layer in LANE_LAYERS]
    dup_lanes = sorted(t for t, n in Counter(lane_ids).items() if n > 1)
    if dup_lanes:
        raise NavsimExportError(f"{where}: lane / lane connector ids appear more than once: {dup_lanes[:5]}")
    polygons, used = [], set(lane_ids)
    for token, layer, ring in entries:
        pid = token
        if layer not in LANE_LAYERS:
            if pid in used:
                pid = f"{layer}:{token}"
                _note(
                    counts,
                    "polygon_ids_renamed",
                    logging.WARNING,
                    f"{where}: {layer} polygon id {token!r} is taken; renamed {pid!r}",
                )
            if pid in used:
                raise NavsimExportError(f"{where}: map polygon id {token!r} appears twice in layer {layer}")
            used.add(pid)
        try:
            polygons.append(MapPolygon(id=pid, layer=layer, exterior=ring))
        except ValidationError as err:
            raise NavsimExportError(f"{where}: map polygon {token!r} ({layer}) is invalid:\n{_describe(err)}") from None
    return polygons


def _tracked_objects(detections: Any, where: str) -> list:
    return list(_attr(detections, "detections", "tracked_objects.tracked_objects", where))


def _track_box(obj: Any, where: str, counts: Counter) -> Optional[TrackBox]:
    """A nuPlan TrackedObject -> TrackBox (None for EGO, counted)."""
    token = str(_attr(obj, "tracked_object", "track_token", where))
    type_name = _enum_name(_attr(obj, "tracked_object", "tracked_object_type", where))
    if type_name == "EGO":
        _note(counts, "ego_boxes_skipped", logging.WARNING, f"{where}: skipped track {token!r} of type EGO")
        return None
    kind = AGENT_TYPES_BY_NAME.get(type_name)
    if kind is None:
        raise NavsimExportError(
            f"{where}: track {token!r} has type {type_name}; known types: {sorted(AGENT_TYPES_BY_NAME)}"
        )
    vx = vy = 0.0
    if kind in MOVING_TYPES:
        vx = float(_attr(obj, "tracked_object", "velocity.x", where))
        vy = float(_attr(obj, "tracked_object", "velocity.y", where))
    return TrackBox(
        token,
        kind,
        float(_attr(obj, "tracked_object", "box.center.x", where)),
        float(_attr(obj, "tracked_object", "box.center.y", where)),
        float(_attr(obj, "tracked_object", "box.center.heading", where)),
        float(_attr(obj, "tracked_object", "box.length", where)),
        float(_attr(obj, "tracked_object", "box.width", where)),
        vx,
        vy,
    )


def steps_from_observation(observation: Any, where: str, counts: Counter) -> list[list[TrackBox]]:
    """The metric cache's observation -> boxes per 10 Hz step.

    Source choice. v2 caches keep the interpolated `DetectionsTracks` per step in
    `observation.detections_tracks` (41 steps, 0..4 s). That list is exactly what v2 scoring
    replays (`LogReplayTrafficAgents.simulate_environment` returns it, and `update_detections_tracks`
    rebuilds the occupancy maps and `unique_objects` from it), and it holds everything the scene
    pack needs per step: box-centre pose, size, type, global velocity. We read it rather than
    `current_tracked_objects + future_tracked_objects`: those differ at step 0, where the current
    frame's raw objects lack the tracks seen in one later frame only, which the observation lists
    at every step.
    v1.1 caches keep only occupancy maps (`_occupancy_maps[t]`: track tokens and box polygons,
    51 steps, 0..5 s) and `unique_objects` (each track's first-sighting object). The box pose is
    recovered from the polygon (corners FL, RL, RR, FR: `OrientedBox.all_corners`), the exact first
    pose comes from `unique_objects`; per-step velocities are not cached, so the first-sighting
    velocity is repeated at every step (counted; the scorer reads only the first step's).
    """
    tracks = getattr(observation, "detections_tracks", None)  # v1.1 objects: AttributeError -> None
    if tracks is not None:
        return [
            [b for b in (_track_box(o, f"{where} step {i}", counts) for o in _tracked_objects(d, where)) if b]
            for i, d in enumerate(tracks)
        ]

    name = "metric_cache.observation"
    maps = list(_attr(observation, name, "_occupancy_maps", where))
    unique = _attr(observation, name, "unique_objects", where)
    firsts: dict[str, Optional[TrackBox]] = {}
    steps: list[list[TrackBox]] = []
    for i, occ in enumerate(maps):
        tokens = [str(t) for t in _attr(occ, f"{name}._occupancy_maps[{i}]", "tokens", where)]
        geoms = list(_attr(occ, f"{name}._occupancy_maps[{i}]", "_geometries", where))
        row: list[TrackBox] = []
        for token, geom in zip(tokens, geoms):
            if token.startswith(RED_LIGHT_PREFIX):
                continue
            if token not in firsts:
                if token not in unique:
                    raise NavsimExportError(f"{where}: track {token!r} of step {i} is not in {name}.unique_objects")
                firsts[token] = _track_box(unique[token], where, counts)
                if firsts[token] is not None:
                    row.append(firsts[token])  # the first sighting: its exact box
                continue
            first = firsts[token]
            if first is None:
                continue
            c = np.asarray(geom.exterior.coords, dtype=np.float64)[:4]  # FL, RL, RR, FR
            front, rear = (c[0] + c[3]) / 2.0, (c[1] + c[2]) / 2.0
            cx, cy = c.mean(axis=0)
            heading = math.atan2(front[1] - rear[1], front[0] - rear[0])
            row.append(first._replace(x=float(cx), y=float(cy), heading=heading))
        steps.append(row)
    moving = sum(1 for b in firsts.values() if b is not None and b.type in MOVING_TYPES)
    if moving:
        _note(
            counts,
            "agent_velocities_repeated_v1",
            logging.INFO,
            f"{where}: v1.1 metric cache: {moving} agents get their first-sighting velocity at every step",
        )
    return steps


def red_lights_from_observation(observation: Any, where: str) -> tuple[dict[str, list[int]], dict[str, Any]]:
    """{lane connector id: steps} at which its red-light geometry is in the observation, and each
    such geometry (v2 caches: `red_light_<id>` tokens of `_occupancy_maps`, the maps TLC queries;
    v1.1 caches hold none). Ids keep the order of first appearance."""
    name = "metric_cache.observation"
    red: dict[str, list[int]] = {}
    geometries: dict[str, Any] = {}
    for i, occ in enumerate(list(_attr(observation, name, "_occupancy_maps", where))):
        tokens = [str(t) for t in _attr(occ, f"{name}._occupancy_maps[{i}]", "tokens", where)]
        if not any(t.startswith(RED_LIGHT_PREFIX) for t in tokens):
            continue
        geoms = list(_attr(occ, f"{name}._occupancy_maps[{i}]", "_geometries", where))
        for token, geom in zip(tokens, geoms):
            if token.startswith(RED_LIGHT_PREFIX):
                lane_id = token[len(RED_LIGHT_PREFIX) :]
                red.setdefault(lane_id, []).append(i)
                geometries.setdefault(lane_id, geom)
    return red, geometries


def metric_cache_version(metric_cache: Any) -> str:
    """"v2" when the cache has the v2-only fields (past_human_trajectory, ...), else "v1.1"."""
    return "v2" if _has(metric_cache, "past_human_trajectory") else "v1.1"


def scene_from_metric_cache(
    metric_cache: Any,
    *,
    token: Optional[str] = None,
    driving_command: str | Sequence[int] = "unknown",
    ego_history: Optional[Sequence[Sequence[float]]] = None,
    human_trajectory: Optional[Sequence[Sequence[float]]] = None,
    traffic_lights: Optional[Mapping[str, Sequence[int]]] = None,
    agents: Optional[Sequence[Agent]] = None,
    counts: Optional[Counter] = None,
) -> Scene:
    """One NAVSIM (v1.1 or v2) MetricCache -> a validated scene pack `Scene`.

    token: the scene token; default: the cache file's folder name (`mc.file_path`, as
        MetricCacheLoader keys it).
    driving_command: "left" | "straight" | "right" | "unknown", or NAVSIM's one-hot
        (left, straight, right, unknown) `EgoStatus.driving_command` (the cache has none).
    ego_history: rows [t, x, y, heading, vx, vy, ax, ay] at -1.5..0 s (`ego_history_from_scene`);
        default: the v2 cache's `past_human_trajectory`. Required for v1.1 caches.
    human_trajectory: 8 poses at 0.5..4.0 s relative to the current rear axle
        (`human_trajectory_from_scene`); default: the v2 cache's `human_trajectory` (None for
        synthetic scenes and v1.1 caches).
    traffic_lights: {lane_connector_id: red steps}; default: the red lights in the cache's
        observation (v2; v1.1 caches have none, see `red_lights_from_scene`).
    agents: scene-pack agents (e.g. `agents_from_scene`); default: the cache's observation.
    counts: a Counter that receives one count per dropped / renamed / defaulted item.

    Images are not part of a scene; `export_scenes` writes them into the manifest.
    """
    counts = Counter() if counts is None else counts
    if token is None:
        token = Path(str(_attr(metric_cache, "metric_cache", "file_path", "metric cache"))).parent.name
    where = f"token {token}"
    version = metric_cache_version(metric_cache)

    ego_state = _attr(metric_cache, "metric_cache", "ego_state", where)
    ego = ego_from_state(ego_state, where)
    t0_us = int(_attr(ego_state, "metric_cache.ego_state", "time_point.time_us", where))
    reference = reference_from_trajectory(_attr(metric_cache, "metric_cache", "trajectory", where), t0_us, where)
    path = _attr(metric_cache, "metric_cache", "centerline.discrete_path", where)
    centerline = _poses(path, "metric_cache.centerline.discrete_path", where)
    polygons = map_from_drivable_map(_attr(metric_cache, "metric_cache", "drivable_area_map", where), where, counts)
    layer_of = {p.id: p.layer for p in polygons}
    ring_of = {p.id: p.exterior for p in polygons}

    route = []
    for lane_id in _attr(metric_cache, "metric_cache", "route_lane_ids", where):
        lane_id = str(lane_id)
        if layer_of.get(lane_id) in LANE_LAYERS:
            route.append(lane_id)
        else:  # PDM-Closed's route reaches past the 100 m map radius; such lanes cannot be scored against
            message = f"{where}: route lane {lane_id!r} is not in the map"
            _note(counts, "route_lane_ids_outside_map", logging.DEBUG, message)

    if ego_history is None:
        if version != "v2":
            raise NavsimExportError(
                f"{where}: a v1.1 metric cache holds no ego history; pass ego_history "
                f"(ego_history_from_scene(scene) builds it from the SceneLoader scene)"
            )
        past = _attr(metric_cache, "metric_cache", "past_human_trajectory", where)
        ego_history = [
            _ego_row(s, t0_us, where, "metric_cache.past_human_trajectory[i]")
            for s in _sampled_states(past, "metric_cache.past_human_trajectory", where)
        ]

    if human_trajectory is None and version == "v2":
        human = _attr(metric_cache, "metric_cache", "human_trajectory", where)
        if human is not None:
            poses = np.asarray(_attr(human, "metric_cache.human_trajectory", "poses", where), dtype=np.float64)
            human_trajectory = poses[:NUM_POSES, :3].tolist()

    observation = _attr(metric_cache, "metric_cache", "observation", where)
    if agents is None:
        agents = agents_from_steps(steps_from_observation(observation, where, counts), counts, where)

    geometries: dict[str, Any] = {}
    if traffic_lights is None:
        traffic_lights, geometries = red_lights_from_observation(observation, where)
    lights = []
    for lane_id, red_steps in traffic_lights.items():
        lane_id = str(lane_id)
        if layer_of.get(lane_id) not in LANE_LAYERS:
            _note(
                counts,
                "red_lights_outside_map",
                logging.WARNING,
                f"{where}: red light on lane connector {lane_id!r}, which is not a lane of the map; dropped",
            )
            continue
        geom = geometries.get(lane_id)
        if geom is not None and not _same_ring(geom, ring_of[lane_id]):
            _note(
                counts,
                "red_light_geometry_differs",
                logging.WARNING,
                f"{where}: the red-light polygon of {lane_id!r} differs from the map polygon of that id; "
                f"the scene pack uses the map polygon",
            )
        if lane_id not in route:
            # the cache's red lights follow the uncorrected route (MetricCacheProcessor._load_route_dicts);
            # elfrl's scorer only applies lights on route_lane_ids (the corrected route)
            _note(
                counts,
                "red_lights_off_route",
                logging.WARNING,
                f"{where}: red light on {lane_id!r}, which is not in route_lane_ids",
            )
        steps = sorted({int(s) for s in red_steps if 0 <= int(s) <= MAX_OBSERVATION_STEP})
        if steps:
            lights.append(TrafficLight(lane_connector_id=lane_id, red_steps=steps))

    try:
        return Scene(
            token=token,
            ego=ego,
            ego_history=[tuple(r) for r in ego_history],
            driving_command=_driving_command(driving_command, where, counts),
            map=SceneMap(polygons=polygons),
            route_lane_ids=route,
            centerline=centerline,
            reference=reference,
            agents=list(agents),
            traffic_lights=lights,
            human_trajectory=human_trajectory,
        )
    except ValidationError as err:
        raise NavsimExportError(f"{where}: the converted scene is invalid:\n{_describe(err)}") from None


def _same_ring(geom: Any, ring: Sequence[tuple[float, float]], tol: float = 1e-6) -> bool:
    coords = [(float(x), float(y)) for x, y, *_ in geom.exterior.coords]
    if len(coords) > 1 and coords[0] == coords[-1]:
        coords = coords[:-1]
    return len(coords) == len(ring) and np.allclose(coords, ring, atol=tol)


def _driving_command(value: Any, where: str, counts: Counter) -> str:
    if isinstance(value, str):
        if value not in DRIVING_COMMANDS:
            raise NavsimExportError(f"{where}: driving command {value!r} is not one of {DRIVING_COMMANDS}")
        return value
    one_hot = np.asarray(value).reshape(-1)
    if one_hot.shape == (4,) and np.count_nonzero(one_hot) == 1 and one_hot.max() == 1:
        return DRIVING_COMMANDS[int(np.argmax(one_hot))]
    _note(
        counts,
        "driving_command_invalid",
        logging.WARNING,
        f"{where}: driving command {one_hot.tolist()} is not a one-hot of 4; wrote 'unknown'",
    )
    return "unknown"


# ---------------------------------------------------------------------------------------------
# SceneLoader scene (log frames) -> scene-pack parts


def _current_frame(scene: Any, where: str) -> int:
    cur = int(_attr(scene, "scene", "scene_metadata.num_history_frames", where)) - 1
    n = len(_attr(scene, "scene", "frames", where))
    if cur < 0 or cur >= n:
        raise NavsimExportError(f"{where}: current frame index {cur} outside the scene's {n} frames")
    return cur


def _frame_pose(frame: Any, name: str, where: str) -> np.ndarray:
    return np.asarray(_attr(frame, name, "ego_status.ego_pose", where), dtype=np.float64)[:3]


def ego_history_from_scene(scene: Any, where: str = "scene") -> list[list[float]]:
    """Logged ego [t, x, y, heading, vx, vy, ax, ay] at the current and 3 previous frames
    (-1.5..0 s, t from the frame timestamps), as `get_ego_past_trajectory(0, 1.5)` gives the v2
    metric cache: `ego_status_to_ego_state` (navsim_scenario_utils.py) of each frame's global
    `EgoStatus` (rear axle; velocity and acceleration in the body frame)."""
    cur = _current_frame(scene, where)
    if cur < HISTORY_FRAMES - 1:
        raise NavsimExportError(
            f"{where}: the ego history needs {HISTORY_FRAMES} frames up to the current one; the scene has "
            f"num_history_frames={cur + 1}"
        )
    frames = _attr(scene, "scene", "frames", where)
    t0 = int(_attr(frames[cur], f"scene.frames[{cur}]", "timestamp", where))
    rows = []
    for i in range(cur - HISTORY_FRAMES + 1, cur + 1):
        name = f"scene.frames[{i}]"
        pose = _frame_pose(frames[i], name, where)
        vel = np.asarray(_attr(frames[i], name, "ego_status.ego_velocity", where), dtype=np.float64)
        acc = np.asarray(_attr(frames[i], name, "ego_status.ego_acceleration", where), dtype=np.float64)
        t = (int(_attr(frames[i], name, "timestamp", where)) - t0) / 1e6
        rows.append([t, pose[0], pose[1], pose[2], vel[0], vel[1], acc[0], acc[1]])
    return rows


def human_trajectory_from_scene(scene: Any, where: str = "scene") -> Optional[list[list[float]]]:
    """Logged ego poses of frames cur+1..cur+8 (0.5..4.0 s) relative to the current rear axle
    (`Scene.get_future_trajectory`), or None when the scene has fewer future frames."""
    cur = _current_frame(scene, where)
    frames = _attr(scene, "scene", "frames", where)
    if len(frames) < cur + 1 + NUM_POSES:
        return None
    origin = _frame_pose(frames[cur], f"scene.frames[{cur}]", where)
    c, s = math.cos(origin[2]), math.sin(origin[2])
    out = []
    for i in range(cur + 1, cur + 1 + NUM_POSES):
        p = _frame_pose(frames[i], f"scene.frames[{i}]", where)
        dx, dy = p[0] - origin[0], p[1] - origin[1]
        out.append([c * dx + s * dy, -s * dx + c * dy, float(_wrap(p[2] - origin[2]))])
    return out


def driving_command_from_scene(scene: Any, where: str = "scene") -> Sequence[int]:
    """The current frame's one-hot driving command (left, straight, right, unknown)."""
    cur = _current_frame(scene, where)
    frame = _attr(scene, "scene", "frames", where)[cur]
    return _attr(frame, f"scene.frames[{cur}]", "ego_status.driving_command", where)


def agents_from_scene(
    scene: Any, num_frames: int = V1_FRAMES, counts: Optional[Counter] = None, where: str = "scene"
) -> list[Agent]:
    """Agents rebuilt from the log frames cur..cur+num_frames-1 the way the metric cache builds its
    observation: ego-frame boxes to global (`boxes_from_annotations`), then `interpolate_tracks`.
    num_frames=11 reproduces a v1.1 cache (steps 0..50), 9 a v2 cache (steps 0..40); fewer are
    used when the scene ends earlier (counted)."""
    counts = Counter() if counts is None else counts
    cur = _current_frame(scene, where)
    frames = _attr(scene, "scene", "frames", where)
    available = len(frames) - cur
    if available < num_frames:
        _note(
            counts,
            "agent_frames_short",
            logging.WARNING,
            f"{where}: {available} frames from the current one, fewer than the {num_frames} asked for",
        )
        num_frames = available
    boxes = []
    for i in range(cur, cur + num_frames):
        name = f"scene.frames[{i}]"
        boxes.append(
            boxes_from_annotations(
                _attr(frames[i], name, "annotations", where), _frame_pose(frames[i], name, where), name, counts
            )
        )
    return agents_from_steps(interpolate_tracks(boxes), counts, where)


def red_lights_from_scene(scene: Any, num_frames: int = V2_FRAMES, where: str = "scene") -> dict[str, list[int]]:
    """Red lane connectors per 10 Hz step from the log frames' (lane_connector_id, is_red) lists.

    As `MetricCacheProcessor._interpolate_traffic_light_status` (v2): the light of 2 Hz frame k
    holds for steps 5k..5k+4, steps 0..40. Unlike the v2 cache this does not keep only the lane
    connectors of the (uncorrected) route, which needs the map: `scene_from_metric_cache` keeps the
    lights on lanes of the exported map, and the scorer applies those on route_lane_ids."""
    cur = _current_frame(scene, where)
    frames = _attr(scene, "scene", "frames", where)
    last_step = STEPS_PER_FRAME * (num_frames - 1)
    red: dict[str, list[int]] = {}
    for k in range(min(num_frames, len(frames) - cur)):
        lights = _attr(frames[cur + k], f"scene.frames[{cur + k}]", "traffic_lights", where)
        for lane_connector_id, is_red in lights:
            if is_red:
                steps = red.setdefault(str(lane_connector_id), [])
                steps.extend(s for s in range(STEPS_PER_FRAME * k, STEPS_PER_FRAME * (k + 1)) if s <= last_step)
    return red


def cam_f0_path(scene: Any, scene_loader: Any, token: str) -> Optional[str]:
    """The current frame's front-camera file, relative to the sensor blobs root: the scene's
    `cameras.cam_f0.camera_path` (v2, when cam_f0 was loaded) or the log's `cams.CAM_F0.data_path`."""
    cur = _current_frame(scene, f"token {token}")
    frame = _attr(scene, "scene", "frames", f"token {token}")[cur]
    cameras = getattr(frame, "cameras", None)
    cam = getattr(cameras, "cam_f0", None)
    path = getattr(cam, "camera_path", None)
    if path is not None:
        return str(path)
    frames_dicts = getattr(scene_loader, "scene_frames_dicts", None)
    try:
        return str(frames_dicts[token][cur]["cams"]["CAM_F0"]["data_path"])
    except (KeyError, IndexError, TypeError):
        return None


def scene_from_navsim(
    scene: Any,
    metric_cache: Any,
    token: str,
    agents_from: Literal["metric_cache", "frames"] = "metric_cache",
    counts: Optional[Counter] = None,
) -> Scene:
    """A SceneLoader scene plus its metric cache -> a Scene: the cache for everything it has
    (`scene_from_metric_cache`), the log frames for what a v1.1 cache lacks (ego history, human
    trajectory, red lights) and for the driving command.

    agents_from="metric_cache" gives the agents the official scorer of the cache's version sees
    (v2: steps 0..40, v1.1: 0..50). "frames" rebuilds the v1.1 observation (steps 0..50) from the
    log boxes, which v1.1 scoring of a v2-cache scene needs for TTC past 4.0 s; tracks seen once
    in 0..4 s but again at 4.5 or 5 s then differ from what v2 replays.
    """
    if agents_from not in ("metric_cache", "frames"):
        raise NavsimExportError(f"agents_from must be 'metric_cache' or 'frames', got {agents_from!r}")
    counts = Counter() if counts is None else counts
    where = f"token {token}"
    in_scene = f"token {token} (SceneLoader scene)"
    agents = agents_from_scene(scene, V1_FRAMES, counts, in_scene) if agents_from == "frames" else None
    if metric_cache_version(metric_cache) == "v2":
        return scene_from_metric_cache(
            metric_cache,
            token=token,
            driving_command=driving_command_from_scene(scene, in_scene),
            agents=agents,
            counts=counts,
        )
    # v1.1 caches hold no ego history, human trajectory or red lights: take them from the log
    # frames. Red lights: only those on the route (v2 keeps the route's; elfrl's scorer applies
    # only lights on route_lane_ids), so the log's lights elsewhere are dropped (counted).
    route = {str(i) for i in _attr(metric_cache, "metric_cache", "route_lane_ids", where)}
    lights = {}
    for lane_id, steps in red_lights_from_scene(scene, V2_FRAMES, in_scene).items():
        if lane_id in route:
            lights[lane_id] = steps
        else:
            message = f"{where}: log red light {lane_id!r} is off route"
            _note(counts, "red_lights_off_route_frames", logging.DEBUG, message)
    return scene_from_metric_cache(
        metric_cache,
        token=token,
        driving_command=driving_command_from_scene(scene, in_scene),
        ego_history=ego_history_from_scene(scene, in_scene),
        human_trajectory=human_trajectory_from_scene(scene, in_scene),
        traffic_lights=lights,
        agents=agents,
        counts=counts,
    )


# ---------------------------------------------------------------------------------------------
# export


def export_scenes(
    scene_loader: Any,
    metric_cache_loader: Any,
    out_dir: str | Path,
    tokens: Optional[Iterable[str]] = None,
    *,
    split: str,
    sensor_blobs_path: Optional[str | Path] = None,
    agents_from: Literal["metric_cache", "frames"] = "metric_cache",
    console: Any = None,
) -> ExportSummary:
    """Export scenes token by token: `out_dir/scenes/TOKEN.json` and `out_dir/manifest.jsonl`.

    tokens: default `scene_loader.tokens`. A token without a metric cache or without a scene is
    logged, counted and listed in the summary; a scene that fails to convert raises (the error
    names the token and the attribute). sensor_blobs_path: root the CAM_F0 paths are joined to
    (default: the relative paths of the logs). Prints a summary with rich; returns it.
    """
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    console = console or Console(stderr=True)
    out_dir = Path(out_dir)
    (out_dir / "scenes").mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(out_dir=out_dir, manifest=out_dir / "manifest.jsonl")
    tokens = list(_attr(scene_loader, "scene_loader", "tokens", "SceneLoader") if tokens is None else tokens)
    scene_tokens = set(_attr(scene_loader, "scene_loader", "tokens", "SceneLoader"))
    cache_tokens = set(_attr(metric_cache_loader, "metric_cache_loader", "tokens", "MetricCacheLoader"))
    counts = summary.counts

    with open(summary.manifest, "w", encoding="utf-8") as manifest, Progress(console=console, transient=True) as bar:
        task = bar.add_task("exporting NAVSIM scenes", total=len(tokens))
        for token in tokens:
            bar.advance(task)
            if token not in scene_tokens:
                summary.missing_scene.append(token)
                _note(counts, "missing_scene", logging.WARNING, f"token {token}: not in the SceneLoader; skipped")
                continue
            if token not in cache_tokens:
                summary.missing_metric_cache.append(token)
                _note(counts, "missing_metric_cache", logging.WARNING, f"token {token}: no metric cache; skipped")
                continue
            try:
                metric_cache = metric_cache_loader.get_from_token(token)
            except FileNotFoundError as err:  # listed in the cache's metadata csv, file gone
                summary.missing_metric_cache.append(token)
                message = f"token {token}: metric cache listed but not found ({err})"
                _note(counts, "missing_metric_cache", logging.WARNING, message)
                continue
            scene = scene_loader.get_scene_from_token(token)
            exported = scene_from_navsim(scene, metric_cache, token, agents_from=agents_from, counts=counts)
            path = out_dir / "scenes" / f"{token}.json"
            path.write_text(exported.model_dump_json(exclude_none=True) + "\n", encoding="utf-8")
            images = {}
            image = cam_f0_path(scene, scene_loader, token)
            if image is None:
                _note(counts, "no_image_path", logging.WARNING, f"token {token}: no CAM_F0 path in the scene or log")
            else:
                images["CAM_F0"] = str(Path(sensor_blobs_path) / image) if sensor_blobs_path else image
            if exported.human_trajectory is None:
                _note(counts, "no_human_trajectory", logging.INFO, f"token {token}: no logged human trajectory")
            record = ManifestRecord(
                token=token, split=split, scene=path.relative_to(out_dir).as_posix(), images=images
            )
            manifest.write(record.model_dump_json() + "\n")
            summary.paths.append(path)

    table = Table(title=f"NAVSIM export to {out_dir} (split {split})")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("tokens asked", str(len(tokens)))
    table.add_row("scenes written", str(len(summary.paths)))
    for key, value in sorted(counts.items()):
        table.add_row(key.replace("_", " "), str(value))
    console.print(table)
    if summary.missing_metric_cache:
        missing = summary.missing_metric_cache
        console.print(f"no metric cache for {len(missing)} tokens, e.g. {missing[:5]}")
    console.print(f"manifest: {summary.manifest}")
    return summary


def load_navsim(
    logs_path: str | Path,
    sensor_blobs_path: str | Path,
    metric_cache_path: str | Path,
    tokens: Optional[Sequence[str]] = None,
    num_history_frames: int = 4,
    num_future_frames: int = 10,
    frame_interval: int = 1,
) -> tuple[Any, Any]:
    """NAVSIM's SceneLoader (no sensors loaded) and MetricCacheLoader. Needs NAVSIM installed.

    num_future_frames=10 (5 s) keeps the frames that `agents_from="frames"` uses; frame_interval=1
    is what navtest / navtrain use."""
    try:
        from navsim.common.dataclasses import SceneFilter, SensorConfig
        from navsim.common.dataloader import MetricCacheLoader, SceneLoader
    except ImportError as err:
        raise ImportError(
            "load_navsim needs NAVSIM (github.com/autonomousvision/navsim, v1.1 or v2) and nuplan-devkit "
            f"installed; they are not on PyPI ({err})"
        ) from err
    scene_filter = SceneFilter(
        num_history_frames=num_history_frames,
        num_future_frames=num_future_frames,
        frame_interval=frame_interval,
        has_route=True,
        tokens=list(tokens) if tokens is not None else None,
    )
    # positional: (data_path, sensor path, scene_filter) is the order of v1.1 and v2
    no_sensors = SensorConfig.build_no_sensors()
    scene_loader = SceneLoader(Path(logs_path), Path(sensor_blobs_path), scene_filter, sensor_config=no_sensors)
    return scene_loader, MetricCacheLoader(Path(metric_cache_path))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """python -m elfrl.scene.navsim_export LOGS SENSOR_BLOBS METRIC_CACHE OUT --split navtest"""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m elfrl.scene.navsim_export", description=__doc__.splitlines()[0])
    parser.add_argument("logs", help="navsim_logs/<split> folder of OpenScene log pickles")
    parser.add_argument("sensor_blobs", help="sensor_blobs/<split> folder (CAM_F0 paths are joined to it)")
    parser.add_argument("metric_cache", help="metric cache folder (with metadata/*.csv)")
    parser.add_argument("out", help="output folder: scenes/TOKEN.json and manifest.jsonl")
    parser.add_argument("--split", required=True, help="split name written into the manifest")
    parser.add_argument("--tokens", help="file with one token a line (default: every scene of the logs)")
    parser.add_argument("--agents-from", choices=("metric_cache", "frames"), default="metric_cache")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    tokens = Path(args.tokens).read_text().split() if args.tokens else None
    scene_loader, cache_loader = load_navsim(args.logs, args.sensor_blobs, args.metric_cache, tokens=tokens)
    export_scenes(
        scene_loader,
        cache_loader,
        args.out,
        tokens,
        split=args.split,
        sensor_blobs_path=args.sensor_blobs,
        agents_from=args.agents_from,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
