"""Scenario families of the synthetic world. Each builds a draft: layout, ego, agents, lights.

`persistent` families are failures for a naive policy: a constant-velocity lane follower
collides at fault there (a stopped car, a parked car, a pedestrian in its lane), so its
PDMS is 0, while the expert brakes or changes lane.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from elfrl.planning.paths import Path
from elfrl.synth.roads import LANE_WIDTH, Layout, carpark, intersection, multilane_road

STEPS = 51  # agents are listed at 10 Hz steps 0..50 (NAVSIM v1.1 observes 5 s)
T = np.arange(STEPS) * 0.1


@dataclass
class Draft:
    family: str
    layout: Layout
    ego_s: float  # rear axle arc length on layout.route
    ego_v: float
    expert_path: Path  # what the expert drives along (the route, or a lane change off it)
    expert_speed: float
    agents: list[dict] = field(default_factory=list)
    traffic_lights: list[dict] = field(default_factory=list)
    persistent: bool = False


def _size(rng, kind: str) -> tuple[float, float]:
    return {
        "vehicle": (rng.uniform(4.2, 5.0), rng.uniform(1.8, 2.0)),
        "pedestrian": (0.6, 0.6),
        "bicycle": (1.8, 0.6),
        "traffic_cone": (0.4, 0.4),
        "barrier": (0.5, 1.6),
        "czone_sign": (0.5, 0.8),
        "generic_object": (0.8, 0.8),
    }[kind]


def along(rng, agent_id: str, kind: str, path: Path, s0: float, speed: float, accel: float = 0.0, size=None) -> dict:
    """An agent driving along `path` from arc length s0 (its box centre) at `speed`, `accel`."""
    length, width = size or _size(rng, kind)
    v = np.maximum(speed + accel * T, 0.0)
    s = s0 + np.concatenate([[0.0], np.cumsum(v[:-1] * 0.1)])
    pose = path.pose(s)
    return _agent(agent_id, kind, length, width, pose, v)


def standing(rng, agent_id: str, kind: str, pose: np.ndarray) -> dict:
    length, width = _size(rng, kind)
    return _agent(agent_id, kind, length, width, np.broadcast_to(pose, (STEPS, 3)), np.zeros(STEPS))


def _agent(agent_id, kind, length, width, pose, speed) -> dict:
    vx, vy = speed * np.cos(pose[:, 2]), speed * np.sin(pose[:, 2])
    rows = np.stack([np.arange(STEPS), pose[:, 0], pose[:, 1], pose[:, 2], vx, vy], -1)
    steps = [[int(r[0])] + [round(float(x), 4) for x in r[1:]] for r in rows]
    return {"id": agent_id, "type": kind, "length": round(length, 3), "width": round(width, 3), "steps": steps}


def _place(rng, layout: Layout) -> Layout:
    """Move a local layout to a random global pose (some scenes at UTM-like coordinates)."""
    scale = 1e5 if rng.random() < 0.3 else 500.0
    return layout.moved(rng.uniform(-scale, scale, 2), float(rng.uniform(-np.pi, np.pi)))


def _road(rng, curvature, n_same, n_oncoming, ego_lane) -> Layout:
    return _place(rng, multilane_road(rng, curvature, n_same, n_oncoming, ego_lane))


def _ego_start(rng, layout: Layout, lo: float = 0.75, hi: float = 1.0) -> tuple[float, float]:
    return 70.0 + rng.uniform(-2.0, 2.0), layout.speed_limit * rng.uniform(lo, hi)


def lane_follow(rng) -> Draft:
    n_same, n_on = int(rng.integers(1, 4)), int(rng.integers(0, 3))
    lane = int(rng.integers(0, n_same))
    layout = _road(rng, rng.uniform(-0.004, 0.004), n_same, n_on, lane)
    s0, v0 = _ego_start(rng, layout)
    agents = [along(rng, "lead", "vehicle", layout.route, s0 + rng.uniform(40, 70), v0 * rng.uniform(0.95, 1.1))]
    for j in range(n_same):
        if j != lane and rng.random() < 0.7:
            agents.append(along(rng, f"side{j}", "vehicle", layout.lanes[f"lane_{j}"], s0 + rng.uniform(-25, 40), v0))
    for j in range(n_on):
        path = layout.lanes[f"lane_on_{j}"]
        agents.append(along(rng, f"oncoming{j}", "vehicle", path, path.length - s0 - rng.uniform(30, 80), layout.speed_limit))
    return Draft("lane_follow", layout, s0, v0, layout.route, layout.speed_limit, agents)


def curve(rng) -> Draft:
    kappa = float(rng.choice([-1, 1]) * rng.uniform(0.006, 0.015))
    n_same = int(rng.integers(1, 3))
    layout = _road(rng, kappa, n_same, int(rng.integers(0, 2)), 0)
    layout.speed_limit = min(layout.speed_limit, 11.1)
    s0, v0 = _ego_start(rng, layout)
    agents = []
    if rng.random() < 0.6:
        agents.append(along(rng, "lead", "vehicle", layout.route, s0 + rng.uniform(35, 60), v0))
    return Draft("curve", layout, s0, v0, layout.route, layout.speed_limit, agents)


def slow_lead(rng) -> Draft:
    layout = _road(rng, rng.uniform(-0.003, 0.003), int(rng.integers(1, 3)), int(rng.integers(0, 2)), 0)
    s0, v0 = _ego_start(rng, layout)
    lead = along(rng, "lead", "vehicle", layout.route, s0 + rng.uniform(25, 40), v0 * rng.uniform(0.3, 0.6))
    return Draft("slow_lead", layout, s0, v0, layout.route, layout.speed_limit, [lead])


def _gap_for_collision(rng, v0: float) -> float:
    """Front-bumper gap to a standing obstacle that a constant-velocity ego reaches within 4 s
    but the expert (IDM, <= 3 m/s^2) can still stop before."""
    lo = v0**2 / 5.0 + 5.0
    hi = max(0.8 * v0 * 4.0 - 2.0, lo + 1.0)
    return float(rng.uniform(lo, hi))


def stopped_lead(rng) -> Draft:
    layout = _road(rng, rng.uniform(-0.003, 0.003), int(rng.integers(1, 3)), int(rng.integers(0, 2)), 0)
    s0 = 70.0
    v0 = float(rng.uniform(6.0, 10.0))
    size = _size(rng, "vehicle")
    gap = _gap_for_collision(rng, v0)
    car = along(rng, "stopped_car", "vehicle", layout.route, s0 + 4.049 + gap + size[0] / 2, 0.0, size=size)
    return Draft("stopped_lead", layout, s0, v0, layout.route, layout.speed_limit, [car], persistent=True)


def cut_in(rng) -> Draft:
    layout = _road(rng, rng.uniform(-0.002, 0.002), 2, int(rng.integers(0, 2)), 0)
    s0, v0 = _ego_start(rng, layout)
    other = layout.lanes["lane_1"]  # right of the ego lane
    start, end = rng.uniform(0.5, 1.0), rng.uniform(2.5, 3.0)  # seconds of the merge

    def merge(s):
        t = np.clip((s - s0 - 12.0) / max(v0 * (end - start), 1.0), 0.0, 1.0)
        return LANE_WIDTH * (0.5 - 0.5 * np.cos(np.pi * t))  # towards the ego lane (left)

    path = other.shifted(merge)
    car = along(rng, "cut_in", "vehicle", path, s0 + 4.049 + rng.uniform(6.0, 12.0), v0 * rng.uniform(0.7, 0.85))
    return Draft("cut_in", layout, s0, v0, layout.route, layout.speed_limit, [car])


def static_obstacle(rng) -> Draft:
    n_same = int(rng.integers(2, 4))
    layout = _road(rng, rng.uniform(-0.002, 0.002), n_same, int(rng.integers(0, 2)), 0)
    s0 = 70.0
    v0 = float(rng.uniform(7.0, 10.0))
    size = _size(rng, "vehicle")
    length = size[0]
    gap = float(rng.uniform(0.55, 0.8) * v0 * 4.0)  # a constant-velocity ego reaches it within 4 s
    s_car = s0 + 4.049 + gap + length / 2
    agents = [along(rng, "parked_car", "vehicle", layout.route, s_car, 0.0, size=size)]
    for k in range(int(rng.integers(1, 3))):
        pose = layout.route.pose(s_car - length / 2 - 2.0 - 2.0 * k)
        agents.append(standing(rng, f"cone{k}", str(rng.choice(["traffic_cone", "barrier"])), pose))
    # the expert changes to the free lane on the right, finishing well before the obstacle
    change = 0.75 * gap

    def shift(s):
        t = np.clip((s - s0) / change, 0.0, 1.0)
        return -LANE_WIDTH * (0.5 - 0.5 * np.cos(np.pi * t))

    return Draft("static_obstacle", layout, s0, v0, layout.route.shifted(shift), layout.speed_limit, agents, persistent=True)


def pedestrian_crossing(rng) -> Draft:
    layout = _road(rng, rng.uniform(-0.002, 0.002), 1, int(rng.integers(0, 2)), 0)
    s0 = 70.0
    v0 = float(rng.uniform(6.0, 10.0))
    # A constant-velocity front bumper is at s0 + 4.049 + v0 t. The pedestrian stands exactly where
    # the bumper is at a 10 Hz step, so the first contact is on the bumper (ACTIVE_FRONT, at
    # fault): a 0.6 m box between two steps of the bumper would be classed as a lateral contact.
    arrive_step = round(_gap_for_collision(rng, v0) / v0 / 0.1)
    t_arrive = arrive_step * 0.1
    s_cross = s0 + 4.049 + v0 * t_arrive
    walk = 1.4
    lateral = np.where(T < t_arrive, -walk * (t_arrive - T), np.where(T < t_arrive + 1.5, 0.0, walk * (T - t_arrive - 1.5)))
    base = layout.route.pose(s_cross)
    normal = np.array([-np.sin(base[2]), np.cos(base[2])])
    xy = base[:2] + lateral[:, None] * normal
    heading = np.full(STEPS, base[2] + np.pi / 2)
    speed = np.where((T >= t_arrive) & (T < t_arrive + 1.5), 0.0, walk)
    speed[0] = walk  # walking when first seen: an active (not stopped) track
    ped = _agent("pedestrian", "pedestrian", 0.6, 0.6, np.concatenate([xy, heading[:, None]], 1), speed)
    return Draft("pedestrian_crossing", layout, s0, v0, layout.route, layout.speed_limit, [ped], persistent=True)


def oncoming(rng) -> Draft:
    n_on = int(rng.integers(1, 3))
    layout = _road(rng, rng.uniform(-0.004, 0.004), int(rng.integers(1, 3)), n_on, 0)
    s0, v0 = _ego_start(rng, layout)
    agents = []
    for k in range(int(rng.integers(2, 5))):
        path = layout.lanes[f"lane_on_{int(rng.integers(0, n_on))}"]
        agents.append(along(rng, f"oncoming{k}", "vehicle", path, path.length - s0 - 20.0 - 25.0 * k, layout.speed_limit))
    return Draft("oncoming", layout, s0, v0, layout.route, layout.speed_limit, agents)


def intersection_turn(rng) -> Draft:
    turn = str(rng.choice(["straight", "left", "right"]))
    layout = _place(rng, intersection(rng, turn))
    stop = layout.stop_lines["lc_ego"]
    v0 = float(rng.uniform(4.0, 7.0))
    s0 = stop - 4.049 - rng.uniform(v0**2 / 4.0 + 6.0, 35.0)
    light = str(rng.choice(["red", "red_then_green", "green"]))
    red_steps = {"red": list(range(STEPS)), "red_then_green": list(range(int(rng.integers(10, 30)))), "green": []}[light]
    lights = [{"lane_connector_id": "lc_ego", "red_steps": red_steps}]
    agents = []
    if light == "red":  # cross traffic has green and passes through the junction
        cross = layout.lanes["south_in"].concat(Path.arc(layout.lanes["south_in"].xy[-1], float(layout.lanes["south_in"].heading[-1]), 20.0, 0.0))
        agents.append(along(rng, "crossing", "vehicle", cross, cross.length - 45.0 - rng.uniform(0, 10), 8.0))
    else:  # cross traffic waits at its stop line
        south = layout.lanes["south_in"]
        agents.append(along(rng, "waiting", "vehicle", south, south.length - 3.0, 0.0))
    speed = layout.speed_limit if turn == "straight" else min(layout.speed_limit, 5.5)
    return Draft("intersection", layout, s0, v0, layout.route, speed, agents, lights)


def carpark_entry(rng) -> Draft:
    layout = _place(rng, carpark(rng))
    s0 = 60.0 - rng.uniform(15.0, 30.0)
    v0 = float(rng.uniform(3.0, 5.5))
    agents = []
    aisle = layout.lanes["aisle"]
    for k in range(int(rng.integers(2, 6))):
        s = 8.0 + 9.0 * k + rng.uniform(-1, 1)
        base = aisle.pose(s)
        side = 1 if k % 2 else -1
        pose = base + np.array([-np.sin(base[2]), np.cos(base[2]), 0.0]) * side * 5.5
        pose[2] += np.pi / 2
        agents.append(standing(rng, f"parked{k}", "vehicle", pose))
    return Draft("carpark_entry", layout, s0, v0, layout.route, layout.speed_limit, agents)


FAMILIES: dict[str, Callable[[np.random.Generator], Draft]] = {
    "lane_follow": lane_follow,
    "curve": curve,
    "slow_lead": slow_lead,
    "stopped_lead": stopped_lead,
    "cut_in": cut_in,
    "static_obstacle": static_obstacle,
    "pedestrian_crossing": pedestrian_crossing,
    "oncoming": oncoming,
    "intersection": intersection_turn,
    "carpark_entry": carpark_entry,
}
PERSISTENT_FAILURES = ("stopped_lead", "static_obstacle", "pedestrian_crossing")
