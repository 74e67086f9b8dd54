"""Frame changes between the global frame and the current rear-axle frame (x forward, y left).

Points are [..., 2]; poses are [..., 3] and get their heading changed too (wrapped to [-pi, pi]).
The scorer keeps its own nuPlan-exact composition (elfrl.scoring.simulate.relative_to_absolute).
"""

from __future__ import annotations

import numpy as np


def to_ego_frame(origin: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Global points [..., 2] or poses [..., 3] in the frame of `origin` [3]."""
    xy = np.asarray(xy, dtype=np.float64)
    c, s = np.cos(origin[2]), np.sin(origin[2])
    dx, dy = xy[..., 0] - origin[0], xy[..., 1] - origin[1]
    out = [c * dx + s * dy, -s * dx + c * dy]
    if xy.shape[-1] == 3:
        out.append(np.arctan2(np.sin(xy[..., 2] - origin[2]), np.cos(xy[..., 2] - origin[2])))
    return np.stack(out, axis=-1)


def to_global(origin: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Points [..., 2] (or the xy of poses [..., 3+]) in the frame of `origin` [3] -> global xy [..., 2]."""
    xy = np.asarray(xy, dtype=np.float64)
    c, s = np.cos(origin[2]), np.sin(origin[2])
    return np.stack([origin[0] + c * xy[..., 0] - s * xy[..., 1], origin[1] + s * xy[..., 0] + c * xy[..., 1]], -1)
