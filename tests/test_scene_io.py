"""Scene packs: reading the golden fixtures, round trips, and errors that name the scene and field."""

import copy
import json
from pathlib import Path

import pytest

from elfrl.scene import SceneFormatError, read_scenes, write_scenes

DEV = Path(__file__).parent / "data" / "pdms_dev.json.gz"
TOKEN = "synth_1001_0000"


@pytest.fixture(scope="module")
def scenes():
    return read_scenes(DEV)


@pytest.fixture(scope="module")
def raw_scene(scenes):
    """The first fixture scene as a plain JSON object, for mutating."""
    return json.loads(scenes[0].model_dump_json(exclude_none=True))


def test_read_dev_fixtures(scenes):
    assert len(scenes) == 150
    assert scenes[0].token == TOKEN
    assert [len(s.candidates) for s in scenes] == [8] * 150
    assert all(s.expected is not None and len(s.expected.pdms_v1) == 8 for s in scenes)


@pytest.mark.parametrize("name, count", [("x.json.gz", 150), ("x.json", 20)])
def test_write_read_round_trip(scenes, tmp_path, name, count):
    scenes = scenes[:count]
    path = write_scenes(tmp_path / name, scenes)
    assert path == tmp_path / name
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = read_scenes(path)
    assert [s.token for s in back] == [s.token for s in scenes]
    assert back == scenes


def test_write_read_json_lines(scenes, tmp_path):
    path = write_scenes(tmp_path / "x.jsonl.gz", scenes[:3])
    assert read_scenes(path) == scenes[:3]


def test_read_json_lines(scenes, tmp_path):
    raw = [json.loads(s.model_dump_json(exclude_none=True)) for s in scenes[:3]]
    path = tmp_path / "x.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in raw) + "\n", encoding="utf-8")  # blank line skipped
    assert read_scenes(path) == scenes[:3]


def test_read_single_scene_object_and_bare_list(scenes, raw_scene, tmp_path):
    one = tmp_path / "one.json"
    one.write_text(json.dumps(raw_scene), encoding="utf-8")
    assert read_scenes(one) == scenes[:1]
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps([raw_scene]), encoding="utf-8")
    assert read_scenes(bare) == scenes[:1]


def _candidate_poses(n):
    def mutate(s):
        s["candidates"][1] = s["candidates"][1][:n]

    return mutate


def _set(path, value):
    """A mutation setting s[path[0]][path[1]]... = value."""

    def mutate(s):
        node = s
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _rename(old, new):
    def mutate(s):
        s[new] = s.pop(old)

    return mutate


# (name, mutation of scene synth_1001_0000, regex the message must contain after the scene token)
# Scene 0's map: rb_access (roadblock), lane_access (lane), carpark_0 (carpark).
BAD_SCENES = [
    ("candidate with 7 poses", _candidate_poses(7), r"candidates.*candidates\[1\] must have 8 poses"),
    ("NaN in a candidate", _set(["candidates", 2, 3, 1], float("nan")), r"candidates.*candidates\[2\]\[3\] .*non-finite value \(nan\)"),
    ("unknown map layer", _set(["map", "polygons", 1, "layer"], "sidewalk"), r"map\.polygons\.1\.layer: .*'lane_connector'"),
    ("empty map", _set(["map", "polygons"], []), r"map\.polygons: .*the map is empty"),
    ("route names a roadblock", _set(["route_lane_ids"], ["rb_access"]), r"route_lane_ids names 'rb_access': it is not a lane"),
    ("route names no polygon", _set(["route_lane_ids"], ["lane_nowhere"]), r"route_lane_ids names 'lane_nowhere': no such polygon"),
    ("reference with 40 poses", lambda s: s["reference"].pop(), r"reference: .*reference must have 41 poses .*got 40"),
    ("misspelt top-level key", _rename("agents", "agnets"), r"agnets: Extra inputs are not permitted"),
    ("NaN in the ego state", _set(["ego", "vx"], float("nan")), r"ego: .*non-finite value \(nan\)"),
    ("dt of 0.5 s", _set(["dt"], 0.5), r"dt: .*dt must be 0\.1 s"),
    ("agent of zero width", _set(["agents", 0, "width"], 0.0), r"agents\.0\.width: .*greater than 0"),
    ("duplicate agent ids", _set(["agents", 1, "id"], "veh1"), r"agent ids must be unique"),
    ("infinite agent length", _set(["agents", 0, "length"], float("inf")), r"agents\.0\.length: .*finite"),
    ("agent id with red_light", _set(["agents", 0, "id"], "red_light_7"), r"agents\.0\.id: .*reserves for red-light"),
    (
        "traffic light on a roadblock",
        _set(["traffic_lights"], [{"lane_connector_id": "rb_access", "red_steps": [0]}]),
        r"traffic light on 'rb_access': it is not a lane",
    ),
    (
        "red step outside 0..50",
        _set(["traffic_lights"], [{"lane_connector_id": "lane_access", "red_steps": [3, 99]}]),
        r"red_steps \[99\] outside the observation steps 0\.\.50",
    ),
    (
        "self-intersecting polygon",
        _set(["map", "polygons", 2, "exterior"], [[0, 0], [1, 1], [1, 0], [0, 1]]),
        r"map\.polygons\.2\.exterior: .*invalid polygon ring: Self-intersection",
    ),
]


@pytest.mark.parametrize("name, mutate, pattern", BAD_SCENES, ids=[c[0] for c in BAD_SCENES])
def test_bad_scene_names_token_and_field(raw_scene, tmp_path, name, mutate, pattern):
    bad = copy.deepcopy(raw_scene)
    mutate(bad)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"format": "elfrl.scene-fixtures/1", "scenes": [bad]}), encoding="utf-8")  # NaN literal
    with pytest.raises(SceneFormatError, match=rf"(?s)bad\.json \[scene 0\], scene '{TOKEN}' is invalid:.*{pattern}"):
        read_scenes(path)


def test_duplicate_scene_tokens(raw_scene, tmp_path):
    path = tmp_path / "dup.json"
    path.write_text(json.dumps([raw_scene, raw_scene]), encoding="utf-8")
    with pytest.raises(SceneFormatError, match=rf"dup\.json: duplicate scene tokens \['{TOKEN}'\]"):
        read_scenes(path)


# (name, file name, file text, regex of the message)
BAD_FILES = [
    ("unknown format", "f.json", '{"format": "elfrl.scene/2", "scenes": []}', r"f\.json: unknown format 'elfrl\.scene/2'"),
    ("pack without format", "f.json", '{"scenes": []}', r"f\.json: unknown format None"),
    ("invalid JSON on line 3", "f.json", '{"format": "elfrl.scene/1",\n "scenes": [\n  {"token": oops}\n]}', r"f\.json:3: not valid JSON"),
    ("invalid JSON line 2", "f.jsonl", '{"token": "a"}\n{"token": \n', r"f\.jsonl:2: not valid JSON"),
    ("no scenes", "f.json", '{"format": "elfrl.scene/1", "scenes": []}', r"f\.json: the file holds no scenes"),
    ("a number", "f.json", "3", r"f\.json: expected a scene object, a list of scenes or a scene pack"),
    ("a list of strings", "f.json", '["synth"]', r"f\.json \[scene 0\]: a scene must be a JSON object, got str"),
]


@pytest.mark.parametrize("name, filename, text, pattern", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_file(tmp_path, name, filename, text, pattern):
    path = tmp_path / filename
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SceneFormatError, match=pattern):
        read_scenes(path)


def test_missing_file(tmp_path):
    with pytest.raises(SceneFormatError, match=r"nothere\.json\.gz: no such file"):
        read_scenes(tmp_path / "nothere.json.gz")
