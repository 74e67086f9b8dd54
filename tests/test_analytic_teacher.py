"""The analytic teacher: cases from the scorer's internals, reports whose corrections point the right way."""

import numpy as np
import pytest
from pydantic import ValidationError

from elfrl.data.cot import scene_cot
from elfrl.data.labels import gt_poses
from elfrl.data.output import format_output
from elfrl.feedback import DiagnosticReport, FailureCase, analytic_report, build_case, render_feedback
from elfrl.scene import read_scenes
from elfrl.scoring import PDMScorer


def _case(scene, poses, scorer, i=0):
    scores = scorer.score(scene, np.asarray(poses)[None], ("v1",)).pdms_v1
    return build_case(scene, format_output(scene_cot(scene, poses)[0], poses), poses, scores, i, "c0")


@pytest.fixture(scope="module")
def stopped_lead(generated):
    (scene,) = read_scenes(next((generated / "scenes").glob("*stopped_lead*.json")))
    return scene


def test_collision_ahead_says_slow_down(stopped_lead):
    gt = gt_poses(stopped_lead)
    crash = np.zeros_like(gt)
    crash[:, 0] = stopped_lead.ego.vx * np.arange(1, 9) * 0.5  # constant velocity into the stopped car
    case = _case(stopped_lead, crash, PDMScorer())
    report = analytic_report(case)
    nc = next(f for f in report.safety.failures if f.metric == "nc")
    assert nc.agent_id == case.scores.nc_agent and nc.agent_ahead_m > 0 and nc.time_s > 0
    assert report.correction.longitudinal.action in ("decelerate", "stop")
    assert report.correction.longitudinal.current_distance_m > report.correction.longitudinal.target_distance_m
    text = render_feedback(report, case.scores.score)
    assert "at-fault collision with" in text and "Correction: " in text


def test_off_road_left_says_move_right(stopped_lead):
    gt = gt_poses(stopped_lead)
    drift = gt + np.arange(1, 9)[:, None] / 8 * [0.0, 8.0, 0.0]  # 8 m to the left by 4 s
    report = analytic_report(_case(stopped_lead, drift, PDMScorer()))
    dac = next(f for f in report.safety.failures if f.metric == "dac")
    assert dac.side == "left" and report.correction.lateral.action == "move right"


def test_wrong_cot_objects_are_named(stopped_lead):
    scorer = PDMScorer()
    gt = gt_poses(stopped_lead)
    _, facts = scene_cot(stopped_lead)
    lie = format_output("CIPO-1: none. CIPO-2: none.", gt)
    scores = scorer.score(stopped_lead, gt[None], ("v1",)).pdms_v1
    case = build_case(stopped_lead, lie, gt, scores, 0, "c1")
    (check,) = case.objects
    assert check.role == "cipo1" and check.issue == "missing"
    assert check.true_ahead_m == pytest.approx(facts.cipo1.ahead, abs=0.01)
    far = format_output(f"CIPO-1: vehicle {facts.cipo1.ahead + 10:.1f} m ahead, 0.0 m left, same direction.", gt)
    assert build_case(stopped_lead, far, gt, scores, 0, "c2").objects[0].issue == "wrong_position"


def test_report_schema_round_trips_and_rejects_junk(stopped_lead):
    case = _case(stopped_lead, gt_poses(stopped_lead) * [1.4, 1, 1], PDMScorer())
    report = analytic_report(case)
    assert DiagnosticReport.model_validate_json(report.model_dump_json()) == report
    assert FailureCase.model_validate_json(case.model_dump_json()) == case
    schema = DiagnosticReport.model_json_schema()
    assert set(schema["required"]) == {"meta_action", "think", "safety", "efficiency", "correction", "summary"}
    bad = report.model_dump()
    bad["correction"]["longitudinal"]["action"] = "fly"
    with pytest.raises(ValidationError):
        DiagnosticReport.model_validate(bad)
    # the cache key ignores the case id but not the content
    assert case.model_copy(update={"case_id": "other"}).content_key() == case.content_key()
    assert case.model_copy(update={"response": "x"}).content_key() != case.content_key()


def test_a_shared_scene_context_gives_the_same_case(stopped_lead):
    from elfrl.feedback.analytic import SceneContext

    scorer = PDMScorer()
    gt = gt_poses(stopped_lead)
    cands = np.stack([gt * [1.5, 1, 1], gt + np.arange(1, 9)[:, None] / 8 * [0.0, 6.0, 0.0]])
    scores = scorer.score(stopped_lead, cands, ("v1",)).pdms_v1
    context = SceneContext.of(stopped_lead)
    for i, poses in enumerate(cands):
        text = format_output(scene_cot(stopped_lead, poses)[0], poses)
        alone = build_case(stopped_lead, text, poses, scores, i, f"c{i}")
        assert build_case(stopped_lead, text, poses, scores, i, f"c{i}", context=context) == alone
