"""A SceneLoader scene (OpenScene log frames) -> scene-pack parts, and `scene_from_navsim` (scene + metric cache).

`cur` = `scene.scene_metadata.num_history_frames - 1`, the current frame.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Literal, Optional, Sequence

import numpy as np

from elfrl.scene.navsim.common import (
    HISTORY_FRAMES,
    STEPS_PER_FRAME,
    V1_FRAMES,
    V2_FRAMES,
    NavsimExportError,
    _attr,
    _note,
)
from elfrl.scene.navsim.metric_cache import metric_cache_version, scene_from_metric_cache
from elfrl.scene.navsim.tracks import agents_from_steps, boxes_from_annotations, interpolate_tracks
from elfrl.scene.frames import to_ego_frame
from elfrl.scene.schema import NUM_POSES, Agent, Scene


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
    future = [_frame_pose(frames[i], f"scene.frames[{i}]", where) for i in range(cur + 1, cur + 1 + NUM_POSES)]
    return to_ego_frame(origin, np.asarray(future, dtype=np.float64)).tolist()


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
