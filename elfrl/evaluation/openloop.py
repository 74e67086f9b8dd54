"""Open-loop planning metrics of nuScenes-style papers: L2 to the ground truth and box collisions at
0.5..3.0 s, reported at 1 / 2 / 3 s under the two averaging conventions in use.

    l2 = l2_per_step(poses, gt)                          # [6] metres at 0.5..3.0 s
    col = collisions_per_step(scene, poses)              # [6] bool: ego box overlaps an agent box
    at_horizons(per_step, "stp3") / at_horizons(per_step, "uniad")

- ST-P3 (and VAD, which reports "ST-P3 metrics"): the value at T s is the MEAN over the steps up to
  T s (`value[:2T].mean()`), so "L2 at 3 s" averages 0.5..3.0 s.
- UniAD: the value at T s is the value AT step T s (`value[2T - 1]`).
Both then average 1 / 2 / 3 s into "avg". EvoDriveVLA `eval_planning/evaluation/evaluation.py`
prints both from the same per-step arrays, as here.

Collisions, as the UniAD / ST-P3 planning metric: the ego box (here the Pacifica footprint NAVSIM
uses, placed at the predicted rear-axle pose) against every agent box logged at that step, and a
step where the ground-truth ego box itself overlaps an agent is not counted (it is a labelling
artefact, not the planner's fault).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import shapely

from elfrl.data.labels import ego_pose, gt_poses
from elfrl.scene.arrays import scene_arrays
from elfrl.scene.frames import to_global
from elfrl.scene.schema import Scene
from elfrl.scoring.geometry import box_corners
from elfrl.scoring.world import ego_box_corners

HORIZON_STEPS = 6  # poses at 0.5..3.0 s: nuScenes planning evaluates 3 s of the 4 s NAVSIM plan
HORIZONS_S = (1, 2, 3)
STEPS_PER_POSE = 5  # 10 Hz observation steps per 0.5 s pose
Convention = Literal["stp3", "uniad"]
CONVENTIONS: tuple[Convention, ...] = ("stp3", "uniad")


def l2_per_step(poses, gt) -> np.ndarray:
    """Euclidean x-y error [6] of poses [8, 3] against gt [8, 3] at 0.5..3.0 s."""
    p, g = np.asarray(poses, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    if p.shape[-2] < HORIZON_STEPS or g.shape[-2] < HORIZON_STEPS:
        raise ValueError(f"need at least {HORIZON_STEPS} poses, got {p.shape} and {g.shape}")
    return np.hypot(*(p[:HORIZON_STEPS, :2] - g[:HORIZON_STEPS, :2]).T)


def _ego_polygons(scene: Scene, poses: np.ndarray) -> np.ndarray:
    """Shapely ego boxes [6] at the first 6 poses (rear-axle frame -> global)."""
    origin = ego_pose(scene)
    xy = to_global(origin, poses[:HORIZON_STEPS, :2])
    states = np.concatenate([xy, (poses[:HORIZON_STEPS, 2] + origin[2])[:, None]], axis=1)
    return shapely.polygons(ego_box_corners(states)[:, :4])


def _agent_polygons(scene: Scene) -> list[np.ndarray]:
    """Per horizon step, shapely boxes of the agents logged at that 10 Hz step."""
    agents = scene_arrays(scene).agents
    out = []
    for j in range(1, HORIZON_STEPS + 1):
        t = j * STEPS_PER_POSE
        here = agents.present[t]
        pose = agents.pose[t, here]
        corners = box_corners(pose[:, :2], pose[:, 2], agents.half_length[here], agents.half_width[here])
        out.append(shapely.polygons(corners))
    return out


def collisions_per_step(scene: Scene, poses, agent_boxes: list[np.ndarray] | None = None) -> np.ndarray:
    """Whether the ego box at each of the poses [8, 3] at 0.5..3.0 s overlaps an agent box [6]."""
    boxes = _agent_polygons(scene) if agent_boxes is None else agent_boxes
    ego = _ego_polygons(scene, np.asarray(poses, dtype=np.float64))
    return np.array([bool(len(b)) and bool(shapely.intersects(e, b).any()) for e, b in zip(ego, boxes)])


class SceneCollisions:
    """Collision checks against one scene's agents, with the ground truth's own collisions to mask."""

    def __init__(self, scene: Scene):
        self.scene = scene
        self.boxes = _agent_polygons(scene)
        self.gt = collisions_per_step(scene, gt_poses(scene), self.boxes)  # [6]

    def __call__(self, poses) -> np.ndarray:
        """[6] collisions of `poses` at the steps where the ground truth does not collide."""
        return collisions_per_step(self.scene, poses, self.boxes) & ~self.gt


def at_horizons(per_step: np.ndarray, convention: Convention) -> dict[str, float]:
    """Per-step values [N, 6] (or [6]) averaged over samples, then read at 1 / 2 / 3 s under `convention`,
    plus "avg" of the three. NaN rows (unparsable answers) are left out; all NaN gives NaN."""
    values = np.atleast_2d(np.asarray(per_step, dtype=np.float64))
    if values.shape[-1] != HORIZON_STEPS:
        raise ValueError(f"expected per-step values [N, {HORIZON_STEPS}], got {values.shape}")
    rows = values[~np.isnan(values).any(axis=1)]
    if not len(rows):
        return {**{f"{t}s": float("nan") for t in HORIZONS_S}, "avg": float("nan")}
    step_mean = rows.mean(axis=0)  # [6]
    if convention == "stp3":
        out = {f"{t}s": float(step_mean[: 2 * t].mean()) for t in HORIZONS_S}
    elif convention == "uniad":
        out = {f"{t}s": float(step_mean[2 * t - 1]) for t in HORIZONS_S}
    else:
        raise ValueError(f"unknown convention {convention!r}; use one of {CONVENTIONS}")
    out["avg"] = float(np.mean([out[f"{t}s"] for t in HORIZONS_S]))
    return out
