"""Pinhole camera model: configuration, frames, projection and near/far clipping.

Frames: global (x, y), heading counter-clockwise from +x (shared/scene-format.md). The level
camera frame is x forward, y left, z up, origin at the lens; tilting it down by `pitch_deg`
gives the camera frame. Image u grows to the right and v downwards:
u = cx - f*y/x, v = cy - f*z/x, with f from the horizontal field of view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class CameraConfig(BaseModel):
    """Intrinsics and mounting of the front camera; the defaults are small for CPU rendering."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int = Field(256, gt=0, description="image width, pixels")
    height: int = Field(144, gt=0, description="image height, pixels")
    fov_deg: float = Field(70.0, description="horizontal field of view, degrees, in (10, 170)")
    mount_height_m: float = Field(1.5, gt=0, description="lens height above the ground")
    # NAVSIM's CAM_F0 sits roughly 1 m ahead of the rear axle, 1.5 m up.
    mount_forward_m: float = Field(1.0, description="lens position forward of the rear axle")
    pitch_deg: float = Field(0.0, description="downward tilt, degrees, in (-45, 45)")
    near_m: float = Field(0.5, gt=0, description="near clip distance along the optical axis")
    far_m: float = Field(120.0, description="far clip distance; must exceed near_m")

    @model_validator(mode="after")
    def _check(self) -> "CameraConfig":
        if not 10.0 < self.fov_deg < 170.0:
            raise ValueError(f"fov_deg must be in (10, 170) degrees, got {self.fov_deg}")
        if not -45.0 < self.pitch_deg < 45.0:
            raise ValueError(f"pitch_deg must be in (-45, 45) degrees, got {self.pitch_deg}")
        if not self.far_m > self.near_m:
            raise ValueError(f"far_m ({self.far_m}) must be greater than near_m ({self.near_m})")
        return self

    @property
    def focal_px(self) -> float:
        return self.width / 2.0 / math.tan(math.radians(self.fov_deg) / 2.0)

    @property
    def horizon_v(self) -> float:
        """Image row of the horizon (points at infinity on the ground)."""
        return self.height / 2.0 - self.focal_px * math.tan(math.radians(self.pitch_deg))


@dataclass(frozen=True)
class Camera:
    """A posed camera: lens position (global x, y; height from the config) and yaw."""

    x: float
    y: float
    heading: float
    config: CameraConfig

    def level(self, xy: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Global points [..., 2] at heights z [...] -> level camera frame [..., 3] (fwd, left, up)."""
        c, s = math.cos(self.heading), math.sin(self.heading)
        dx, dy = xy[..., 0] - self.x, xy[..., 1] - self.y  # subtract first: UTM-size coordinates
        return np.stack([c * dx + s * dy, -s * dx + c * dy, z - self.config.mount_height_m], axis=-1)

    def pitched(self, level: np.ndarray) -> np.ndarray:
        """Level frame -> camera frame (tilted down by pitch_deg)."""
        p = math.radians(self.config.pitch_deg)
        if p == 0.0:
            return level
        fwd, left, up = level[..., 0], level[..., 1], level[..., 2]
        c, s = math.cos(p), math.sin(p)
        return np.stack([c * fwd - s * up, left, s * fwd + c * up], axis=-1)

    def to_camera(self, xy: np.ndarray, z: np.ndarray) -> np.ndarray:
        return self.pitched(self.level(xy, z))

    def project(self, cam: np.ndarray) -> np.ndarray:
        """Camera-frame points [..., 3] in front of the near plane -> pixels [..., 2] (u, v)."""
        cfg = self.config
        f = cfg.focal_px
        depth = np.maximum(cam[..., 0], 1e-6)  # callers pass clipped points; this only avoids /0
        u = cfg.width / 2.0 - f * cam[..., 1] / depth
        v = cfg.height / 2.0 - f * cam[..., 2] / depth
        return np.stack([u, v], axis=-1)

    def outside_sides(self, cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per camera-frame point: beyond the left / right frustum plane (|y| > x tan(fov/2)).

        A shape whose points all lie beyond one plane is out of view."""
        reach = cam[..., 0] * math.tan(math.radians(self.config.fov_deg) / 2.0)
        return cam[..., 1] > reach, -cam[..., 1] > reach


def clip_plane(pts: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman: the part of polygon pts [N, D] where dist [N] >= 0."""
    inside = dist >= 0.0
    if inside.all():
        return pts
    if not inside.any():
        return pts[:0]
    nxt = np.arange(1, len(pts) + 1)  # index arithmetic, not np.roll: this runs per face
    nxt[-1] = 0
    crosses = inside != inside[nxt]
    t = dist / np.where(crosses, dist - dist[nxt], 1.0)
    # Each edge i emits its start point if inside, then the crossing point if it crosses.
    out = np.empty((len(pts), 2, pts.shape[1]))
    out[:, 0] = pts
    out[:, 1] = pts + t[:, None] * (pts[nxt] - pts)
    keep = np.empty((len(pts), 2), dtype=bool)
    keep[:, 0] = inside
    keep[:, 1] = crosses
    return out[keep]


def clip_depth(pts: np.ndarray, near: float, far: float) -> np.ndarray:
    """The part of a camera-frame polygon [N, 3] with near <= depth <= far."""
    pts = clip_plane(pts, pts[:, 0] - near)
    if len(pts):
        pts = clip_plane(pts, far - pts[:, 0])
    return pts


def clip_segments(a: np.ndarray, b: np.ndarray, near: float, far: float):
    """Clip segments a -> b ([K, 3] camera frame) to near <= depth <= far.

    Returns the clipped a, b of all segments and a [K] mask of those with anything left."""
    keep = np.ones(len(a), dtype=bool)
    for sign, plane in ((1.0, near), (-1.0, far)):
        da, db = sign * (a[:, 0] - plane), sign * (b[:, 0] - plane)
        keep &= (da >= 0) | (db >= 0)
        t = (da / np.where(da != db, da - db, 1.0))[:, None]
        cut = a + t * (b - a)
        a, b = np.where((da < 0)[:, None], cut, a), np.where((db < 0)[:, None], cut, b)
    return a, b, keep
