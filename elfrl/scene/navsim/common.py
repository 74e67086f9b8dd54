"""Constants, the error type, the TrackBox tuple and the attribute readers shared by the NAVSIM exporter.

`PDM/` in comments = `navsim/planning/simulation/planner/pdm_planner/` (see the package docstring).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, NamedTuple

import numpy as np
from pydantic import ValidationError

log = logging.getLogger("elfrl.scene.navsim")

# nuPlan SemanticMapLayer name -> scene-pack layer. PDMDrivableMap.from_simulation
# (PDM/observation/pdm_occupancy_map.py) fills exactly these five; DRIVABLE_AREA is a
# drivable layer for the scorer but is never populated, so it has no scene-pack layer.
MAP_LAYERS = {
    "ROADBLOCK": "roadblock",
    "LANE": "lane",
    "LANE_CONNECTOR": "lane_connector",
    "INTERSECTION": "intersection",
    "CARPARK_AREA": "carpark",
}
LANE_LAYERS = ("lane", "lane_connector")
# nuPlan TrackedObjectType name -> scene-pack agent type (EGO has no scene-pack type).
AGENT_TYPES_BY_NAME = {
    "VEHICLE": "vehicle",
    "PEDESTRIAN": "pedestrian",
    "BICYCLE": "bicycle",
    "TRAFFIC_CONE": "traffic_cone",
    "BARRIER": "barrier",
    "CZONE_SIGN": "czone_sign",
    "GENERIC_OBJECT": "generic_object",
}
# nuPlan AGENT_TYPES (nuplan/common/actor_state/tracked_objects_types.py) minus EGO: these are
# `Agent`s with a velocity; every other type is a `StaticObject` (no velocity: 0 here).
MOVING_TYPES = ("vehicle", "pedestrian", "bicycle")
# OpenScene one-hot order (left, forward, right, unknown): OpenDriveLab/OpenScene
# DriveEngine/process_data/helpers/driving_command.py::get_driving_command.
DRIVING_COMMANDS = ("left", "straight", "right", "unknown")
RED_LIGHT_PREFIX = "red_light_"  # PDMObservation._get_traffic_light_geometries: f"red_light_{lane_connector_id}"

FRAME_S = 0.5  # OpenScene frames are 2 Hz
STEP_S = 0.1  # observation steps are 10 Hz
STEPS_PER_FRAME = 5
HISTORY_FRAMES = 4  # -1.5, -1.0, -0.5, 0.0 s (get_ego_past_trajectory(0, 1.5) in the metric cache)
V1_FRAMES = 11  # v1.1 metric cache: boxes at 0..5 s -> 51 steps; v2: 9 frames, 0..4 s -> 41 steps
V2_FRAMES = 9
REFERENCE_HORIZON_S = 4.0


class NavsimExportError(ValueError):
    """NAVSIM input this exporter cannot convert; the message names the token and the attribute."""


class TrackBox(NamedTuple):
    """One box of one track at one time: global box-centre pose, size, global velocity."""

    token: str
    type: str  # scene-pack agent type
    x: float
    y: float
    heading: float
    length: float
    width: float
    vx: float = 0.0
    vy: float = 0.0


# ---------------------------------------------------------------------------------------------
# reading NAVSIM objects by attribute, with errors that name the attribute


def _attr(obj: Any, name: str, attrs: str, where: str) -> Any:
    """`obj.<attrs>` (dotted), where `obj` is called `name` in messages; a missing attribute
    raises NavsimExportError naming it, e.g. `metric_cache.ego_state.dynamic_car_state`."""
    value = obj
    parts = attrs.split(".")
    for i, part in enumerate(parts):
        try:
            value = getattr(value, part)
        except AttributeError:
            missing = ".".join([name] + parts[: i + 1])
            raise NavsimExportError(
                f"{where}: `{missing}` is missing. The exporter reads the NAVSIM v1.1 / v2 attributes listed in "
                f"the docstring of elfrl/scene/navsim/__init__.py; check that this object is what it expects "
                f"(or that NAVSIM did not rename it)."
            ) from None
    return value


def _has(obj: Any, name: str) -> bool:
    try:
        getattr(obj, name)
    except AttributeError:
        return False
    return True


def _wrap(angle):
    """normalize_angle of PDM/utils/pdm_geometry_utils.py: arctan2(sin, cos), in (-pi, pi]."""
    return np.arctan2(np.sin(angle), np.cos(angle))


def _enum_name(value: Any) -> str:
    name = getattr(value, "name", None)
    return str(name) if name is not None else str(value)


def _note(counts: Counter, key: str, level: int, message: str) -> None:
    counts[key] += 1
    log.log(level, message)


def _describe(err: ValidationError) -> str:
    return "\n".join(f"  {'.'.join(str(p) for p in e['loc']) or '<value>'}: {e['msg']}" for e in err.errors())
