"""Export NAVSIM scenes (OpenScene logs + metric caches) as `elfrl.scene/1` scene packs.

For users who have NAVSIM installed. NAVSIM and nuPlan are imported only inside
`load_navsim` and `main` (`export.py`), so this package imports without them; every other
function reads NAVSIM objects by attribute only, and the tests drive it with small stand-ins
of the same shape.

    python -m elfrl.scene.navsim LOGS SENSOR_BLOBS METRIC_CACHE OUT --split navtest

or, from Python:

    scene_loader, cache_loader = load_navsim(logs, sensor_blobs, metric_cache)
    summary = export_scenes(scene_loader, cache_loader, "out/navtest", split="navtest",
                            sensor_blobs_path=sensor_blobs)

writes `out/navtest/scenes/TOKEN.json` (one scene object each) and `out/navtest/manifest.jsonl`
(one `ManifestRecord` a line; `scene` is relative to the manifest's folder).

Where each field of the scene pack comes from (metric cache = `mc`, SceneLoader scene = `scene`,
`cur` = `scene.scene_metadata.num_history_frames - 1`, the current frame):

| scene pack field | source |
|---|---|
| ego | `mc.ego_state` (rear axle, global; velocity/acceleration already body frame) |
| reference | `mc.trajectory` (PDM-Closed) sampled at t0 + 0.0..4.0 s exactly like `get_trajectory_as_array` |
| centerline, route_lane_ids | `mc.centerline.discrete_path`, `mc.route_lane_ids` (ids outside the map are dropped: they cannot matter) |
| map | `mc.drivable_area_map` (tokens, map types, polygons: exterior ring, opened) |
| agents | `mc.observation.detections_tracks` (v2) / `mc.observation._occupancy_maps` + `unique_objects` (v1.1), or the log frames (`agents_from="frames"`) |
| traffic_lights | `red_light_<id>` geometries of `mc.observation._occupancy_maps` (v2); v1.1 caches hold none: red lights of the log frames |
| ego_history | `mc.past_human_trajectory` (v2) or log frames cur-3..cur (v1.1) |
| human_trajectory | `mc.human_trajectory.poses` (v2; None for synthetic scenes) or log frames cur+1..cur+8 (v1.1) |
| driving_command | `scene.frames[cur].ego_status.driving_command`, one-hot (left, straight, right, unknown) |

Every NAVSIM / nuPlan attribute this package reads (the contract to re-check when NAVSIM
changes; `PDM/` = `navsim/planning/simulation/planner/pdm_planner/`):

| attribute | from (class: file) |
|---|---|
| `mc.file_path` (default token: its parent folder) | MetricCache: navsim/planning/metric_caching/metric_cache.py |
| `mc.ego_state`, `.trajectory`, `.centerline`, `.route_lane_ids`, `.drivable_area_map`, `.observation` | MetricCache (v1.1 and v2): same file |
| `mc.past_human_trajectory`, `mc.human_trajectory` (v2 only) | MetricCache (v2): same file |
| `ego.rear_axle.x/.y/.heading` | EgoState: nuplan/common/actor_state/ego_state.py; StateSE2: nuplan/common/actor_state/state_representation.py |
| `ego.dynamic_car_state.rear_axle_velocity_2d.x/.y`, `.rear_axle_acceleration_2d.x/.y` | DynamicCarState: nuplan/common/actor_state/dynamic_car_state.py |
| `ego.time_point.time_us` | TimePoint: nuplan/common/actor_state/state_representation.py |
| `trajectory.get_sampled_trajectory()` (EgoStates) | InterpolatedTrajectory: nuplan/planning/simulation/trajectory/interpolated_trajectory.py |
| `centerline.discrete_path` (StateSE2 list) | PDMPath: PDM/utils/pdm_path.py |
| `drivable_area_map.tokens`, `.map_types` (`.name`), `._geometries` (shapely) | PDMDrivableMap / PDMOccupancyMap: PDM/observation/pdm_occupancy_map.py; SemanticMapLayer: nuplan/common/maps/maps_datatypes.py |
| `observation.detections_tracks` (v2) | PDMObservation: PDM/observation/pdm_observation.py |
| `observation._occupancy_maps[t].tokens`, `._geometries`; `observation.unique_objects` | PDMObservation, PDMOccupancyMap: same files |
| `detections.tracked_objects.tracked_objects` | DetectionsTracks: nuplan/planning/simulation/observation/observation_type.py; TrackedObjects: nuplan/common/actor_state/tracked_objects.py |
| `obj.track_token`, `.tracked_object_type.name`, `.box.center.x/.y/.heading`, `.box.length`, `.box.width` | SceneObject: nuplan/common/actor_state/scene_object.py; OrientedBox: nuplan/common/actor_state/oriented_box.py; TrackedObjectType: nuplan/common/actor_state/tracked_objects_types.py |
| `obj.velocity.x/.y` (vehicle, pedestrian, bicycle only) | AgentState: nuplan/common/actor_state/agent_state.py |
| `human_trajectory.poses` | Trajectory: navsim/common/dataclasses.py |
| `scene_loader.tokens`, `.get_scene_from_token(t)`, `.scene_frames_dicts[t][i]["cams"]["CAM_F0"]["data_path"]` | SceneLoader: navsim/common/dataloader.py |
| `cache_loader.tokens`, `.get_from_token(t)` | MetricCacheLoader: navsim/common/dataloader.py |
| `scene.scene_metadata.num_history_frames`, `.num_future_frames` | SceneMetadata: navsim/common/dataclasses.py |
| `scene.frames[i].timestamp`, `.traffic_lights` ((id, is_red) pairs), `.ego_status.ego_pose/.ego_velocity/.ego_acceleration/.driving_command` | Frame, EgoStatus: navsim/common/dataclasses.py |
| `scene.frames[i].annotations.boxes` (N x 7: x, y, z, length, width, height, heading; ego frame), `.names`, `.velocity_3d`, `.track_tokens` | Annotations: navsim/common/dataclasses.py; BoundingBoxIndex: navsim/common/enums.py |
| `scene.frames[i].cameras.cam_f0.camera_path` (v2) | Cameras, Camera: navsim/common/dataclasses.py |

Units and frames: global frame, metres, radians. Ego poses are rear-axle poses; ego velocity
and acceleration are body frame (nuPlan's `rear_axle_velocity_2d` is). Agent poses are box
centres and agent velocities global: log boxes are converted from the ego frame the way
`annotations_to_detection_tracks` does (navsim/planning/scenario_builder/navsim_scenario_utils.py).

Modules, each importing only those above it: `common` (constants, NavsimExportError, TrackBox,
attribute readers) <- `tracks` (annotations -> boxes, 2 Hz -> 10 Hz, boxes -> agents) <-
`trajectory` (ego, reference, poses), `drivable_map` (map polygons), `observation` (cache
observation -> boxes per step, red lights) <- `metric_cache` (`scene_from_metric_cache`) <-
`frames` (log frames, `scene_from_navsim`) <- `export` (`export_scenes`, `load_navsim`, `main`).
"""

from elfrl.scene.navsim.common import NavsimExportError, TrackBox
from elfrl.scene.navsim.export import ExportSummary, ManifestRecord, export_scenes, load_navsim
from elfrl.scene.navsim.frames import (
    agents_from_scene,
    driving_command_from_scene,
    ego_history_from_scene,
    human_trajectory_from_scene,
    red_lights_from_scene,
    scene_from_navsim,
)
from elfrl.scene.navsim.metric_cache import scene_from_metric_cache
from elfrl.scene.navsim.tracks import boxes_from_annotations, interpolate_tracks
from elfrl.scene.navsim.trajectory import reference_from_trajectory

__all__ = [
    "ExportSummary",
    "ManifestRecord",
    "NavsimExportError",
    "TrackBox",
    "agents_from_scene",
    "boxes_from_annotations",
    "driving_command_from_scene",
    "ego_history_from_scene",
    "export_scenes",
    "human_trajectory_from_scene",
    "interpolate_tracks",
    "load_navsim",
    "red_lights_from_scene",
    "reference_from_trajectory",
    "scene_from_metric_cache",
    "scene_from_navsim",
]
