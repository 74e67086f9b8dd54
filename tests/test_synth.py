"""The synthetic world: determinism, every family, the expert vs a naive baseline, the CLI."""

import json

import numpy as np
import pytest

from elfrl.cli import main
from elfrl.scene import read_scenes
from elfrl.scoring import PDMScorer
from elfrl.synth.families import FAMILIES, PERSISTENT_FAILURES
from elfrl.synth.generate import GenerationError, check_request, generate_one, split_of

ALL = tuple(FAMILIES)


@pytest.fixture(scope="module")
def synth_scorer():
    return PDMScorer(cache_size=4)


def test_same_seed_same_scene_other_seed_other_scene(synth_scorer):
    a = generate_one(5, 3, ALL, synth_scorer)
    b = generate_one(5, 3, ALL, synth_scorer)
    c = generate_one(6, 3, ALL, synth_scorer)
    assert a.scene.model_dump_json() == b.scene.model_dump_json()
    assert a.family == c.family and a.scene.model_dump_json() != c.scene.model_dump_json()
    assert split_of(5, 3) == split_of(5, 3) and {split_of(5, i) for i in range(50)} == {"train", "test"}


@pytest.mark.parametrize("family", ALL)
def test_every_family(synth_scorer, family):
    for index in range(2):
        g = generate_one(21, index, (family,), synth_scorer)
        scene = g.scene
        assert g.family == family and scene.token == f"synth_{family}_21_{index:05d}"
        assert len(scene.reference) == 41 and len(scene.human_trajectory) == 8 and len(scene.ego_history) == 4
        # the history ends at the current pose and is consistent with the current speed
        last = scene.ego_history[-1]
        assert last[1:4] == pytest.approx([scene.ego.x, scene.ego.y, scene.ego.heading], abs=1e-3)
        step = np.hypot(*np.diff(np.asarray(scene.ego_history)[:, 1:3], axis=0).T)
        assert step == pytest.approx(0.5 * scene.ego.vx, abs=0.05)
        assert g.expert_pdms >= 0.85, (family, index, g.expert_pdms)
        if family in PERSISTENT_FAILURES:
            assert g.constant_velocity_pdms == 0.0, (family, index)


def test_reference_is_the_best_pdm_closed_proposal(synth_scorer):
    from elfrl.planning import pdm_closed
    from elfrl.synth.families import stopped_lead
    from elfrl.synth.generate import build_scene

    draft = stopped_lead(np.random.default_rng([1, 2]))
    scene = build_scene(draft, "t", synth_scorer)
    plan = pdm_closed.plan(scene, draft.layout.route, draft.layout.speed_limit, synth_scorer)
    assert plan.proposals.shape == (15, 41, 3)
    assert plan.scores.score[plan.best] == plan.scores.score.max()
    np.testing.assert_allclose(np.asarray(scene.reference)[1:], plan.poses[1:], atol=1e-4)
    # braking for the stopped car: the best proposal does not hit it
    assert plan.scores.metrics["nc"][plan.best] == 1.0


@pytest.mark.parametrize(
    "n, families, message",
    [
        (0, None, r"--n must be a positive number of scenes, got 0"),
        (-3, None, r"got -3"),
        (2, ["lane_follow", "flying_car"], r"unknown families \['flying_car'\]; choose from"),
    ],
)
def test_bad_requests(tmp_path, n, families, message):
    with pytest.raises(GenerationError, match=message):
        check_request(n, families, tmp_path / "out")


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(GenerationError, match=r"cannot create the output folder .*a_file/out"):
        check_request(2, None, blocker / "out")


def test_cli_generate(tmp_path, capsys):
    out = tmp_path / "synth"
    args = ["scenes", "generate", "--n", "4", "--seed", "3", "--out", str(out), "--no-images", "--workers", "1"]
    assert main(args + ["--families", "stopped_lead,curve"]) == 0
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [r["family"] for r in rows] == ["stopped_lead", "curve", "stopped_lead", "curve"]
    for row in rows:
        (scene,) = read_scenes(out / row["scene"])
        assert scene.token == row["token"] and row["split"] in ("train", "test")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["families"]["stopped_lead"]["constant_velocity_zero"] == 1.0
    assert set(summary["checks"]) and "expert PDMS" in capsys.readouterr().err


def test_cli_bad_family_is_a_clear_error(tmp_path, capsys):
    args = ["scenes", "generate", "--n", "2", "--out", str(tmp_path / "o"), "--families", "nope"]
    assert main(args) == 2
    assert "unknown families ['nope']" in capsys.readouterr().err
