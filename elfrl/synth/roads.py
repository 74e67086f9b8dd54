"""Road layouts of the synthetic world: multi-lane roads, a 4-way intersection, a car park.

A layout is built in a local frame (ego lane heading +x) and moved to a random global pose,
so scenes exercise real-world coordinates. Lanes are strips of width LANE_WIDTH around their
centre paths; roadblocks cover the lanes of one direction; the route is the ego's direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from elfrl.planning.paths import Path

LANE_WIDTH = 3.5
SHOULDER = 1.0  # drivable roadblock beyond the outermost lane, as on real roads


@dataclass
class Layout:
    polygons: list[dict] = field(default_factory=list)  # MapPolygon dicts (id, layer, exterior)
    lanes: dict[str, Path] = field(default_factory=dict)  # lane / connector id -> centre path
    route_lane_ids: list[str] = field(default_factory=list)
    route: Path | None = None  # the ego's route centreline (ego lane, then connectors / exits)
    speed_limit: float = 13.9
    stop_lines: dict[str, float] = field(default_factory=dict)  # connector id -> its start s on the route

    def add_lane(self, lane_id: str, path: Path, layer: str = "lane") -> None:
        self.lanes[lane_id] = path
        self.polygons.append({"id": lane_id, "layer": layer, "exterior": path.strip(-LANE_WIDTH / 2, LANE_WIDTH / 2)})

    def moved(self, origin: np.ndarray, heading: float) -> "Layout":
        """The same layout rotated by `heading` and translated to `origin`."""
        c, s = np.cos(heading), np.sin(heading)
        rot = np.array([[c, -s], [s, c]])

        def move_path(p: Path) -> Path:
            return Path.from_points(p.xy @ rot.T + origin)

        out = Layout(
            route_lane_ids=list(self.route_lane_ids),
            route=move_path(self.route),
            speed_limit=self.speed_limit,
            stop_lines=dict(self.stop_lines),
        )
        out.lanes = {k: move_path(v) for k, v in self.lanes.items()}
        for poly in self.polygons:
            ring = np.asarray(poly["exterior"]) @ rot.T + origin
            out.polygons.append({**poly, "exterior": np.round(ring, 4).tolist()})
        return out


def multilane_road(rng: np.random.Generator, curvature: float, n_same: int, n_oncoming: int, ego_lane: int) -> Layout:
    """A road along a constant-curvature reference line (the centre divider) from x = -70 m.

    Same-direction lanes lie right of the divider (lane 0 nearest it), oncoming lanes left of it,
    driven the other way. The route is every same-direction lane; the centreline is the ego lane.
    """
    base = Path.arc(np.array([-70.0, 0.0]), 0.0, 230.0, curvature)
    layout = Layout(speed_limit=float(rng.choice([8.3, 11.1, 13.9, 16.7])))
    w = LANE_WIDTH
    layout.polygons.append({"id": "rb_same", "layer": "roadblock", "exterior": base.strip(-n_same * w - SHOULDER, 0.0)})
    for j in range(n_same):
        layout.add_lane(f"lane_{j}", base.offset(-(j + 0.5) * w))
    layout.route_lane_ids = [f"lane_{j}" for j in range(n_same)]
    if n_oncoming:
        layout.polygons.append({"id": "rb_oncoming", "layer": "roadblock", "exterior": base.strip(0.0, n_oncoming * w + SHOULDER)})
        for j in range(n_oncoming):
            forward = base.offset((j + 0.5) * w)
            layout.add_lane(f"lane_on_{j}", Path.from_points(forward.xy[::-1]))
    layout.route = layout.lanes[f"lane_{ego_lane}"]
    return layout


def intersection(rng: np.random.Generator, turn: str) -> Layout:
    """A 4-way junction: one lane per direction on each arm, an INTERSECTION square, lane
    connectors for the ego's approach. The ego arrives from -x heading +x in the right lane."""
    w, half = LANE_WIDTH, 10.0
    layout = Layout(speed_limit=float(rng.choice([8.3, 11.1])))
    square = [[-half, -half], [half, -half], [half, half], [-half, half]]
    layout.polygons.append({"id": "junction", "layer": "intersection", "exterior": square})
    arms = {"west": 0.0, "south": np.pi / 2, "east": np.pi, "north": -np.pi / 2}  # heading INTO the junction
    for name, heading in arms.items():
        c, s = np.cos(heading), np.sin(heading)
        start = -np.array([c, s]) * 90.0
        right, left = np.array([s, -c]), np.array([-s, c])  # normals of the inbound direction
        inbound = Path.arc(start + right * (w / 2), heading, 90.0 - half, 0.0)
        outbound = Path.arc(-np.array([c, s]) * half + left * (w / 2), heading + np.pi, 90.0 - half, 0.0)
        centre = Path.arc(start, heading, 90.0 - half, 0.0)
        layout.polygons.append({"id": f"rb_{name}", "layer": "roadblock", "exterior": centre.strip(-w, w)})
        layout.add_lane(f"{name}_in", inbound)
        layout.add_lane(f"{name}_out", outbound)
    # the ego approaches from the west arm; exits: east (straight), north (left), south (right)
    entry = layout.lanes["west_in"]
    p0, h0 = entry.xy[-1], 0.0
    if turn == "straight":
        connector = Path.arc(p0, h0, 2 * half, 0.0)
        exit_lane = "east_out"
    else:
        sign = 1.0 if turn == "left" else -1.0
        radius = half + sign * w / 2 if turn == "left" else half - w / 2
        connector = Path.arc(p0, h0, radius * np.pi / 2, sign / radius, step=0.5)
        exit_lane = "north_out" if turn == "left" else "south_out"
    layout.add_lane("lc_ego", connector, layer="lane_connector")
    layout.route_lane_ids = ["west_in", "lc_ego", exit_lane]
    layout.route = entry.concat(connector).concat(layout.lanes[exit_lane])
    layout.stop_lines["lc_ego"] = entry.length
    return layout


def carpark(rng: np.random.Generator) -> Layout:
    """A road that ends in a car park: the route continues along an aisle lane inside a CARPARK area."""
    w = LANE_WIDTH
    road = Path.arc(np.array([-60.0, 0.0]), 0.0, 60.0, 0.0)
    aisle = Path.arc(np.array([0.0, 0.0]), 0.0, 60.0, 0.0)
    layout = Layout(speed_limit=float(rng.choice([5.6, 8.3])))
    layout.polygons.append({"id": "rb_access", "layer": "roadblock", "exterior": road.strip(-w / 2, w / 2)})
    layout.add_lane("lane_access", road)
    layout.polygons.append({"id": "carpark", "layer": "carpark", "exterior": [[0.0, -16.0], [62.0, -16.0], [62.0, 16.0], [0.0, 16.0]]})
    layout.add_lane("aisle", aisle)
    layout.route_lane_ids = ["lane_access", "aisle"]
    layout.route = road.concat(aisle)
    return layout
