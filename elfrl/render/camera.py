"""Front camera (NAVSIM `CAM_F0`) images of scene packs, drawn with Pillow.

Synthetic scenes have no real images; this gives the policy (and, with future frames, the
oracle teacher of the distillation stage) a camera-like view of them. The world is flat
(ground at z = 0) and drawn with the painter's algorithm: sky and ground, road polygons,
lane markings, then 3D boxes (agents, traffic lights) far to near. Frames and projection are
in `elfrl.render.projection`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from elfrl.render.boxes import BoxList, add_agents, add_traffic_light, draw_boxes
from elfrl.render.markings import lane_marking_segments
from elfrl.render.projection import Camera, CameraConfig, clip_depth, clip_segments
from elfrl.scene.arrays import SceneArrays, scene_arrays
from elfrl.scene.schema import Scene

OBSERVATION_DT = 0.1  # agents and lights are listed per 10 Hz step (Scene.dt is validated to 0.1)
POSE_DT = 0.5  # human_trajectory poses are at 0.5 .. 4.0 s (NAVSIM Trajectory, 8 poses)
FRAME_TIMES = tuple(POSE_DT * k for k in range(9))  # t = 0 (current) and the 8 logged future poses

SKY_TOP, SKY_HORIZON = (105, 155, 225), (205, 222, 240)
GROUND_HORIZON, GROUND_NEAR = (150, 158, 138), (96, 116, 78)
ROAD_RGB = {  # drawn in this order: ground polygons share z = 0, so layer decides, not distance
    "roadblock": (78, 78, 82),
    "intersection": (82, 82, 86),
    "carpark": (86, 84, 82),
    "lane": (100, 100, 104),
    "lane_connector": (100, 100, 104),
}
# Lane markings: (RGB, dash m, period m). Lane connectors get faint yellow guides in junctions.
MARKINGS = {"lane": ((230, 230, 230), 3.0, 9.0), "lane_connector": ((160, 150, 100), 1.0, 3.0)}
LIGHT_SIDE_M = 0.3  # traffic light pole distance right of the lane edge


@dataclass(frozen=True)
class _World:
    """What does not change between frames of one scene, prepared once."""

    arrays: SceneArrays
    ground_xy: np.ndarray  # [P, 2] vertices of all road polygons, in drawing order
    ground_splits: np.ndarray  # [G + 1] where each polygon starts in ground_xy
    ground_rgb: tuple[tuple[int, int, int], ...]  # [G]
    marking_segments: np.ndarray  # [K, 2, 2] dash pieces (global xy)
    marking_rgb: tuple[tuple[int, int, int], ...]  # [K]
    lights: tuple[tuple[str, float, float, float], ...]  # (connector id, pole x, y, traffic heading)


def _light_poles(arrays: SceneArrays) -> list[tuple[str, float, float, float]]:
    """A pole for each lane connector with a traffic light.

    It stands right of the lane on the far side of the junction, where a car stopped at the
    stop line still sees it (a lamp 3 m up just ahead of the bumper is above the field of
    view). Rings run along one side boundary and back along the other
    (elfrl.synth.paths.Path.strip), so the start cap joins the last and the first vertex."""
    rings = dict(zip(arrays.polygon_ids, arrays.polygon_rings))
    poles = []
    for lc_id in arrays.red_lights:
        ring = rings[lc_id]
        ring = ring[np.linalg.norm(np.roll(ring, -1, axis=0) - ring, axis=1) > 1e-3]  # repeated vertices
        start = (ring[0] + ring[-1]) / 2.0
        along = (ring[1] - ring[0]) + (ring[-2] - ring[-1])
        along = along / max(float(np.linalg.norm(along)), 1e-9)
        right = np.array([along[1], -along[0]])
        reach = max(float(((ring - start) @ along).max()), 0.0)  # how far the connector runs ahead
        pole = start + reach * along + right * (np.linalg.norm(ring[0] - ring[-1]) / 2.0 + LIGHT_SIDE_M)
        poles.append((lc_id, float(pole[0]), float(pole[1]), math.atan2(along[1], along[0])))
    return poles


def _prepare(scene: Scene) -> _World:
    arrays = scene_arrays(scene)
    rings, colours = [], []
    for layer, rgb in ROAD_RGB.items():
        for ring, ring_layer in zip(arrays.polygon_rings, arrays.polygon_layers):
            if ring_layer == layer:
                rings.append(ring)
                colours.append(rgb)
    segments, segment_rgb = [], []
    for layer, (rgb, dash, period) in MARKINGS.items():
        lanes = [ring for ring, ring_layer in zip(arrays.polygon_rings, arrays.polygon_layers) if ring_layer == layer]
        pieces = lane_marking_segments(lanes, dash, period)
        segments.append(pieces)
        segment_rgb += [rgb] * len(pieces)
    return _World(
        arrays=arrays,
        ground_xy=np.concatenate(rings),  # the schema guarantees at least one polygon
        ground_splits=np.cumsum([0] + [len(r) for r in rings]),
        ground_rgb=tuple(colours),
        marking_segments=np.concatenate(segments),
        marking_rgb=tuple(segment_rgb),
        lights=tuple(_light_poles(arrays)),
    )


def _frame_index(t_s: float) -> int:
    """k with t_s = 0.5 k, k in 0..8, or a ValueError listing the allowed times."""
    k = round(t_s / POSE_DT) if math.isfinite(t_s) else -1
    if not 0 <= k <= 8 or abs(t_s - POSE_DT * k) > 1e-6:
        allowed = ", ".join(f"{t:g}" for t in FRAME_TIMES)
        raise ValueError(
            f"t_s={t_s} is not a frame time; use one of {allowed} s "
            "(0 is the current frame, the others are the logged future poses of human_trajectory)"
        )
    return k


def _camera_at(arrays: SceneArrays, t_s: float, config: CameraConfig) -> Camera:
    """The camera on the ego at t_s: now, or at the logged future pose."""
    k = _frame_index(t_s)
    x, y, h = arrays.ego[:3]  # current rear axle, global
    if k > 0:
        if arrays.human_trajectory is None:
            raise ValueError(
                f"scene {arrays.token!r} has no human_trajectory, so the camera at t_s={t_s} s is unknown; "
                "render t_s=0.0 only, or add the logged future poses to the scene"
            )
        rx, ry, rh = arrays.human_trajectory[k - 1]  # relative to the current rear axle
        c, s = math.cos(h), math.sin(h)
        x, y, h = x + c * rx - s * ry, y + s * rx + c * ry, h + rh
    fwd = config.mount_forward_m
    return Camera(float(x + fwd * math.cos(h)), float(y + fwd * math.sin(h)), float(h), config)


def _background(config: CameraConfig) -> Image.Image:
    """Sky gradient above the horizon, ground gradient below."""
    horizon = config.horizon_v
    v = np.arange(config.height) + 0.5
    sky_t = np.clip(v / max(horizon, 1.0), 0.0, 1.0)[:, None]
    ground_t = np.clip((v - horizon) / max(config.height - horizon, 1.0), 0.0, 1.0)[:, None]
    sky = np.array(SKY_TOP) + sky_t * np.subtract(SKY_HORIZON, SKY_TOP)
    ground = np.array(GROUND_HORIZON) + ground_t * np.subtract(GROUND_NEAR, GROUND_HORIZON)
    column = np.where((v < horizon)[:, None], sky, ground).astype(np.uint8)[:, None, :]  # [H, 1, 3]
    return Image.fromarray(column).resize((config.width, config.height), Image.Resampling.NEAREST)


def _draw_ground(draw: ImageDraw.ImageDraw, world: _World, camera: Camera) -> None:
    cfg = camera.config
    pts = camera.to_camera(world.ground_xy, np.zeros(len(world.ground_xy)))
    starts = world.ground_splits[:-1]
    depth = pts[:, 0]
    left, right = camera.outside_sides(pts)
    # A polygon whose vertices all lie beyond one frustum plane is out of view.
    culled = np.zeros(len(starts), dtype=bool)
    for beyond in (left, right, depth < cfg.near_m, depth > cfg.far_m):
        culled |= np.logical_and.reduceat(beyond, starts)
    whole = np.logical_and.reduceat((depth >= cfg.near_m) & (depth <= cfg.far_m), starts)
    uv = camera.project(pts)
    for g in np.flatnonzero(~culled):
        lo, hi = world.ground_splits[g], world.ground_splits[g + 1]
        if whole[g]:
            poly = uv[lo:hi]
        else:
            clipped = clip_depth(pts[lo:hi], cfg.near_m, cfg.far_m)
            if len(clipped) < 3:
                continue
            poly = camera.project(clipped)
        draw.polygon(poly.ravel().tolist(), fill=world.ground_rgb[g])


def _draw_markings(draw: ImageDraw.ImageDraw, world: _World, camera: Camera) -> None:
    cfg = camera.config
    seg = world.marking_segments  # [K, 2, 2]
    pts = camera.to_camera(seg, np.zeros(seg.shape[:2]))  # [K, 2, 3]
    a, b, keep = clip_segments(pts[:, 0], pts[:, 1], cfg.near_m, cfg.far_m)
    left, right = camera.outside_sides(np.stack([a, b], axis=1))
    keep &= ~left.all(axis=1) & ~right.all(axis=1)
    lines = np.concatenate([camera.project(a[keep]), camera.project(b[keep])], axis=1).tolist()
    width = max(1, round(cfg.width / 300))  # 1 px at 256 wide, 2 px at 640
    for line, k in zip(lines, np.flatnonzero(keep)):
        draw.line(line, fill=world.marking_rgb[k], width=width)


def _render(world: _World, t_s: float, config: CameraConfig) -> np.ndarray:
    camera = _camera_at(world.arrays, t_s, config)
    step = round(t_s / OBSERVATION_DT)  # the world (agents, lights) at the frame's time
    image = _background(config)
    draw = ImageDraw.Draw(image)
    _draw_ground(draw, world, camera)
    _draw_markings(draw, world, camera)
    boxes = BoxList()
    add_agents(boxes, world.arrays, step, camera)
    for lc_id, x, y, heading in world.lights:
        add_traffic_light(boxes, x, y, heading, red=bool(world.arrays.red_lights[lc_id][step]))
    draw_boxes(draw, boxes, camera)
    return np.array(image)


def render_front_camera(scene: Scene, t_s: float = 0.0, config: CameraConfig = CameraConfig()) -> np.ndarray:
    """The front camera image [H, W, 3] uint8 at time t_s (0, 0.5, ..., 4.0 s).

    t_s = 0 looks from the current ego pose, later times from the logged future pose in
    `human_trajectory`; agents and traffic lights are those of observation step round(10 t_s)."""
    return _render(_prepare(scene), t_s, config)


def render_frames(
    scene: Scene,
    out_dir: str | Path,
    config: CameraConfig = CameraConfig(),
    times: Sequence[float] = (0.0, 1.0, 2.0, 3.0),
) -> list[Path]:
    """Write `out_dir/CAM_F0_{i}.png` for the i-th of `times` and return the paths.

    The default frames (now, +1, +2, +3 s) are the future views the oracle teacher of the
    distillation stage sees. All times are checked before anything is written."""
    times = [float(t) for t in times]
    for t in times:
        _frame_index(t)
    future = [t for t in times if t > 0]
    if future and scene.human_trajectory is None:
        raise ValueError(
            f"scene {scene.token!r} has no human_trajectory, so the future frames at {future} s cannot be "
            "rendered; pass times=(0.0,) or a scene with the logged future"
        )
    world = _prepare(scene)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, t in enumerate(times):
        path = out / f"CAM_F0_{i}.png"
        Image.fromarray(_render(world, t, config)).save(path)
        paths.append(path)
    return paths
