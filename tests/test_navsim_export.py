"""NAVSIM exporter on stand-ins shaped like NAVSIM / nuPlan objects (NAVSIM itself is not installed).

The fixture world: a straight road along +x (rb_1 up to x = 30, an intersection with lane
connectors lc_1 (on route) / lc_2 up to x = 50, rb_2 beyond), ego at (0, -1.75) driving +x at
8 m/s, a car in the left lane, a pedestrian crossing the sidewalk from step 10 to 30, a traffic
cone seen in one log frame only, and a red light on lc_1 for the whole horizon.
"""

from __future__ import annotations

import enum
import io
import json
import math
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import shapely
from rich.console import Console

from elfrl.scene import read_scenes
from elfrl.scene.navsim import (
    NavsimExportError,
    TrackBox,
    agents_from_scene,
    boxes_from_annotations,
    ego_history_from_scene,
    export_scenes,
    human_trajectory_from_scene,
    interpolate_tracks,
    load_navsim,
    red_lights_from_scene,
    reference_from_trajectory,
    scene_from_metric_cache,
    scene_from_navsim,
)
from elfrl.scene.schema import Scene

T0_US = 1_600_000_000_000_000  # a log timestamp (µs)


# --- stand-ins: same attribute names as nuPlan / NAVSIM -----------------------------------------


class SemanticMapLayer(enum.IntEnum):  # nuplan/common/maps/maps_datatypes.py (values as there)
    LANE = 0
    INTERSECTION = 1
    DRIVABLE_AREA = 5
    LANE_CONNECTOR = 11
    WALKWAYS = 14
    CARPARK_AREA = 15
    ROADBLOCK = 17


class TrackedObjectType(enum.Enum):  # nuplan/common/actor_state/tracked_objects_types.py
    VEHICLE = 0
    PEDESTRIAN = 1
    BICYCLE = 2
    TRAFFIC_CONE = 3
    BARRIER = 4
    CZONE_SIGN = 5
    GENERIC_OBJECT = 6
    EGO = 7


def se2(x, y, heading):
    return SimpleNamespace(x=x, y=y, heading=heading)


def vec(x, y):
    return SimpleNamespace(x=x, y=y)


def ego_state(x, y, h, vx=8.0, vy=0.0, ax=-0.5, ay=0.0, t_us=T0_US):
    return SimpleNamespace(
        rear_axle=se2(x, y, h),
        dynamic_car_state=SimpleNamespace(rear_axle_velocity_2d=vec(vx, vy), rear_axle_acceleration_2d=vec(ax, ay)),
        time_point=SimpleNamespace(time_us=t_us),
    )


class InterpolatedTrajectory:
    def __init__(self, states):
        self._trajectory = states

    def get_sampled_trajectory(self):
        return self._trajectory


class OccupancyMap:  # PDMOccupancyMap: .tokens property over ._tokens, ._geometries
    def __init__(self, tokens, geometries):
        self._tokens, self._geometries = list(tokens), list(geometries)

    @property
    def tokens(self):
        return self._tokens


class DrivableMap(OccupancyMap):
    def __init__(self, tokens, map_types, geometries):
        super().__init__(tokens, geometries)
        self._map_types = list(map_types)

    @property
    def map_types(self):
        return self._map_types


def box_polygon(x, y, h, length, width):
    """OrientedBox.geometry: corners FL, RL, RR, FR."""
    c, s = math.cos(h), math.sin(h)
    pts = []
    for lon, lat in ((1, 1), (-1, 1), (-1, -1), (1, -1)):
        dx, dy = lon * length / 2, lat * width / 2
        pts.append((x + c * dx - s * dy, y + s * dx + c * dy))
    return shapely.Polygon(pts)


def tracked(token, kind, x, y, h, length, width, vx=None, vy=None):
    obj = SimpleNamespace(
        track_token=token,
        tracked_object_type=TrackedObjectType[kind],
        box=SimpleNamespace(
            center=se2(x, y, h), length=length, width=width, geometry=box_polygon(x, y, h, length, width)
        ),
    )
    if vx is not None:  # Agent; StaticObject has no velocity
        obj.velocity = vec(vx, vy)
    return obj


def detections(objects):
    return SimpleNamespace(tracked_objects=SimpleNamespace(tracked_objects=list(objects)))


def rect(x0, y0, x1, y1):
    return shapely.Polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


# --- the world, analytically ---------------------------------------------------------------------

MAP = [  # token, layer, polygon
    ("rb_1", SemanticMapLayer.ROADBLOCK, rect(-50, -3.5, 30, 3.5)),
    ("lane_R", SemanticMapLayer.LANE, rect(-50, -3.5, 30, 0)),
    ("lane_L", SemanticMapLayer.LANE, rect(-50, 0, 30, 3.5)),
    ("rb_2", SemanticMapLayer.ROADBLOCK, rect(50, -3.5, 150, 3.5)),
    ("lane_R2", SemanticMapLayer.LANE, rect(50, -3.5, 150, 0)),
    ("lane_L2", SemanticMapLayer.LANE, rect(50, 0, 150, 3.5)),
    ("lc_1", SemanticMapLayer.LANE_CONNECTOR, rect(30, -3.5, 50, 0)),
    ("lc_2", SemanticMapLayer.LANE_CONNECTOR, rect(30, 0, 50, 3.5)),
    ("int_1", SemanticMapLayer.INTERSECTION, rect(30, -3.5, 50, 3.5)),
    ("cp_1", SemanticMapLayer.CARPARK_AREA, rect(0, -20, 20, -10)),
]
ROUTE = ["lane_R", "lc_1", "lane_R2", "lane_far"]  # lane_far lies outside the cached map
EGO_HISTORY_X = [-12.0, -8.0, -4.0, 0.0]  # 8 m/s at -1.5..0 s
HUMAN_X = [2.5 * k for k in range(1, 9)]  # the logged driver slows and stops short of lc_1


def ref_x(t):  # the PDM-Closed reference: brakes from 8 m/s to a stop at 4 s
    return 8 * t - t * t if t <= 4 else 16.0


def car_a(i):  # left lane, 5 m/s
    return ("car_a", "VEHICLE", 10 + 0.5 * i, 1.75, 0.0, 4.5, 2.0, 5.0, 0.0)


def ped_b(i):  # seen in log frames 2..6 -> steps 10..30, walking +y at 1 m/s
    return ("ped_b", "PEDESTRIAN", 20.0, -8 + 0.1 * (i - 10), math.pi / 2, 0.6, 0.6, 0.0, 1.0)


CONE = ("cone_c", "TRAFFIC_CONE", 60.0, 2.0, 0.3, 0.5, 0.5)  # seen in one log frame only


def world_boxes(i):
    boxes = [tracked(*car_a(i))]
    if 10 <= i <= 30:
        boxes.append(tracked(*ped_b(i)))
    boxes.append(tracked(*CONE))
    return boxes


def observation_v2():
    steps = [world_boxes(i) for i in range(41)]
    steps[0].append(tracked("ego_x", "EGO", 0.0, -1.75, 0.0, 5.0, 2.3, 8.0, 0.0))  # skipped (counted)
    maps = []
    for i, objs in enumerate(steps):
        tokens, geoms = [o.track_token for o in objs], [o.box.geometry for o in objs]
        tokens.append("red_light_lc_1")
        geoms.append(rect(30, -3.5, 50, 0))
        if i == 0:
            tokens.append("red_light_lc_9")  # an on-route lane connector outside the cached map
            geoms.append(rect(200, -3.5, 220, 0))
        maps.append(OccupancyMap(tokens, geoms))
    unique = {}
    for objs in steps:
        for o in objs:
            unique.setdefault(o.track_token, o)
    return SimpleNamespace(
        detections_tracks=[detections(o) for o in steps], _occupancy_maps=maps, unique_objects=unique
    )


def observation_v1():
    """v1.1: 51 occupancy maps of box polygons + unique_objects, no detections_tracks, no red lights."""
    steps = [world_boxes(i) for i in range(51)]
    maps = [OccupancyMap([o.track_token for o in objs], [o.box.geometry for o in objs]) for objs in steps]
    unique = {}
    for objs in steps:
        for o in objs:
            unique.setdefault(o.track_token, o)
    return SimpleNamespace(_occupancy_maps=maps, unique_objects=unique)


def common_cache_fields():
    return dict(
        file_path=Path("/cache/log/unknown/tok_v2/metric_cache.pkl"),
        ego_state=ego_state(0.0, -1.75, 0.0),
        trajectory=InterpolatedTrajectory(
            [ego_state(ref_x(k / 10), -1.75, 0.0, t_us=T0_US + 100_000 * k) for k in range(51)]
        ),
        centerline=SimpleNamespace(discrete_path=[se2(float(x), -1.75, 0.0) for x in range(-50, 151, 10)]),
        route_lane_ids=list(ROUTE),
        drivable_area_map=DrivableMap(*zip(*MAP)),
    )


def metric_cache_v2():
    return SimpleNamespace(
        **common_cache_fields(),
        log_name="log",
        past_human_trajectory=InterpolatedTrajectory(
            [ego_state(x, -1.75, 0.0, t_us=T0_US + int(x / 8 * 1e6)) for x in EGO_HISTORY_X]
        ),
        human_trajectory=SimpleNamespace(poses=np.array([[x, 0.0, 0.0] for x in HUMAN_X])),
        observation=observation_v2(),
    )


def metric_cache_v1():
    fields = common_cache_fields()
    fields["file_path"] = Path("/cache/log/unknown/tok_v1/metric_cache.pkl")
    return SimpleNamespace(**fields, observation=observation_v1())


# SceneLoader side: 14 frames at 2 Hz, frame 3 current; ego-frame annotations of the same world


def ego_x_at(k):  # frame k relative to the current one
    return 4.0 * k if k <= 0 else 2.5 * k


def frame(k):
    ex = ego_x_at(k)
    i = 5 * k  # the 10 Hz step of this frame
    boxes, names, vel, tokens = [], [], [], []

    def add(token, kind, x, y, h, length, width, vx=0.0, vy=0.0):
        boxes.append([x - ex, y + 1.75, 0.0, length, width, 1.5, h])  # ego heading 0: a shift only
        names.append(kind.lower())
        vel.append([vx, vy, 0.0])
        tokens.append(token)

    if k >= 0:
        add(*car_a(i))
        if 2 <= k <= 6:
            add(*ped_b(i))
        if k == 4:
            add(*CONE)
    return SimpleNamespace(
        token=f"frame_{k}",
        timestamp=T0_US + k * 500_000,
        roadblock_ids=["rb_1", "rb_2"],
        traffic_lights=[("lc_1", True), ("lc_2", True)] if k >= 0 else [],
        annotations=SimpleNamespace(
            boxes=np.array(boxes, dtype=np.float32).reshape(-1, 7),
            names=names,
            velocity_3d=np.array(vel, dtype=np.float32).reshape(-1, 3),
            instance_tokens=[f"inst_{t}_{k}" for t in tokens],
            track_tokens=tokens,
        ),
        ego_status=SimpleNamespace(
            ego_pose=np.array([ex, -1.75, 0.0]),
            ego_velocity=np.array([8.0, 0.0], dtype=np.float32),
            ego_acceleration=np.array([-0.5, 0.0], dtype=np.float32),
            driving_command=np.array([0, 1, 0, 0]),
            in_global_frame=True,
        ),
        cameras=SimpleNamespace(cam_f0=SimpleNamespace(camera_path=None)),
    )


def navsim_scene():
    return SimpleNamespace(
        scene_metadata=SimpleNamespace(log_name="log", num_history_frames=4, num_future_frames=10),
        frames=[frame(k) for k in range(-3, 11)],
    )


# --- metric cache -> scene -------------------------------------------------------------------------


def test_v2_metric_cache_exports_exact_scene():
    counts = Counter()
    scene = scene_from_metric_cache(metric_cache_v2(), driving_command=[0, 1, 0, 0], counts=counts)
    assert isinstance(scene, Scene)
    assert scene.token == "tok_v2"  # from the cache file's folder
    assert scene.driving_command == "straight"
    assert scene.ego.model_dump() == dict(x=0.0, y=-1.75, heading=0.0, vx=8.0, vy=0.0, ax=-0.5, ay=0.0)

    ref = np.array(scene.reference)
    t = np.arange(41) / 10
    np.testing.assert_allclose(ref[:, 0], [ref_x(s) for s in t], atol=1e-4)  # sample times truncate to µs
    np.testing.assert_allclose(ref[:, 1:], [[-1.75, 0.0]] * 41)

    layers = {p.id: p.layer for p in scene.map.polygons}
    assert layers == {
        "rb_1": "roadblock", "lane_R": "lane", "lane_L": "lane", "rb_2": "roadblock", "lane_R2": "lane",
        "lane_L2": "lane", "lc_1": "lane_connector", "lc_2": "lane_connector", "int_1": "intersection",
        "cp_1": "carpark",
    }  # fmt: skip
    lc_1 = next(p for p in scene.map.polygons if p.id == "lc_1")
    assert lc_1.exterior == [(30, -3.5), (50, -3.5), (50, 0), (30, 0)]  # open ring
    assert scene.route_lane_ids == ["lane_R", "lc_1", "lane_R2"]
    assert scene.centerline[0] == [-50.0, -1.75, 0.0] and len(scene.centerline) == 21

    agents = {a.id: a for a in scene.agents}
    assert list(agents) == ["car_a", "cone_c", "ped_b"]  # order of first sighting; the EGO track is skipped
    car = agents["car_a"]
    assert (car.type, car.length, car.width) == ("vehicle", 4.5, 2.0)
    assert [s[0] for s in car.steps] == list(range(41))
    np.testing.assert_allclose([s[1:] for s in car.steps], [car_a(i)[2:5] + car_a(i)[7:] for i in range(41)])
    ped = agents["ped_b"]
    assert ped.type == "pedestrian" and [s[0] for s in ped.steps] == list(range(10, 31))
    assert ped.steps[0][4:] == (0.0, 1.0)  # first-step velocity (global)
    cone = agents["cone_c"]
    assert cone.type == "traffic_cone" and len(cone.steps) == 41
    assert cone.steps[0] == (0, 60.0, 2.0, 0.3, 0.0, 0.0)  # static: zero velocity

    assert [(tl.lane_connector_id, tl.red_steps) for tl in scene.traffic_lights] == [("lc_1", list(range(41)))]
    assert [row[0] for row in scene.ego_history] == [-1.5, -1.0, -0.5, 0.0]
    assert [row[1] for row in scene.ego_history] == EGO_HISTORY_X
    assert scene.human_trajectory == [[x, 0.0, 0.0] for x in HUMAN_X]
    assert counts == Counter(route_lane_ids_outside_map=1, ego_boxes_skipped=1, red_lights_outside_map=1)


def test_v1_metric_cache_recovers_boxes_from_occupancy_polygons():
    counts = Counter()
    with pytest.raises(NavsimExportError, match="v1.1 metric cache holds no ego history.*ego_history_from_scene"):
        scene_from_metric_cache(metric_cache_v1())
    history = [[t, x, -1.75, 0.0, 8.0, 0.0, -0.5, 0.0] for t, x in zip((-1.5, -1.0, -0.5, 0.0), EGO_HISTORY_X)]
    scene = scene_from_metric_cache(metric_cache_v1(), ego_history=history, counts=counts)
    assert scene.token == "tok_v1" and scene.human_trajectory is None and scene.traffic_lights == []
    agents = {a.id: a for a in scene.agents}
    car = agents["car_a"]
    assert [s[0] for s in car.steps] == list(range(51))  # v1.1 observes 0..5 s
    np.testing.assert_allclose([s[1:4] for s in car.steps], [car_a(i)[2:5] for i in range(51)], atol=1e-9)
    assert {s[4:] for s in car.steps} == {(5.0, 0.0)}  # first-sighting velocity, repeated (counted)
    ped = agents["ped_b"]
    np.testing.assert_allclose([s[1:4] for s in ped.steps], [ped_b(i)[2:5] for i in range(10, 31)], atol=1e-9)
    assert counts["agent_velocities_repeated_v1"] == 1


def test_reference_sampling_unwraps_heading_and_clips_to_the_trajectory():
    # a 3 s trajectory turning left through +-pi: sampled to 41 poses, the last 10 clipped to its end
    states = [ego_state(k, 0.0, math.pi - 0.3 + 0.2 * k, t_us=T0_US + 500_000 * k) for k in range(7)]
    ref = np.array(reference_from_trajectory(InterpolatedTrajectory(states), T0_US, "test"))
    assert ref.shape == (41, 3)
    expected = np.unwrap([math.pi - 0.3 + 0.04 * min(i, 30) for i in range(41)])
    np.testing.assert_allclose(np.unwrap(ref[:, 2]), expected, atol=1e-6)
    assert ref[:, 2].max() <= math.pi and ref[-1, 2] < 0  # wrapped back
    np.testing.assert_allclose(ref[30:, 0], 6.0, atol=1e-5)


# --- 2 Hz -> 10 Hz -----------------------------------------------------------------------------


def box(token, x, y=0.0, h=0.0, kind="vehicle", vx=1.0, vy=0.0, length=4.0, width=2.0):
    return TrackBox(token, kind, x, y, h, length, width, vx, vy)


# name, 2 Hz frames (9 frames = v2's 0..4 s), track, expected steps present, {step: (x, heading)}
INTERPOLATION_CASES = [
    ("seen once", [[], [], [box("a", 7.0, h=0.5)]] + [[]] * 6, "a", list(range(41)), {0: (7.0, 0.5), 40: (7.0, 0.5)}),
    ("appears late", [[]] * 3 + [[box("a", float(k))] for k in range(3, 9)], "a", list(range(15, 41)),
     {15: (3.0, 0.0), 17: (3.4, 0.0), 40: (8.0, 0.0)}),
    ("disappears early", [[box("a", float(k))] for k in range(3)] + [[]] * 6, "a", list(range(0, 11)),
     {0: (0.0, 0.0), 7: (1.4, 0.0), 10: (2.0, 0.0)}),
    ("heading wraps through pi", [[box("a", 0.0, h=3.0)], [box("a", 1.0, h=-3.0)]] + [[]] * 7, "a", list(range(6)),
     {0: (0.0, 3.0), 1: (0.2, 3.0 + (2 * math.pi - 6.0) / 5), 4: (0.8, 3.0 + 4 * (2 * math.pi - 6.0) / 5 - 2 * math.pi),
      5: (1.0, -3.0)}),
    ("gap bridged linearly", [[box("a", 0.0)], [], [], [], [box("a", 8.0)]] + [[]] * 4, "a", list(range(21)),
     {0: (0.0, 0.0), 5: (2.0, 0.0), 10: (4.0, 0.0), 20: (8.0, 0.0)}),
    ("seen in the last frame only", [[]] * 8 + [[box("a", 9.0)]], "a", list(range(41)), {0: (9.0, 0.0)}),
    ("11 frames: v1.1 horizon", [[box("a", float(k))] for k in range(11)], "a", list(range(51)), {50: (10.0, 0.0)}),
]  # fmt: skip


@pytest.mark.parametrize(
    "name,frames,token,present,values", INTERPOLATION_CASES, ids=[c[0] for c in INTERPOLATION_CASES]
)
def test_interpolate_tracks(name, frames, token, present, values):
    steps = interpolate_tracks(frames)
    assert len(steps) == 5 * (len(frames) - 1) + 1
    at = {i: b for i, row in enumerate(steps) for b in row if b.token == token}
    assert sorted(at) == present
    for i, (x, h) in values.items():
        assert at[i].x == pytest.approx(x, abs=1e-12) and at[i].heading == pytest.approx(h, abs=1e-12)
        assert -math.pi < at[i].heading <= math.pi


def test_interpolate_tracks_velocity_size_type_and_order():
    frames = [
        [box("car", 0.0, vx=2.0), box("cone", 5.0, kind="traffic_cone", vx=3.0)],
        [box("car", 1.0, vx=4.0, length=9.0, kind="bicycle"), box("cone", 5.0, kind="traffic_cone", vx=3.0)],
        [box("ped", 1.0, kind="pedestrian", vx=0.5, vy=-0.5), box("sign", 2.0, kind="czone_sign", vx=1.0)],
    ]
    steps = interpolate_tracks(frames)
    assert [b.token for b in steps[0]] == ["car", "cone", "ped", "sign"]  # first-sighting order
    car = steps[2][0]
    assert (car.vx, car.length, car.type) == (pytest.approx(2.8), 4.0, "vehicle")  # size/type of the first sighting
    assert {(b.vx, b.vy) for row in steps for b in row if b.token in ("cone", "sign")} == {(0.0, 0.0)}  # static
    assert steps[7][-2].token == "ped" and (steps[7][-2].vx, steps[7][-2].vy) == (0.5, -0.5)  # once-seen agent
    with pytest.raises(NavsimExportError, match="appears twice in 2 Hz frame 0"):
        interpolate_tracks([[box("a", 0.0), box("a", 1.0)]])


def test_boxes_from_annotations_ego_frame_to_global():
    annotations = SimpleNamespace(
        boxes=np.array([[2.0, 1.0, 0.0, 4.0, 2.0, 1.5, 0.1], [1.0, 0.0, 0.0, 0.5, 0.5, 1.0, 0.0]]),
        names=["vehicle", "barrier"],
        velocity_3d=np.array([[3.0, 0.0, 0.0], [1.0, 1.0, 0.0]]),
        track_tokens=["v", "b"],
    )
    v, b = boxes_from_annotations(annotations, [10.0, 5.0, math.pi / 2], "test")
    assert (v.x, v.y, v.heading) == (pytest.approx(9.0), pytest.approx(7.0), pytest.approx(math.pi / 2 + 0.1))
    assert (v.vx, v.vy) == (pytest.approx(0.0, abs=1e-12), pytest.approx(3.0))  # rotated into the global frame
    assert (b.x, b.y, b.vx, b.vy) == (pytest.approx(10.0), pytest.approx(6.0), 0.0, 0.0)


# --- SceneLoader scene + metric cache ----------------------------------------------------------


def test_log_frames_give_the_same_agents_as_the_v2_cache():
    from_frames = {a.id: a for a in agents_from_scene(navsim_scene())}
    from_cache = {a.id: a for a in scene_from_metric_cache(metric_cache_v2()).agents}
    assert set(from_frames) == set(from_cache)
    for token, agent in from_cache.items():
        frames_steps = [s for s in from_frames[token].steps if s[0] <= 40]
        assert [s[0] for s in frames_steps] == [s[0] for s in agent.steps], token
        np.testing.assert_allclose(frames_steps, agent.steps, atol=1e-5, err_msg=token)  # float32 log boxes
    assert [s[0] for s in from_frames["car_a"].steps] == list(range(51))  # 11 frames: v1.1's 0..50


def test_scene_helpers_from_log_frames():
    scene = navsim_scene()
    history = ego_history_from_scene(scene)
    assert [r[:2] for r in history] == [[-1.5, -12.0], [-1.0, -8.0], [-0.5, -4.0], [0.0, 0.0]]
    np.testing.assert_allclose(human_trajectory_from_scene(scene), [[x, 0.0, 0.0] for x in HUMAN_X])
    red = red_lights_from_scene(scene)
    assert red == {"lc_1": list(range(41)), "lc_2": list(range(41))}  # frame k holds steps 5k..5k+4, up to 40


def test_v1_cache_takes_history_human_and_red_lights_from_the_frames():
    counts = Counter()
    scene = scene_from_navsim(navsim_scene(), metric_cache_v1(), "tok_v1", counts=counts)
    assert [r[1] for r in scene.ego_history] == EGO_HISTORY_X
    np.testing.assert_allclose(scene.human_trajectory, [[x, 0.0, 0.0] for x in HUMAN_X])
    assert [(tl.lane_connector_id, tl.red_steps) for tl in scene.traffic_lights] == [("lc_1", list(range(41)))]
    assert counts["red_lights_off_route_frames"] == 1  # lc_2 is red in the log but off route


# --- errors ---------------------------------------------------------------------------------------


def test_missing_attribute_is_named():
    cache = metric_cache_v2()
    del cache.drivable_area_map
    with pytest.raises(NavsimExportError, match=r"token tok_v2: `metric_cache\.drivable_area_map` is missing"):
        scene_from_metric_cache(cache)
    cache = metric_cache_v2()
    del cache.ego_state.dynamic_car_state.rear_axle_velocity_2d
    with pytest.raises(NavsimExportError, match=r"`metric_cache\.ego_state\.dynamic_car_state\.rear_axle_velocity_2d`"):
        scene_from_metric_cache(cache)
    cache = metric_cache_v2()
    del cache.observation.detections_tracks[3].tracked_objects.tracked_objects[0].velocity
    with pytest.raises(NavsimExportError, match=r"step 3: `tracked_object\.velocity` is missing"):
        scene_from_metric_cache(cache)


def test_unknown_polygon_type_is_reported_not_dropped():
    cache = metric_cache_v2()
    cache.drivable_area_map = DrivableMap(
        *zip(*MAP, ("walk_1", SemanticMapLayer.WALKWAYS, rect(-50, -6, 150, -3.5)))
    )
    with pytest.raises(NavsimExportError, match="map polygon 'walk_1' has map type WALKWAYS.*known:"):
        scene_from_metric_cache(cache)


def test_polygon_holes_collisions_and_invalid_rings():
    cache = metric_cache_v2()
    holed = shapely.Polygon(rect(0, -20, 20, -10).exterior, [[(5, -15), (6, -15), (6, -14)]])
    clash = ("lane_L", SemanticMapLayer.INTERSECTION, rect(-60, -3.5, -50, 3.5))  # id taken by a lane
    cache.drivable_area_map = DrivableMap(*zip(*MAP[:-1], ("cp_1", SemanticMapLayer.CARPARK_AREA, holed), clash))
    counts = Counter()
    scene = scene_from_metric_cache(cache, counts=counts)
    assert {p.id for p in scene.map.polygons} >= {"cp_1", "intersection:lane_L"}
    assert counts["polygon_holes_dropped"] == 1 and counts["polygon_ids_renamed"] == 1

    bow_tie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    cache.drivable_area_map = DrivableMap(*zip(*MAP, ("bow", SemanticMapLayer.ROADBLOCK, bow_tie)))
    with pytest.raises(NavsimExportError, match="map polygon 'bow' \\(roadblock\\) is invalid"):
        scene_from_metric_cache(cache)
    multi = shapely.MultiPolygon([rect(0, 0, 1, 1), rect(2, 2, 3, 3)])
    cache.drivable_area_map = DrivableMap(*zip(*MAP, ("multi", SemanticMapLayer.INTERSECTION, multi)))
    with pytest.raises(NavsimExportError, match="'multi' \\(INTERSECTION\\) is a MultiPolygon"):
        scene_from_metric_cache(cache)


def test_bad_driving_command_defaults_to_unknown_and_is_counted():
    counts = Counter()
    scene = scene_from_metric_cache(metric_cache_v2(), driving_command=[0, 0, 0, 0], counts=counts)
    assert scene.driving_command == "unknown" and counts["driving_command_invalid"] == 1
    with pytest.raises(NavsimExportError, match="driving command 'north'"):
        scene_from_metric_cache(metric_cache_v2(), driving_command="north")


def test_load_navsim_without_navsim_says_how_to_get_it():
    try:
        import navsim  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("NAVSIM is installed here")
    with pytest.raises(ImportError, match="needs NAVSIM.*not on PyPI"):
        load_navsim("logs", "blobs", "cache")


# --- export_scenes -----------------------------------------------------------------------------


class SceneLoader:
    def __init__(self, scenes):
        self._scenes = scenes
        self.scene_frames_dicts = {
            t: [{"cams": {"CAM_F0": {"data_path": f"log/CAM_F0/{f.token}.jpg"}}} for f in s.frames]
            for t, s in scenes.items()
        }

    @property
    def tokens(self):
        return list(self._scenes)

    def get_scene_from_token(self, token):
        return self._scenes[token]


class MetricCacheLoader:
    def __init__(self, caches):
        self._caches = caches

    @property
    def tokens(self):
        return list(self._caches)

    def get_from_token(self, token):
        if self._caches[token] is None:  # listed in the metadata csv, but the file is gone
            raise FileNotFoundError(f"/cache/{token}/metric_cache.pkl")
        return self._caches[token]()


def test_export_scenes_writes_scenes_and_manifest(tmp_path):
    scenes = {t: navsim_scene() for t in ("tok_v2", "tok_v1", "tok_nocache", "tok_gone")}
    cache_loader = MetricCacheLoader({"tok_v2": metric_cache_v2, "tok_v1": metric_cache_v1, "tok_gone": None})
    out = io.StringIO()
    summary = export_scenes(
        SceneLoader(scenes),
        cache_loader,
        tmp_path / "navtest",
        tokens=["tok_v2", "tok_v1", "tok_nocache", "tok_gone", "tok_noscene"],
        split="navtest",
        sensor_blobs_path="/data/sensor_blobs/test",
        console=Console(file=out, width=120),
    )
    assert [p.name for p in summary.paths] == ["tok_v2.json", "tok_v1.json"]
    assert summary.missing_metric_cache == ["tok_nocache", "tok_gone"] and summary.missing_scene == ["tok_noscene"]
    assert summary.counts["missing_metric_cache"] == 2
    lines = [json.loads(line) for line in (tmp_path / "navtest" / "manifest.jsonl").read_text().splitlines()]
    assert lines[0] == {
        "token": "tok_v2",
        "family": "navsim",
        "split": "navtest",
        "scene": "scenes/tok_v2.json",
        "images": {"CAM_F0": "/data/sensor_blobs/test/log/CAM_F0/frame_0.jpg"},
    }
    assert [line["token"] for line in lines] == ["tok_v2", "tok_v1"]
    for line in lines:
        (scene,) = read_scenes(tmp_path / "navtest" / line["scene"])  # the project's reader
        assert scene.token == line["token"] and scene.driving_command == "straight"
    text = out.getvalue()
    assert "scenes written" in text and "missing metric cache" in text and "tok_nocache" in text


def test_export_scenes_agents_from_frames(tmp_path):
    summary = export_scenes(
        SceneLoader({"tok_v2": navsim_scene()}),
        MetricCacheLoader({"tok_v2": metric_cache_v2}),
        tmp_path,
        split="navtest",
        agents_from="frames",
        console=Console(file=io.StringIO()),
    )
    (scene,) = read_scenes(summary.paths[0])
    car = next(a for a in scene.agents if a.id == "car_a")
    assert car.steps[-1][0] == 50  # the v1.1 horizon, rebuilt from the log frames
    line = json.loads(summary.manifest.read_text())
    assert line["images"] == {"CAM_F0": "log/CAM_F0/frame_0.jpg"}  # relative without a sensor root


# --- round trip through the scorer --------------------------------------------------------------


def test_exported_scene_scores(scorer):
    scene = scene_from_metric_cache(metric_cache_v2(), driving_command="straight")
    straight = [[8.0 * 0.5 * k, 0.0, 0.0] for k in range(1, 9)]  # 8 m/s: into lc_1 while it is red
    stop = [[x, 0.0, 0.0] for x in HUMAN_X]  # the logged driver: stops short of lc_1
    off_road = [[4.0 * k, -1.2 * k * k / 4, -0.3 * k] for k in range(1, 9)]
    scores = scorer.score(scene, np.array([straight, stop, off_road]))
    v1, v2 = scores.pdms_v1.metrics, scores.epdms_v2.metrics
    assert np.isfinite(scores.pdms_v1.score).all() and np.isfinite(scores.epdms_v2.score).all()
    assert list(v1["nc"][:2]) == [1.0, 1.0] and list(v1["dac"]) == [1.0, 1.0, 0.0]
    assert v1["score"][0] > 0.5  # v1.1 has no traffic lights
    assert list(v2["tlc"][:2]) == [0.0, 1.0]  # the red light on lc_1 came through
    assert v2["score"][0] == 0.0 and v2["score"][1] > 0.0
