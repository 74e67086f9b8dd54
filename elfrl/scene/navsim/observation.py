"""The metric cache's observation -> boxes per 10 Hz step (v2 detections or v1.1 occupancy maps), and red lights."""

from __future__ import annotations

import logging
import math
from collections import Counter
from typing import Any, Optional

import numpy as np

from elfrl.scene.navsim.common import (
    AGENT_TYPES_BY_NAME,
    MOVING_TYPES,
    RED_LIGHT_PREFIX,
    NavsimExportError,
    TrackBox,
    _attr,
    _enum_name,
    _note,
)


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
