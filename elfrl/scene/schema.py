"""Pydantic schema of a scene pack (`elfrl.scene/1`, see shared/scene-format.md).

One model per wire object. Validation errors name the field; `elfrl.scene.io` adds the scene
token. Geometry is kept as plain lists here; `elfrl.scene.arrays` gives numpy views.
"""

from __future__ import annotations

import math
from typing import Literal, Optional

import shapely
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCENE_FORMAT = "elfrl.scene/1"
FIXTURE_FORMAT = "elfrl.scene-fixtures/1"

MapLayer = Literal["roadblock", "intersection", "carpark", "lane", "lane_connector"]
AgentType = Literal[
    "vehicle", "pedestrian", "bicycle", "traffic_cone", "barrier", "czone_sign", "generic_object"
]
DrivingCommand = Literal["left", "straight", "right", "unknown"]

NUM_POSES = 8  # trajectory poses at 0.5 .. 4.0 s
NUM_REFERENCE_STATES = 41  # reference plan at 0.0 .. 4.0 s, 10 Hz
MAX_OBSERVATION_STEP = 50  # NAVSIM v1.1 observes steps 0..50


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_finite(values, what: str) -> None:
    for v in values:
        if not math.isfinite(v):
            raise ValueError(f"{what} contains a non-finite value ({v}); every number must be finite")


def check_poses(poses: list[list[float]], count: Optional[int], what: str) -> list[list[float]]:
    """Validate a list of [x, y, heading] poses (optionally of an exact count)."""
    if count is not None and len(poses) != count:
        raise ValueError(f"{what} must have {count} poses [x, y, heading], got {len(poses)}")
    for i, pose in enumerate(poses):
        if len(pose) != 3:
            raise ValueError(f"{what}[{i}] must be [x, y, heading], got {len(pose)} numbers")
        _check_finite(pose, f"{what}[{i}]")
    return poses


class EgoState(_Strict):
    """Current rear-axle pose (global) and body-frame velocity and acceleration."""

    x: float
    y: float
    heading: float
    vx: float
    vy: float = 0.0
    ax: float = 0.0
    ay: float = 0.0

    @model_validator(mode="after")
    def _finite(self) -> "EgoState":
        _check_finite(self.model_dump().values(), "ego")
        return self


class MapPolygon(_Strict):
    id: str
    layer: MapLayer
    exterior: list[tuple[float, float]] = Field(description="open ring, first point not repeated")

    @field_validator("exterior")
    @classmethod
    def _ring(cls, ring: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(ring) < 3:
            raise ValueError(f"a polygon needs at least 3 points, got {len(ring)}")
        for i, pt in enumerate(ring):
            _check_finite(pt, f"exterior[{i}]")
        polygon = shapely.Polygon(ring)
        if not polygon.is_valid:  # the scorer's point-in-polygon assumes simple rings, as GEOS does
            raise ValueError(f"invalid polygon ring: {shapely.is_valid_reason(polygon)}")
        return ring


class SceneMap(_Strict):
    polygons: list[MapPolygon]

    @field_validator("polygons")
    @classmethod
    def _non_empty_unique(cls, polygons: list[MapPolygon]) -> list[MapPolygon]:
        if not polygons:
            raise ValueError("the map is empty: a scene needs at least one drivable polygon")
        seen: set[str] = set()
        for p in polygons:
            if p.id in seen:
                raise ValueError(f"duplicate polygon id {p.id!r}")
            seen.add(p.id)
        return polygons


class Agent(_Strict):
    id: str
    type: AgentType
    length: float = Field(gt=0, allow_inf_nan=False)
    width: float = Field(gt=0, allow_inf_nan=False)
    steps: list[tuple[int, float, float, float, float, float]] = Field(
        description="[i, x, y, heading, vx, vy]: box CENTER pose and global velocity per step"
    )

    @field_validator("id")
    @classmethod
    def _id(cls, agent_id: str) -> str:
        if "red_light" in agent_id:
            raise ValueError(f"agent id {agent_id!r} contains 'red_light', which NAVSIM reserves for red-light geometries")
        return agent_id

    @field_validator("steps")
    @classmethod
    def _steps(cls, steps):
        if not steps:
            raise ValueError("an agent needs at least one step")
        last = -1
        for row in steps:
            i = row[0]
            if not 0 <= i <= MAX_OBSERVATION_STEP:
                raise ValueError(f"step index {i} outside 0..{MAX_OBSERVATION_STEP}")
            if i <= last:
                raise ValueError(f"step indices must increase strictly, got {i} after {last}")
            last = i
            _check_finite(row[1:], f"step {i}")
        return steps


class TrafficLight(_Strict):
    lane_connector_id: str
    red_steps: list[int]

    @field_validator("red_steps")
    @classmethod
    def _steps(cls, steps: list[int]) -> list[int]:
        bad = [s for s in steps if not 0 <= s <= MAX_OBSERVATION_STEP]
        if bad:
            raise ValueError(f"red_steps {bad} outside the observation steps 0..{MAX_OBSERVATION_STEP}")
        return steps


class Scene(_Strict):
    """Everything the trajectory scorer needs for one scene."""

    token: str
    dt: float = 0.1
    ego: EgoState
    ego_history: list[tuple[float, float, float, float, float, float, float, float]] = Field(
        description="[t, x, y, heading, vx, vy, ax, ay] at -1.5, -1.0, -0.5, 0.0 s"
    )
    driving_command: DrivingCommand = "unknown"
    map: SceneMap
    route_lane_ids: list[str]
    centerline: list[list[float]]
    reference: list[list[float]]
    agents: list[Agent] = Field(default_factory=list)
    traffic_lights: list[TrafficLight] = Field(default_factory=list)
    human_trajectory: Optional[list[list[float]]] = None

    @field_validator("dt")
    @classmethod
    def _dt(cls, dt: float) -> float:
        if dt != 0.1:
            raise ValueError(f"dt must be 0.1 s (the NAVSIM 10 Hz observation), got {dt}")
        return dt

    @field_validator("centerline")
    @classmethod
    def _centerline(cls, centerline):
        if len(centerline) < 2:
            raise ValueError(f"the centerline needs at least 2 poses, got {len(centerline)}")
        return check_poses(centerline, None, "centerline")

    @field_validator("reference")
    @classmethod
    def _reference(cls, reference):
        return check_poses(reference, NUM_REFERENCE_STATES, "reference")

    @field_validator("human_trajectory")
    @classmethod
    def _human(cls, human):
        return None if human is None else check_poses(human, NUM_POSES, "human_trajectory")

    @field_validator("ego_history")
    @classmethod
    def _history(cls, history):
        if len(history) < 2:
            raise ValueError(f"ego_history needs the logged poses at -1.5..0.0 s, got {len(history)} rows")
        times = [row[0] for row in history]
        if any(b <= a for a, b in zip(times, times[1:])):
            raise ValueError(f"ego_history times must increase, got {times}")
        for row in history:
            _check_finite(row, f"ego_history at t={row[0]}")
        return history

    @model_validator(mode="after")
    def _references(self) -> "Scene":
        ids = {p.id for p in self.map.polygons}
        lanes = {p.id for p in self.map.polygons if p.layer in ("lane", "lane_connector")}
        for lane_id in self.route_lane_ids:
            if lane_id not in lanes:
                hint = "it is not a lane/lane_connector" if lane_id in ids else "no such polygon"
                raise ValueError(f"route_lane_ids names {lane_id!r}: {hint}")
        for light in self.traffic_lights:
            if light.lane_connector_id not in lanes:
                hint = "it is not a lane/lane_connector" if light.lane_connector_id in ids else "no such polygon"
                raise ValueError(f"traffic light on {light.lane_connector_id!r}: {hint}")
        agent_ids = [a.id for a in self.agents]
        if len(set(agent_ids)) != len(agent_ids):
            raise ValueError("agent ids must be unique")
        return self


class PDMSv1Record(_Strict):
    """NAVSIM v1.1 PDMS sub-metrics of one candidate (fixture `expected` and results files)."""

    nc: float
    dac: float
    ddc: float
    ttc: float
    c: float
    ep: float
    score: float


class EPDMSv2Record(_Strict):
    """NAVSIM v2 EPDMS sub-metrics of one candidate, EC dropped (/14)."""

    nc: float
    dac: float
    ddc: float
    tlc: float
    ep: float
    ttc: float
    lk: float
    hc: float
    score: float


class ExpectedV2(EPDMSv2Record):
    pdm_score_column: Optional[float] = None  # the raw column the human filter leaves unchanged


class Expected(_Strict):
    pdms_v1: list[PDMSv1Record]
    epdms_v2: list[ExpectedV2]


class ScoredScene(Scene):
    """A scene with candidate trajectories to score (and, in fixtures, the official results)."""

    candidates: list[list[list[float]]] = Field(default_factory=list)  # none in a plain scene pack
    expected: Optional[Expected] = None
    meta: Optional[dict] = None  # informational only, never scored

    @field_validator("candidates")
    @classmethod
    def _candidates(cls, candidates):
        for i, cand in enumerate(candidates):
            check_poses(cand, NUM_POSES, f"candidates[{i}]")
        return candidates
