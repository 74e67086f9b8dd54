"""Lane markings: dashed side boundaries of lane polygons, for the camera renderer.

All lane rings of a scene are handled at once with index arithmetic (a loop over a few
hundred lanes in numpy costs tens of milliseconds per scene).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

MIN_EDGE_M = 1e-3  # shorter edges are repeated vertices: no direction


def _ring_links(ring_id: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For points of rings stored back to back (ring_id [N], runs in order): the index of
    each point's ring start, next point and previous point (cyclic within the ring)."""
    n = len(ring_id)
    first = np.r_[True, ring_id[1:] != ring_id[:-1]]
    start_of_run = np.flatnonzero(first)
    run = np.cumsum(first) - 1
    end_of_run = np.r_[start_of_run[1:], n] - 1
    idx = np.arange(n)
    start, end = start_of_run[run], end_of_run[run]
    return start, np.where(idx == end, start, idx + 1), np.where(idx == start, end, idx - 1)


def lane_marking_segments(rings: Sequence[np.ndarray], dash_m: float, period_m: float) -> np.ndarray:
    """Dash pieces [K, 2, 2] (global xy) along the sides of lane rings [P_i, 2].

    The two end caps of each lane are left out: painting them would put a transverse line
    across the road wherever a lane is split into segments. A cap is an edge roughly
    perpendicular to both neighbouring edges; a rectangle has four such edges, so the two
    shortest are taken. Rings with fewer than two such edges are outlined whole.

    Each side (chain of edges between the caps) is dashed by arc length, with the pattern
    centred on the chain's middle: two lanes that share a boundary run it in opposite
    directions, and a centred pattern puts their dashes in the same places."""
    if not rings:
        return np.zeros((0, 2, 2))
    pts = np.concatenate([np.asarray(r, dtype=np.float64) for r in rings])
    ring_id = np.repeat(np.arange(len(rings)), [len(r) for r in rings])

    _, nxt, _ = _ring_links(ring_id)
    keep = np.linalg.norm(pts[nxt] - pts, axis=1) > MIN_EDGE_M
    keep &= np.bincount(ring_id[keep], minlength=len(rings))[ring_id] >= 3  # still a polygon
    pts, ring_id = pts[keep], ring_id[keep]
    if not len(pts):
        return np.zeros((0, 2, 2))
    start, nxt, prev = _ring_links(ring_id)
    n_rings = ring_id.max() + 1

    edge = pts[nxt] - pts  # edge i runs from point i to point nxt[i]
    length = np.linalg.norm(edge, axis=1)
    unit = edge / length[:, None]
    perpendicular = (np.abs((unit * unit[prev]).sum(1)) < 0.5) & (np.abs((unit * unit[nxt]).sum(1)) < 0.5)
    order = np.lexsort((length, ~perpendicular, ring_id))  # per ring: candidates first, shortest first
    rank = np.empty(len(pts), dtype=np.int64)
    rank[order] = np.arange(len(pts)) - start[order]
    cap = perpendicular & (rank < 2) & (np.bincount(ring_id, weights=perpendicular, minlength=n_rings)[ring_id] >= 2)

    # Chains: the runs of edges between caps. Edges before a ring's first cap continue the
    # chain that starts after its last cap, so they are unrolled past the ring's end.
    caps_before = np.cumsum(cap) - cap
    caps_before = caps_before - caps_before[start]
    n_caps = np.bincount(ring_id, weights=cap, minlength=n_rings).astype(np.int64)[ring_id]
    chain = np.where(n_caps > 0, caps_before % np.maximum(n_caps, 1), 0)
    ring_len = np.bincount(ring_id, minlength=n_rings)[ring_id]
    position = np.arange(len(pts)) - start + np.where((caps_before == 0) & (n_caps > 0), ring_len, 0)
    e = np.flatnonzero(~cap)
    e = e[np.lexsort((position[e], chain[e], ring_id[e]))]  # chains contiguous, edges in order
    new_chain = np.r_[True, (ring_id[e][1:] != ring_id[e][:-1]) | (chain[e][1:] != chain[e][:-1])]
    chain_of = np.cumsum(new_chain) - 1
    before = np.cumsum(length[e]) - length[e]
    s0 = before - before[new_chain][chain_of]  # arc length at each edge's start, within its chain
    total = np.bincount(chain_of, weights=length[e])[chain_of]

    # Dash k covers x in [k P, k P + D], where x = s - total/2 + D/2 centres the pattern.
    x0 = s0 - total / 2.0 + dash_m / 2.0
    x1 = x0 + length[e]
    k0 = np.floor(x0 / period_m).astype(np.int64)
    count = np.floor(x1 / period_m).astype(np.int64) - k0 + 1  # dash periods touching the edge
    piece = np.repeat(np.arange(len(e)), count)
    k = np.repeat(k0, count) + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    a = np.maximum(k * period_m, x0[piece]) - x0[piece]  # offsets along the edge
    b = np.minimum(k * period_m + dash_m, x1[piece]) - x0[piece]
    on = b > a
    piece, a, b = piece[on], a[on], b[on]
    p, u = pts[e[piece]], unit[e[piece]]
    return np.stack([p + u * a[:, None], p + u * b[:, None]], axis=1)
