"""Meta-action labels of a ground-truth trajectory (ELF-VLA high-level planning accuracy).

A trajectory is 8 poses `[x, y, heading]` at 0.5..4.0 s in the current rear-axle frame (x
forward, y left); the current speed is |v| at 0 s. ELF-VLA labels speed by acceleration and
path by alignment with the lane topology but does not release its rules; ReCogDrive's
generator (stop below 2 m/s, +-3 m/s, endpoint y > 4 m) is coarser. These are ours:

| label             | rule (checked top to bottom, first match wins)                                  |
|-------------------|---------------------------------------------------------------------------------|
| stop              | final speed (last two poses) < 0.5 m/s, or total travel over 4 s < 1.0 m         |
| accelerate        | mean speed over 2..4 s - current speed > max(1.0 m/s, 10 % of current speed)     |
| decelerate        | mean speed over 2..4 s - current speed < -max(1.0 m/s, 10 % of current speed)    |
| maintain          | otherwise                                                                        |
| turn left / right | abs(heading at 4 s) > 0.35 rad, and either the trajectory is in a junction      |
|                   | (a pose inside an INTERSECTION or LANE_CONNECTOR polygon) or the route does not |
|                   | account for it: abs(heading at 4 s - route heading change) > 0.35 rad; the sign |
|                   | of the heading gives the side                                                   |
| change lane l / r | lateral offset from the route centreline changes by more than 1.75 m (half a    |
|                   | 3.5 m lane) between 0 s and 4 s; the sign gives the side                         |
| keep lane         | otherwise (a curve of the road followed at its own heading is keep lane)        |

Speeds are chord lengths between consecutive poses (the origin first) over 0.5 s. The route
heading change is the centreline heading at the projection of the 4 s pose minus that at the
projection of the origin, so a road curve explains the trajectory's own heading change. The
centreline is extended straight by 100 m at both ends so that projections never clamp.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import shapely
from pydantic import BaseModel, ConfigDict

from elfrl.planning.paths import Path
from elfrl.scene.frames import to_ego_frame, to_global
from elfrl.scene.schema import NUM_POSES, Scene

POSE_DT = 0.5  # s between trajectory poses
STOP_SPEED = 0.5  # m/s, final speed below which the trajectory stops
STOP_TRAVEL = 1.0  # m, total travel below which the trajectory stops
SPEED_MARGIN = 1.0  # m/s, least speed change that counts as accelerate / decelerate
SPEED_MARGIN_FRACTION = 0.10  # ... or this fraction of the current speed, whichever is larger
TURN_HEADING = 0.35  # rad, heading change at 4 s above which the path may be a turn
ROUTE_TOLERANCE = 0.35  # rad, heading left unexplained by the route above which it is a turn anyway
LANE_CHANGE_OFFSET = 1.75  # m, half a 3.5 m lane
CENTERLINE_EXTENSION = 100.0  # m, straight extension of the centreline at both ends
JUNCTION_LAYERS = ("intersection", "lane_connector")

SpeedAction = Literal["accelerate", "decelerate", "maintain", "stop"]
PathAction = Literal["keep lane", "turn left", "turn right", "change lane left", "change lane right"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SpeedLabel(_Frozen):
    action: SpeedAction
    current_speed: float  # m/s at 0 s
    final_speed: float  # m/s between the last two poses (3.5..4.0 s)
    late_speed: float  # m/s, mean over 2.0..4.0 s
    travel: float  # m, path length 0..4 s


class PathLabel(_Frozen):
    action: PathAction
    heading_change: float  # rad, heading at 4 s (left +)
    route_heading_change: float  # rad, centreline heading change between the projections of 0 s and 4 s
    lateral_start: float  # m, signed offset of the origin from the centreline (left +)
    lateral_end: float  # m, signed offset of the 4 s pose from the centreline
    in_junction: bool


class MetaAction(_Frozen):
    speed: SpeedLabel
    path: PathLabel

    @property
    def text(self) -> str:
        """'decelerate, keep lane'."""
        return f"{self.speed.action}, {self.path.action}"


def _check_poses(poses) -> np.ndarray:
    arr = np.asarray(poses, dtype=np.float64)
    if arr.shape != (NUM_POSES, 3):
        raise ValueError(f"a trajectory must be {NUM_POSES} poses [x, y, heading], got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("the trajectory has a NaN or infinite value; labels need finite poses")
    return arr


def speed_label(poses, current_speed: float) -> SpeedLabel:
    """Speed part of the meta action from poses [8, 3] and the current speed (m/s)."""
    arr = _check_poses(poses)
    if not np.isfinite(current_speed) or current_speed < 0:
        raise ValueError(f"current_speed must be a finite speed >= 0 m/s, got {current_speed}")
    xy = np.concatenate([np.zeros((1, 2)), arr[:, :2]])
    seg = np.hypot(*np.diff(xy, axis=0).T)  # [8] m per 0.5 s
    speeds = seg / POSE_DT
    final, late, travel = float(speeds[-1]), float(speeds[4:].mean()), float(seg.sum())
    margin = max(SPEED_MARGIN, SPEED_MARGIN_FRACTION * current_speed)
    if final < STOP_SPEED or travel < STOP_TRAVEL:
        action = "stop"
    elif late - current_speed > margin:
        action = "accelerate"
    elif late - current_speed < -margin:
        action = "decelerate"
    else:
        action = "maintain"
    return SpeedLabel(action=action, current_speed=float(current_speed), final_speed=final, late_speed=late, travel=travel)


def extended_path(centerline) -> Path:
    """The centreline [N, >=2] (x, y first) as a Path, extended straight at both ends."""
    xy = np.asarray(centerline, dtype=np.float64)[:, :2]
    d = np.hypot(*np.diff(xy, axis=0).T)
    xy = xy[np.concatenate([[True], d > 1e-6])]  # repeated points have no direction
    if len(xy) < 2:
        raise ValueError("the centreline needs at least 2 distinct points")
    head = xy[0] - xy[1]
    tail = xy[-1] - xy[-2]
    head *= CENTERLINE_EXTENSION / np.hypot(*head)
    tail *= CENTERLINE_EXTENSION / np.hypot(*tail)
    return Path.from_points(np.concatenate([[xy[0] + head], xy, [xy[-1] + tail]]))


def path_label(poses, centerline, in_junction: bool) -> PathLabel:
    """Path part of the meta action from poses [8, 3] and the route centreline [N, 2 or 3] in the
    same rear-axle frame; `in_junction`: the trajectory runs through a junction."""
    arr = _check_poses(poses)
    route = extended_path(centerline)
    s, d = route.project(np.stack([np.zeros(2), arr[-1, :2]]))
    h_route = np.interp(s, route.s, route.heading)
    heading = float(np.arctan2(np.sin(arr[-1, 2]), np.cos(arr[-1, 2])))
    route_change = float(h_route[1] - h_route[0])
    shift = float(d[1] - d[0])
    unexplained = abs(heading - route_change) > ROUTE_TOLERANCE
    if abs(heading) > TURN_HEADING and (in_junction or unexplained):
        action = "turn left" if heading > 0 else "turn right"
    elif abs(shift) > LANE_CHANGE_OFFSET:
        action = "change lane left" if shift > 0 else "change lane right"
    else:
        action = "keep lane"
    return PathLabel(
        action=action,
        heading_change=heading,
        route_heading_change=route_change,
        lateral_start=float(d[0]),
        lateral_end=float(d[1]),
        in_junction=bool(in_junction),
    )


def meta_action(poses, current_speed: float, centerline, in_junction: bool) -> MetaAction:
    return MetaAction(speed=speed_label(poses, current_speed), path=path_label(poses, centerline, in_junction))


# -- scene adapters ---------------------------------------------------------------------------


def ego_pose(scene: Scene) -> np.ndarray:
    """Current rear-axle pose [3] (global)."""
    return np.array([scene.ego.x, scene.ego.y, scene.ego.heading])


def ego_centerline(scene: Scene) -> np.ndarray:
    """The route centreline [N, 2] in the current rear-axle frame."""
    return to_ego_frame(ego_pose(scene), np.asarray(scene.centerline, dtype=np.float64)[:, :2])


def trajectory_in_junction(scene: Scene, poses) -> bool:
    """Whether the origin or any pose [8, 3] (rear-axle frame) lies in an intersection or lane connector."""
    pts = to_global(ego_pose(scene), np.concatenate([np.zeros((1, 2)), np.asarray(poses, dtype=np.float64)[:, :2]]))
    for polygon in scene.map.polygons:
        if polygon.layer in JUNCTION_LAYERS and shapely.contains_xy(shapely.Polygon(polygon.exterior), pts[:, 0], pts[:, 1]).any():
            return True
    return False


def gt_poses(scene: Scene) -> np.ndarray:
    if scene.human_trajectory is None:
        raise ValueError(f"scene {scene.token} has no human_trajectory; pass the ground-truth poses explicitly")
    return np.asarray(scene.human_trajectory, dtype=np.float64)


def scene_meta_action(scene: Scene, poses=None) -> MetaAction:
    """Meta action of `poses` [8, 3] (default: the scene's logged human trajectory)."""
    poses = gt_poses(scene) if poses is None else _check_poses(poses)
    speed = float(np.hypot(scene.ego.vx, scene.ego.vy))
    return meta_action(poses, speed, ego_centerline(scene), trajectory_in_junction(scene, poses))
