"""Vectorised geometry for oriented boxes: corners, overlap tests, relative angles."""

from __future__ import annotations

import numpy as np

# Corner order of nuPlan OrientedBox.all_corners and PDM BBCoordsIndex: FL, RL, RR, FR (+ CENTER = 4)
FRONT_LEFT, REAR_LEFT, REAR_RIGHT, FRONT_RIGHT, CENTER = range(5)
_LON = np.array([1.0, -1.0, -1.0, 1.0])
_LAT = np.array([1.0, 1.0, -1.0, -1.0])


def box_corners(center: np.ndarray, heading: np.ndarray, half_length, half_width) -> np.ndarray:
    """Corners [..., 4, 2] (FL, RL, RR, FR) of boxes with center [..., 2] and heading [...].

    Same arithmetic as nuPlan translate_longitudinally_and_laterally: lat*cos(h + pi/2) + lon*cos(h).
    """
    h = heading[..., None]
    lon = np.asarray(half_length)[..., None] * _LON
    lat = np.asarray(half_width)[..., None] * _LAT
    half_pi = np.pi / 2.0
    dx = lat * np.cos(h + half_pi) + lon * np.cos(h)
    dy = lat * np.sin(h + half_pi) + lon * np.sin(h)
    return np.stack([center[..., 0:1] + dx, center[..., 1:2] + dy], axis=-1)


def _edge_axes(corners: np.ndarray) -> np.ndarray:
    """The two edge directions [..., 2, 2] of boxes given by corners [..., 4, 2]."""
    return np.stack(
        [corners[..., FRONT_LEFT, :] - corners[..., REAR_LEFT, :], corners[..., REAR_LEFT, :] - corners[..., REAR_RIGHT, :]],
        axis=-2,
    )


def _separated(axes: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """True where the projections of point sets a [..., Pa, 2], b [..., Pb, 2] on any axis [..., K, 2]
    have a strict gap."""
    pa = np.einsum("...kd,...pd->...kp", axes, a)
    pb = np.einsum("...kd,...pd->...kp", axes, b)
    return ((pa.max(-1) < pb.min(-1)) | (pb.max(-1) < pa.min(-1))).any(-1)


def boxes_intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Oriented boxes given by corners [..., 4, 2] intersect, touching included (shapely `intersects`)."""
    axes = np.concatenate([_edge_axes(a), _edge_axes(b)], axis=-2)
    return ~_separated(axes, a, b)


def segment_intersects_box(p: np.ndarray, q: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Segments p->q [..., 2] intersect boxes [..., 4, 2], touching included."""
    d = q - p
    normal = np.stack([-d[..., 1], d[..., 0]], axis=-1)[..., None, :]
    axes = np.concatenate([normal, _edge_axes(box)], axis=-2)
    return ~_separated(axes, np.stack([p, q], axis=-2), box)


def relative_angle(ego_pose: np.ndarray, target_xy: np.ndarray) -> np.ndarray:
    """nuPlan get_agent_relative_angle: arccos(ego heading unit vector . unit(target - ego)), [0, pi]."""
    v = target_xy - ego_pose[..., :2]
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    dot = np.cos(ego_pose[..., 2]) * v[..., 0] + np.sin(ego_pose[..., 2]) * v[..., 1]
    with np.errstate(invalid="ignore"):
        return np.arccos(dot)
