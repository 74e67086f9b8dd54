"""CoT facts and text: a hand-built scene with a golden text, the wording, and synthetic families."""

import numpy as np
import pytest

from elfrl.data.cot import CotFacts, InteractionFact, ObjectFact, cot_text, scene_cot, scene_facts
from elfrl.data.labels import MetaAction, PathLabel, SpeedLabel
from elfrl.scene.schema import Scene
from elfrl.synth.families import FAMILIES

ORIGIN, HEADING = np.array([1000.0, -500.0]), 0.7  # the local frame's place in the global frame
ROT = np.array([[np.cos(HEADING), -np.sin(HEADING)], [np.sin(HEADING), np.cos(HEADING)]])


def to_global(xy) -> list[float]:
    return (np.asarray(xy, dtype=float) @ ROT.T + ORIGIN).tolist()


def box(x0, x1, y0, y1) -> list:
    return to_global([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


def track(agent_id, kind, xy_of_t, heading, speed_of_t, length=4.5, width=2.0) -> dict:
    """An agent at every step 0..50 given its local centre(t) [2], heading and speed(t)."""
    steps = []
    for i in range(51):
        t = 0.1 * i
        x, y = to_global(xy_of_t(t))
        v = speed_of_t(t)
        h = heading + HEADING
        steps.append([i, x, y, h, v * np.cos(h), v * np.sin(h)])
    return {"id": agent_id, "type": kind, "length": length, "width": width, "steps": steps}


def make_scene(agents, red_steps=(), v0=8.0, decel=2.0) -> Scene:
    """A straight one-lane road along local +x (lane y in [-1.75, 1.75], a right lane below it),
    a lane connector with a traffic light 40..60 m ahead, ego at the local origin braking."""
    t = 0.5 * np.arange(1, 9)
    tt = np.minimum(t, v0 / decel) if decel > 0 else t
    gt = np.stack([v0 * tt - 0.5 * decel * tt**2, 0 * t, 0 * t], -1)
    history = [[s, *to_global([v0 * s, 0.0]), HEADING, v0, 0.0, 0.0, 0.0] for s in (-1.5, -1.0, -0.5, 0.0)]
    ego = to_global([0.0, 0.0])
    return Scene.model_validate(
        {
            "token": "hand",
            "ego": {"x": ego[0], "y": ego[1], "heading": HEADING, "vx": v0, "ax": -decel},
            "ego_history": history,
            "driving_command": "straight",
            "map": {
                "polygons": [
                    {"id": "rb", "layer": "roadblock", "exterior": box(-60, 200, -5.25, 1.75)},
                    {"id": "lane_ego", "layer": "lane", "exterior": box(-60, 40, -1.75, 1.75)},
                    {"id": "lc_ego", "layer": "lane_connector", "exterior": box(40, 60, -1.75, 1.75)},
                    {"id": "lane_right", "layer": "lane", "exterior": box(-60, 200, -5.25, -1.75)},
                ]
            },
            "route_lane_ids": ["lane_ego", "lc_ego"],
            "centerline": [[*to_global([x, 0.0]), HEADING] for x in np.arange(-60.0, 201.0, 5.0)],
            "reference": [[*ego, HEADING]] * 41,
            "agents": agents,
            "traffic_lights": [{"lane_connector_id": "lc_ego", "red_steps": list(red_steps)}],
            "human_trajectory": gt.tolist(),
        }
    )


LEAD = track("lead", "vehicle", lambda t: [30.0 + 5.0 * t, -0.2], 0.0, lambda t: 5.0)
# right lane, merging into the ego lane over 0.5 .. 2.5 s
CUT_IN = track(
    "merge", "vehicle", lambda t: [12.0 + 6.0 * t, -3.5 + 3.5 * np.clip((t - 0.5) / 2.0, 0, 1)], 0.0, lambda t: 6.0
)
PEDESTRIAN = track("ped", "pedestrian", lambda t: [20.0, 5.0 - 1.4 * t], -np.pi / 2, lambda t: 1.4, 0.6, 0.6)
ALONGSIDE = track("side", "vehicle", lambda t: [2.0 + 8.0 * t, -3.5], 0.0, lambda t: 8.0)
BEHIND = track("follower", "vehicle", lambda t: [-15.0 + 8.0 * t, 0.0], 0.0, lambda t: 8.0)
FAR_PARKED = track("far", "vehicle", lambda t: [120.0, 0.0], 0.0, lambda t: 0.0)


def test_golden_text_of_a_hand_built_scene():
    text, facts = scene_cot(make_scene([LEAD, CUT_IN, PEDESTRIAN, ALONGSIDE, FAR_PARKED], red_steps=range(51)))
    assert text == (
        "CIPO-1: vehicle 30.0 m ahead, 0.2 m right, same direction. "
        "CIPO-2: vehicle 12.0 m ahead, 3.5 m right, cutting in from the right. "
        "Interaction: pedestrian 20.0 m ahead, 5.0 m left, crossing. "
        "Light: red. Meta action: decelerate, keep lane."
    )
    assert facts.cipo1.id == "lead" and facts.cipo1.speed == pytest.approx(5.0)
    assert facts.cipo2.id == "merge" and 0.5 < facts.cipo2.entry_time < 2.5
    assert [f.id for f in facts.interactions] == ["ped"]
    assert facts.light.lane_connector_id == "lc_ego" and facts.light.distance == pytest.approx(40.0)
    assert facts.meta.text == "decelerate, keep lane"
    # the facts are plain pydantic: they survive a JSON round trip for QA generation
    assert CotFacts.model_validate_json(facts.model_dump_json()) == facts


def test_empty_road_and_green_light():
    text, facts = scene_cot(make_scene([ALONGSIDE, FAR_PARKED], v0=8.0, decel=0.0))
    assert text == "CIPO-1: none. CIPO-2: none. Interaction: none. Light: green. Meta action: maintain, keep lane."
    assert facts.cipo1 is None and facts.cipo2 is None and facts.interactions == []


def test_no_agents():
    text, facts = scene_cot(make_scene([], red_steps=[0, 1]))
    assert text == "CIPO-1: none. CIPO-2: none. Interaction: none. Light: red. Meta action: decelerate, keep lane."


def test_follower_behind_is_an_interaction_not_a_cipo():
    facts = scene_facts(make_scene([BEHIND], decel=0.0))
    assert facts.cipo1 is None
    assert [f.id for f in facts.interactions] == ["follower"] and facts.interactions[0].ahead == pytest.approx(-15.0)


def test_scene_facts_take_other_poses():
    # a candidate that keeps going does not stop for anything: its meta action differs, the objects do not
    scene = make_scene([LEAD])
    keep_going = np.stack([8.0 * 0.5 * np.arange(1, 9), np.zeros(8), np.zeros(8)], -1)
    assert scene_facts(scene).meta.speed.action == "decelerate"
    assert scene_facts(scene, keep_going).meta.speed.action == "maintain"


def _meta(speed="maintain", path="keep lane") -> MetaAction:
    return MetaAction(
        speed=SpeedLabel(action=speed, current_speed=5.0, final_speed=5.0, late_speed=5.0, travel=20.0),
        path=PathLabel(
            action=path, heading_change=0, route_heading_change=0, lateral_start=0, lateral_end=0, in_junction=False
        ),
    )


def test_wording_of_numbers_and_sides():
    cone = ObjectFact(id="c", type="traffic_cone", ahead=7.04, lateral=-0.04, speed=0.0, motion="static")
    car = dict(type="vehicle", speed=9.0, motion="oncoming", min_gap=1.0, min_gap_time=2.0)
    facts = CotFacts(
        token="t",
        cipo1=cone,
        cipo2=None,
        interactions=[
            InteractionFact(id="a", ahead=-12.04, lateral=3.06, **car),
            InteractionFact(id="b", ahead=25.55, lateral=-1.0, **car),
        ],
        light=None,
        meta=_meta("stop", "change lane left"),
    )
    assert cot_text(facts) == (
        "CIPO-1: traffic cone 7.0 m ahead, 0.0 m left, static. CIPO-2: none. "
        "Interaction: vehicle 12.0 m behind, 3.1 m left, oncoming; vehicle 25.6 m ahead, 1.0 m right, oncoming. "
        "Light: none. Meta action: stop, change lane left."
    )


def test_text_names_the_three_nearest_interactions_facts_keep_all():
    people = [
        InteractionFact(
            id=f"p{k}", type="pedestrian", ahead=5.0 + k, lateral=2.0, speed=1.0, motion="crossing", min_gap=1.0, min_gap_time=1.0
        )
        for k in range(4)
    ]
    facts = CotFacts(token="t", cipo1=None, cipo2=None, interactions=people, light=None, meta=_meta())
    text = cot_text(facts)
    assert text.count("pedestrian") == 3 and "8.0 m ahead" not in text and len(facts.interactions) == 4


# -- synthetic families ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generate():
    from elfrl.scoring import PDMScorer
    from elfrl.synth.generate import generate_one

    scorer = PDMScorer(cache_size=2)
    return lambda family, index: generate_one(0, index, (family,), scorer).scene


INDICES = range(3)


@pytest.mark.parametrize("index", INDICES)
def test_stopped_lead_is_cipo1_at_the_right_distance(generate, index):
    scene = generate("stopped_lead", index)
    # the generator's own route arc length from the ego rear axle to the stopped car's centre
    draft = FAMILIES["stopped_lead"](np.random.default_rng([0, index]))
    car = next(a for a in draft.agents if a["id"] == "stopped_car")
    expected = float(draft.layout.route.project(np.asarray(car["steps"][0][1:3]))[0]) - draft.ego_s
    text, facts = scene_cot(scene)
    assert facts.cipo1.id == "stopped_car" and facts.cipo1.motion == "stopped"
    assert facts.cipo1.ahead == pytest.approx(expected, abs=0.5)
    assert text.startswith(f"CIPO-1: vehicle {facts.cipo1.ahead:.1f} m ahead, ")


@pytest.mark.parametrize("index", INDICES)
def test_cut_in_has_a_cipo2(generate, index):
    text, facts = scene_cot(generate("cut_in", index))
    assert facts.cipo2 is not None and facts.cipo2.id == "cut_in"
    assert facts.cipo2.motion == "cutting in from the right" and 0.0 < facts.cipo2.entry_time <= 3.0
    assert "CIPO-2: vehicle" in text and "cutting in from the right" in text


@pytest.mark.parametrize("index", INDICES)
def test_crossing_pedestrian_is_an_interaction(generate, index):
    text, facts = scene_cot(generate("pedestrian_crossing", index))
    ped = [f for f in facts.interactions if f.id == "pedestrian"]
    assert ped and ped[0].motion == "crossing" and ped[0].min_gap <= 3.0
    assert "Interaction: pedestrian" in text and "crossing" in text


def test_intersection_light_state(generate):
    states = []
    for index in range(2):  # seed 0: a green light, then a red one
        scene = generate("intersection", index)
        red_now = 0 in scene.traffic_lights[0].red_steps
        text, facts = scene_cot(scene)
        assert facts.light is not None and facts.light.state == ("red" if red_now else "green")
        assert f"Light: {facts.light.state}." in text
        states.append(facts.light.state)
    assert "red" in states and "green" in states

