"""Polylines with arc length: lane centres, lane-change paths, and the strips between offsets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Path:
    """A densely sampled planar path: points [N, 2], headings [N] (unwrapped), arc length [N]."""

    xy: np.ndarray
    heading: np.ndarray
    s: np.ndarray

    @classmethod
    def from_points(cls, xy: np.ndarray) -> "Path":
        xy = np.asarray(xy, dtype=np.float64)
        d = np.diff(xy, axis=0)
        seg = np.hypot(d[:, 0], d[:, 1])
        heading = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))
        heading = np.concatenate([heading, heading[-1:]])
        return cls(xy=xy, heading=heading, s=np.concatenate([[0.0], np.cumsum(seg)]))

    @classmethod
    def arc(cls, start: np.ndarray, heading: float, length: float, curvature: float, step: float = 1.0) -> "Path":
        """A constant-curvature arc (a straight line when curvature is 0) from `start`."""
        s = np.linspace(0.0, length, max(int(np.ceil(length / step)), 1) + 1)
        if abs(curvature) < 1e-9:
            xy = start + s[:, None] * np.array([np.cos(heading), np.sin(heading)])
        else:
            h = heading + curvature * s
            xy = start + np.stack([np.sin(h) - np.sin(heading), np.cos(heading) - np.cos(h)], -1) / curvature
        return cls.from_points(xy)

    @property
    def length(self) -> float:
        return float(self.s[-1])

    def pose(self, s) -> np.ndarray:
        """[..., 3] (x, y, heading) at arc lengths s (clamped to the path)."""
        s = np.clip(np.asarray(s, dtype=np.float64), 0.0, self.length)
        x = np.interp(s, self.s, self.xy[:, 0])
        y = np.interp(s, self.s, self.xy[:, 1])
        h = np.interp(s, self.s, self.heading)
        return np.stack([x, y, h], axis=-1)

    def offset(self, d: float) -> "Path":
        """The parallel path `d` metres to the left."""
        normal = np.stack([-np.sin(self.heading), np.cos(self.heading)], -1)
        return Path.from_points(self.xy + d * normal)

    def strip(self, d_right: float, d_left: float) -> list[list[float]]:
        """Open polygon ring of the area between offsets d_right < d_left (metres to the left)."""
        left, right = self.offset(d_left).xy, self.offset(d_right).xy
        ring = np.concatenate([right, left[::-1]])
        return np.round(ring, 4).tolist()

    def project(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Arc length and signed lateral offset (left +) of points [..., 2] on this path."""
        pts = np.asarray(xy, dtype=np.float64)
        flat = pts.reshape(-1, 2)
        p0, d = self.xy[:-1], np.diff(self.xy, axis=0)
        len2 = np.maximum((d * d).sum(-1), 1e-12)
        rel = flat[:, None] - p0[None]
        frac = np.clip((rel * d).sum(-1) / len2, 0.0, 1.0)
        gap = rel - frac[..., None] * d
        seg = (gap * gap).sum(-1).argmin(-1)
        rows = np.arange(len(flat))
        s = self.s[seg] + frac[rows, seg] * np.sqrt(len2[seg])
        cross = d[seg, 0] * rel[rows, seg, 1] - d[seg, 1] * rel[rows, seg, 0]
        lateral = np.sign(cross) * np.sqrt((gap[rows, seg] ** 2).sum(-1))
        return s.reshape(pts.shape[:-1]), lateral.reshape(pts.shape[:-1])

    def shifted(self, d_of_s) -> "Path":
        """A path whose lateral offset from this one varies along it: d_of_s(s) metres left."""
        normal = np.stack([-np.sin(self.heading), np.cos(self.heading)], -1)
        return Path.from_points(self.xy + np.asarray(d_of_s(self.s))[:, None] * normal)

    def concat(self, other: "Path") -> "Path":
        """This path followed by `other` (whose first point continues this one's last)."""
        return Path.from_points(np.concatenate([self.xy, other.xy[1:]]))
