"""One NAVSIM (v1.1 or v2) metric cache -> a validated scene pack `Scene` (`scene_from_metric_cache`)."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from pydantic import ValidationError

from elfrl.scene.navsim.common import DRIVING_COMMANDS, LANE_LAYERS, NavsimExportError, _attr, _describe, _has, _note
from elfrl.scene.navsim.drivable_map import _same_ring, map_from_drivable_map
from elfrl.scene.navsim.observation import red_lights_from_observation, steps_from_observation
from elfrl.scene.navsim.tracks import agents_from_steps
from elfrl.scene.navsim.trajectory import _ego_row, _poses, _sampled_states, ego_from_state, reference_from_trajectory
from elfrl.scene.schema import MAX_OBSERVATION_STEP, NUM_POSES, Agent, MapPolygon, Scene, SceneMap, TrafficLight


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
    lights = _lights_on_map(traffic_lights, geometries, polygons, route, where, counts)

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


def _lights_on_map(
    traffic_lights: Mapping[str, Sequence[int]],
    geometries: Mapping[str, Any],
    polygons: Sequence[MapPolygon],
    route: Sequence[str],
    where: str,
    counts: Counter,
) -> list[TrafficLight]:
    """Red lights -> scene-pack TrafficLights: only lights on a lane of the map are kept (the rest are
    dropped, counted); red steps are clipped to 0..MAX_OBSERVATION_STEP; a red-light geometry that
    differs from the map polygon, or a light off the route, is kept and counted."""
    layer_of = {p.id: p.layer for p in polygons}
    ring_of = {p.id: p.exterior for p in polygons}
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
    return lights


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
