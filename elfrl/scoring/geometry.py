"""Vectorised geometry for oriented boxes: corners, overlap tests, relative angles."""

from __future__ import annotations

import numpy as np
from numba import njit

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
    # NaN (neither ahead nor behind) when the points coincide or rounding pushes |dot| past 1,
    # as nuPlan's np.dot + np.arccos gives
    with np.errstate(invalid="ignore", divide="ignore"):
        v = target_xy - ego_pose[..., :2]
        v = v / np.linalg.norm(v, axis=-1, keepdims=True)
        dot = np.cos(ego_pose[..., 2]) * v[..., 0] + np.sin(ego_pose[..., 2]) * v[..., 1]
        return np.arccos(dot)


@njit(cache=True, inline="always")
def _quads_separated(p, q) -> bool:
    """Separating-axis test for two convex quads p, q [4, 2] (edge normals of both as axes)."""
    for box in range(2):
        quad = p if box == 0 else q
        for e in range(2):
            # edge directions FL-RL and RL-RR; projecting on an edge direction of a rectangle is
            # the same as projecting on the normal of the other edge
            ax = quad[e, 0] - quad[e + 1, 0]
            ay = quad[e, 1] - quad[e + 1, 1]
            p_min = p_max = p[0, 0] * ax + p[0, 1] * ay
            q_min = q_max = q[0, 0] * ax + q[0, 1] * ay
            for i in range(1, 4):
                dp = p[i, 0] * ax + p[i, 1] * ay
                dq = q[i, 0] * ax + q[i, 1] * ay
                p_min, p_max = min(p_min, dp), max(p_max, dp)
                q_min, q_max = min(q_min, dq), max(q_max, dq)
            if p_max < q_min or q_max < p_min:
                return True
    return False


@njit(cache=True)
def box_contacts(coords, dxy, offsets, dt, ego_radius, corners, centers, present, radius):
    """Every intersecting (ego box, agent box) pair, touching included (STRtree `intersects`).

    The ego box at step t (coords [B, T, 5, 2]: FL, RL, RR, FR, center) moved by
    dxy[b, t] * offsets[d] * dt is tested against agent a's box at observation step
    t + offsets[d] (corners [S, A, 4, 2], present [S, A]); pairs whose bounding circles are apart
    are skipped. Returns (b, k, a) index arrays with k = t * D + d, ordered by (b, t, d, a).
    NC uses offsets [0]; TTC offsets [0, 3, 6, 9] with dxy = speed * heading direction.
    """
    n_b, n_t = dxy.shape[0], dxy.shape[1]
    n_d, n_a = offsets.shape[0], corners.shape[1]
    cap = 64
    out_b = np.empty(cap, np.int64)
    out_k = np.empty(cap, np.int64)
    out_a = np.empty(cap, np.int64)
    n = 0
    quad = np.empty((4, 2))
    for b in range(n_b):
        for t in range(n_t):
            for d in range(n_d):
                step = t + offsets[d]
                delta = offsets[d] * dt
                sx, sy = dxy[b, t, 0] * delta, dxy[b, t, 1] * delta
                cx, cy = coords[b, t, 4, 0] + sx, coords[b, t, 4, 1] + sy
                built = False
                for a in range(n_a):
                    if not present[step, a]:
                        continue
                    dx, dy = cx - centers[step, a, 0], cy - centers[step, a, 1]
                    reach = ego_radius + radius[a] + 1e-6
                    if dx * dx + dy * dy > reach * reach:
                        continue
                    if not built:
                        for i in range(4):
                            quad[i, 0] = coords[b, t, i, 0] + sx
                            quad[i, 1] = coords[b, t, i, 1] + sy
                        built = True
                    if _quads_separated(quad, corners[step, a]):
                        continue
                    if n == cap:
                        cap *= 2
                        out_b, out_k, out_a = _grow(out_b, cap), _grow(out_k, cap), _grow(out_a, cap)
                    out_b[n], out_k[n], out_a[n] = b, t * n_d + d, a
                    n += 1
    return out_b[:n], out_k[:n], out_a[:n]


@njit(cache=True)
def _grow(x, cap):
    out = np.empty(cap, np.int64)
    out[: x.shape[0]] = x
    return out


# Shewchuk's bound on the rounding error of a 2x2 orientation determinant in doubles
_ORIENT_ERR = (3.0 + 16.0 * 2.0**-53) * 2.0**-53
UNSURE = 2


@njit(cache=True)
def points_in_polygons(points, rings, offsets, polygons, bounds):
    """[K, N] int8: point n strictly inside polygon polygons[k] (1), outside or on the boundary (0),
    or too close to an edge to decide in doubles (UNSURE; settle those with shapely).

    rings [V, 2] holds every open ring back to back; ring i is rings[offsets[i]:offsets[i + 1]].
    Crossing-number test driven by orientation signs, each checked against its error bound.
    """
    n = points.shape[0]
    out = np.zeros((polygons.shape[0], n), dtype=np.int8)
    for k in range(polygons.shape[0]):
        poly = polygons[k]
        x0, y0, x1, y1 = bounds[poly, 0], bounds[poly, 1], bounds[poly, 2], bounds[poly, 3]
        start, stop = offsets[poly], offsets[poly + 1]
        for i in range(n):
            px, py = points[i, 0], points[i, 1]
            if px < x0 or px > x1 or py < y0 or py > y1:
                continue
            inside = False
            unsure = False
            j = stop - 1
            for v in range(start, stop):
                ax, ay = rings[j, 0], rings[j, 1]
                bx, by = rings[v, 0], rings[v, 1]
                j = v
                straddles = (ay > py) != (by > py)
                near_edge = min(ax, bx) <= px <= max(ax, bx) and min(ay, by) <= py <= max(ay, by)
                if not (straddles or near_edge):
                    continue
                left = (bx - ax) * (py - ay)
                right = (by - ay) * (px - ax)
                cross = left - right
                if abs(cross) <= _ORIENT_ERR * (abs(left) + abs(right)):
                    if near_edge or straddles:
                        unsure = True
                        break
                if straddles and (cross > 0.0) == (by > ay):
                    inside = not inside
            out[k, i] = UNSURE if unsure else (1 if inside else 0)
    return out
