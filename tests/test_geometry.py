"""Box and polygon geometry of the scorer, with shapely (GEOS) as the oracle."""

import numpy as np
import pytest
import shapely

from elfrl.scoring.geometry import (
    UNSURE,
    box_corners,
    boxes_intersect,
    box_contacts,
    points_in_polygons,
    relative_angle,
    segment_intersects_box,
)
from elfrl.scoring.metrics import _inside

PI = np.pi


# (heading, expected corners FL, RL, RR, FR) of a box 4 m long, 2 m wide at the origin
CORNER_CASES = [
    (0.0, [[2.0, 1.0], [-2.0, 1.0], [-2.0, -1.0], [2.0, -1.0]]),
    (PI / 2, [[-1.0, 2.0], [-1.0, -2.0], [1.0, -2.0], [1.0, 2.0]]),
    (PI, [[-2.0, -1.0], [2.0, -1.0], [2.0, 1.0], [-2.0, 1.0]]),
]


@pytest.mark.parametrize("heading, expected", CORNER_CASES)
def test_box_corners_order(heading, expected):
    corners = box_corners(np.zeros(2), np.array(heading), 2.0, 1.0)
    assert corners.shape == (4, 2)
    np.testing.assert_allclose(corners, expected, rtol=0, atol=1e-15)


def test_box_corners_heading_zero_exact_and_batched():
    assert box_corners(np.zeros(2), np.array(0.0), 2.0, 1.0).tolist() == CORNER_CASES[0][1]
    centers = np.array([[[10.0, 5.0], [0.0, 0.0]]])  # [1, 2, 2]
    out = box_corners(centers, np.array([[0.0, PI / 2]]), np.array([[2.0, 2.0]]), np.array([[1.0, 1.0]]))
    assert out.shape == (1, 2, 4, 2)
    np.testing.assert_allclose(out[0, 0], np.array(CORNER_CASES[0][1]) + [10.0, 5.0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(out[0, 1], CORNER_CASES[1][1], rtol=0, atol=1e-15)


def _boxes(spec):
    """[(cx, cy, heading, half_length, half_width)] -> corners [N, 4, 2], centers [N, 2], radii [N]."""
    s = np.asarray(spec, dtype=np.float64).reshape(-1, 5)
    return box_corners(s[:, :2], s[:, 2], s[:, 3], s[:, 4]), s[:, :2].copy(), np.hypot(s[:, 3], s[:, 4])


def _overlapping(ego_spec, agent_spec, ego_radius=None):
    """box_contacts for N (ego, agent) pairs: ego step i against the one agent at observation step i."""
    ego, ego_center, ego_r = _boxes(ego_spec)
    agent, agent_center, agent_r = _boxes(agent_spec)
    n = len(ego)
    coords = np.concatenate([ego, ego_center[:, None]], axis=1)[None]  # [1, T=N, 5, 2]
    b, k, a = box_contacts(
        coords,
        np.zeros((1, n, 2)),  # no motion
        np.array([0]),  # offset 0: ego step t looks at observation step t
        0.1,
        float(ego_r.max()) if ego_radius is None else ego_radius,
        agent[:, None],  # [S=N, A=1, 4, 2]
        agent_center[:, None],  # [S, A, 2]
        np.ones((n, 1), dtype=np.bool_),
        np.array([agent_r.max()]),  # radius [A]: the one agent slot is a different box per step
    )
    hit = np.zeros(n, dtype=bool)
    hit[k] = True
    return hit


def _shapely_intersects(a_spec, b_spec):
    a, _, _ = _boxes(a_spec)
    b, _, _ = _boxes(b_spec)
    return shapely.intersects(shapely.polygons(a), shapely.polygons(b))


EGO = (0.0, 0.0, 0.0, 2.0, 1.0)  # 4 x 2 m, axis-aligned at the origin
# (name, agent box (cx, cy, heading, half_length, half_width) against EGO, intersects)
BOX_CASES = [
    ("sharing the edge x = 2", (4.0, 0.5, 0.0, 2.0, 1.0), True),
    ("1e-9 beyond the edge x = 2", (4.0 + 1e-9, 0.5, 0.0, 2.0, 1.0), False),
    ("sharing the edge y = 1", (1.0, 2.0, 0.0, 2.0, 1.0), True),
    ("1e-9 above the edge y = 1", (1.0, 2.0 + 1e-9, 0.0, 2.0, 1.0), False),
    ("touching corner to corner", (4.0, 2.0, 0.0, 2.0, 1.0), True),
    ("corner to corner, 1e-9 apart", (4.0 + 1e-9, 2.0, 0.0, 2.0, 1.0), False),
    ("contained", (0.5, 0.0, 0.7, 0.5, 0.3), True),
    ("containing", (0.0, 0.0, 0.3, 6.0, 5.0), True),
    ("same box", EGO, True),
    ("rotated, corner into the side", (2.0 + np.sqrt(0.5) - 1e-3, 0.0, PI / 4, 0.5, 0.5), True),
    ("rotated, corner short of the side", (2.0 + np.sqrt(0.5) + 1e-3, 0.0, PI / 4, 0.5, 0.5), False),
    # a thin box across the corner (2, 1): only its own short axis (1, 1) / sqrt 2 separates them
    ("diagonal past the corner, gap only on its own axis", (2.0 + 0.3 / np.sqrt(2), 1.0 + 0.3 / np.sqrt(2), -PI / 4, 2.0, 0.2), False),
    ("diagonal over the corner", (2.0 + 0.1 / np.sqrt(2), 1.0 + 0.1 / np.sqrt(2), -PI / 4, 2.0, 0.2), True),
]


@pytest.mark.parametrize("name, agent, expected", BOX_CASES, ids=[c[0] for c in BOX_CASES])
def test_box_overlap_cases(name, agent, expected):
    assert bool(_shapely_intersects(EGO, agent)) is expected  # the table agrees with GEOS
    assert _overlapping([EGO], [agent]).tolist() == [expected]
    assert _overlapping([agent], [EGO]).tolist() == [expected]
    a, _, _ = _boxes(EGO)
    b, _, _ = _boxes(agent)
    assert boxes_intersect(a, b).tolist() == [expected]


def test_box_overlap_prefilter_with_exact_radius():
    """Corner-to-corner contact puts the centres exactly ego radius + agent radius apart."""
    radius = float(np.hypot(2.0, 1.0))
    assert _overlapping([EGO], [(4.0, 2.0, 0.0, 2.0, 1.0)], ego_radius=radius).tolist() == [True]


def _random_box_pairs(rng, n):
    ego = np.column_stack([np.zeros((n, 2)), rng.uniform(-PI, PI, n), rng.uniform(0.3, 3.0, (n, 2))])
    agent = np.column_stack([rng.uniform(-6.0, 6.0, (n, 2)), rng.uniform(-PI, PI, n), rng.uniform(0.1, 3.0, (n, 2))])
    return ego, agent


def test_box_overlap_random_pairs_match_shapely():
    ego, agent = _random_box_pairs(np.random.default_rng(0), 2000)
    expected = _shapely_intersects(ego, agent)
    assert 500 < expected.sum() < 1500  # both outcomes well represented
    assert (_overlapping(ego, agent) == expected).all()
    a, _, _ = _boxes(ego)
    b, _, _ = _boxes(agent)
    assert (boxes_intersect(a, b) == expected).all()


def test_box_contacts_layout_offsets_and_absent_agents():
    """(b, k, a) with k = t * D + d: the ego box at t, moved by dxy * offset * dt, against the
    agents at step t + offset; absent agents never hit; results ordered by (b, t, d, a)."""
    ego, ego_center, _ = _boxes([EGO, EGO, (50.0, 50.0, 0.0, 2.0, 1.0), (50.0, 50.0, 0.0, 2.0, 1.0)])
    coords = np.concatenate([ego, ego_center[:, None]], axis=1).reshape(2, 2, 5, 2)  # [B=2, T=2]
    dxy = np.zeros((2, 2, 2))
    dxy[0, 0] = (10.0, 0.0)  # proposal 0 at t=0 drives at 10 m/s along +x
    # agents at steps 0..2: agent 0 sits on the ego at step 0 only; agent 1 is 3 m ahead at step 1
    # (present) and at step 2 (absent); everything else is far away
    on_ego, ahead_3m, far = (1.0, 0.0, 0.3, 1.0, 1.0), (3.0, 0.0, 0.0, 1.0, 1.0), (100.0, 0.0, 0.0, 1.0, 1.0)
    corners, centers, radius = _boxes([on_ego, far, far, ahead_3m, far, ahead_3m])
    present = np.array([[True, True], [True, True], [True, False]])
    b, k, a = box_contacts(
        coords, dxy, np.array([0, 1]), 0.1, float(np.hypot(2.0, 1.0)),
        corners.reshape(3, 2, 4, 2), centers.reshape(3, 2, 2), present, radius[:2],
    )
    # proposal 0: t=0 d=0 (k=0) hits agent 0; t=0 moved 1 m, at step 1 (k=1) hits agent 1;
    # t=1 d=1 looks at step 2 where agent 1 is absent. Proposal 1 is far from everything.
    assert list(zip(b, k, a)) == [(0, 0, 0), (0, 1, 1), (0, 2, 1)]


# (name, segment p, q, intersects EGO)
SEGMENT_CASES = [
    ("crossing", (-3.0, 0.0), (3.0, 0.0), True),
    ("inside", (-1.0, 0.0), (1.0, 0.5), True),
    ("end on the edge x = 2", (2.0, 0.0), (3.0, 0.0), True),
    ("end 1e-9 short of x = 2", (2.0 + 1e-9, 0.0), (3.0, 0.0), False),
    ("along the edge y = 1", (-3.0, 1.0), (3.0, 1.0), True),
    ("parallel 1e-9 above y = 1", (-3.0, 1.0 + 1e-9), (3.0, 1.0 + 1e-9), False),
    ("through the corner (2, 1)", (1.0, 2.0), (3.0, 0.0), True),
    ("past the corner (2, 1)", (1.0, 2.0 + 1e-9), (3.0, 1e-9), False),
    ("diagonal miss, boxes overlap", (1.5, 3.0), (4.0, 0.5), False),
]


@pytest.mark.parametrize("name, p, q, expected", SEGMENT_CASES, ids=[c[0] for c in SEGMENT_CASES])
def test_segment_cases(name, p, q, expected):
    box, _, _ = _boxes(EGO)
    assert bool(shapely.intersects(shapely.LineString([p, q]), shapely.Polygon(box[0]))) is expected
    assert segment_intersects_box(np.array(p), np.array(q), box[0]).tolist() is expected


def test_segment_random_match_shapely():
    rng = np.random.default_rng(1)
    n = 2000
    boxes, _, _ = _boxes(np.column_stack([rng.uniform(-3, 3, (n, 2)), rng.uniform(-PI, PI, n), rng.uniform(0.2, 3.0, (n, 2))]))
    p, q = rng.uniform(-6, 6, (n, 2)), rng.uniform(-6, 6, (n, 2))
    expected = shapely.intersects(shapely.linestrings(np.stack([p, q], axis=1)), shapely.polygons(boxes))
    assert 500 < expected.sum() < 1500
    assert (segment_intersects_box(p, q, boxes) == expected).all()


# Scenes of the dev fixtures: carpark with clutter, UTM-sized coordinates, 300 polygons.
MAP_SCENES = [0, 1, 2, 15, 20]


def _probe_points(world, rng):
    """Random points over the map, every vertex, every edge midpoint and points along edges."""
    rings = world.rings
    nxt = np.concatenate([np.roll(rings[a:b], -1, axis=0) for a, b in zip(world.ring_offsets[:-1], world.ring_offsets[1:])])
    lo, hi = world.polygon_bounds[:, :2].min(0), world.polygon_bounds[:, 2:].max(0)
    t = rng.uniform(0.0, 1.0, (len(rings), 1))
    return {
        "random": rng.uniform(lo, hi, (3000, 2)),
        "vertex": rings.copy(),
        "midpoint": (rings + nxt) / 2.0,
        "along": rings + t * (nxt - rings),
    }


@pytest.mark.parametrize("index", MAP_SCENES)
def test_points_in_polygons_match_geos(dev_scenes, scorer, index):
    world = scorer.prepare(dev_scenes[index]).world
    rng = np.random.default_rng(index)
    probes = _probe_points(world, rng)
    points = np.concatenate(list(probes.values()))
    near, inside = _inside(world, points)
    n_poly = len(world.ring_offsets) - 1
    assert (near == np.arange(n_poly)).all()  # the probes span the whole map
    polygons = np.array([world.polygon(k) for k in near], dtype=object)
    expected = shapely.contains_xy(polygons[:, None], points[None, :, 0], points[None, :, 1])
    assert (inside == expected).all()
    n_random, n_vertex = len(probes["random"]), len(probes["vertex"])
    owner = np.repeat(np.arange(n_poly), np.diff(world.ring_offsets))  # [V] polygon of each vertex
    vertex = np.arange(n_random, n_random + n_vertex)
    assert not inside[owner, vertex].any()  # a polygon's own vertices are on its boundary, so outside
    assert expected[:, :n_random].any()  # random points do fall inside

    # the kernel alone: certain answers agree with GEOS, boundary points are left UNSURE
    code = points_in_polygons(points, world.rings, world.ring_offsets, near, world.polygon_bounds)
    assert (expected[code == 1]).all() and not expected[code == 0].any()
    assert (code[owner, vertex] == UNSURE).all()
    assert (code == UNSURE).any()


# (name, ego pose (x, y, heading), target (x, y), expected angle)
ANGLE_CASES = [
    ("straight ahead", (0.0, 0.0, 0.0), (5.0, 0.0), 0.0),
    ("behind", (0.0, 0.0, 0.0), (-5.0, 0.0), PI),
    ("left", (0.0, 0.0, 0.0), (0.0, 5.0), PI / 2),
    ("right", (0.0, 0.0, 0.0), (0.0, -5.0), PI / 2),
    ("ahead, heading north", (1.0, 1.0, PI / 2), (1.0, 7.0), 0.0),
    ("behind, heading north", (1.0, 1.0, PI / 2), (1.0, -7.0), PI),
    ("45 deg left", (0.0, 0.0, 0.0), (3.0, 3.0), PI / 4),
    ("135 deg right", (0.0, 0.0, 0.0), (-3.0, -3.0), 3 * PI / 4),
]


@pytest.mark.parametrize("name, ego, target, expected", ANGLE_CASES, ids=[c[0] for c in ANGLE_CASES])
def test_relative_angle(name, ego, target, expected):
    assert relative_angle(np.array(ego), np.array(target)) == pytest.approx(expected, abs=1e-15)


def test_relative_angle_batched_and_coincident():
    ego = np.array([[0.0, 0.0, 0.0], [2.0, 3.0, 1.0]])
    target = np.array([[0.0, 5.0], [2.0, 3.0]])  # the second coincides with the ego
    with np.errstate(invalid="ignore"):  # 0 / 0 in the normalisation
        out = relative_angle(ego, target)
    assert out.shape == (2,)
    assert out[0] == PI / 2
    assert np.isnan(out[1])
