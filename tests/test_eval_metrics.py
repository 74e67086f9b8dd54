"""Evaluation metrics on hand-made cases: the ST-P3 / UniAD horizon conventions, L2, box collisions with the
ground-truth mask, planning accuracy, total failure, and how unparsable answers count."""

import math

import numpy as np
import pytest

from elfrl.data.labels import ego_pose, gt_poses
from elfrl.evaluation.metrics import aggregate, planning_accuracy, total_failure
from elfrl.evaluation.openloop import SceneCollisions, at_horizons, collisions_per_step, l2_per_step
from elfrl.evaluation.records import SampleRecord, SceneRecord
from elfrl.evaluation.score import stated_meta_action
from elfrl.scene import read_manifest, read_scenes
from elfrl.scene.frames import to_ego_frame
from elfrl.scene.schema import EPDMSv2Record, PDMSv1Record


def test_horizon_conventions_on_a_ramp():
    per_step = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])  # values at 0.5, 1.0, ..., 3.0 s
    # ST-P3: mean over the steps up to T s
    assert at_horizons(per_step, "stp3") == {"1s": 1.5, "2s": 2.5, "3s": 3.5, "avg": 2.5}
    # UniAD: the value at T s
    assert at_horizons(per_step, "uniad") == {"1s": 2.0, "2s": 4.0, "3s": 6.0, "avg": 4.0}


def test_horizons_average_samples_first_and_skip_unparsable_rows():
    per_step = np.array([[0.0] * 6, [2.0] * 6, [np.nan] * 6])
    assert at_horizons(per_step, "uniad")["3s"] == 1.0
    assert at_horizons(per_step, "stp3")["avg"] == 1.0
    assert math.isnan(at_horizons(np.full((2, 6), np.nan), "stp3")["1s"])
    with pytest.raises(ValueError, match="per-step"):
        at_horizons(np.zeros((1, 8)), "stp3")
    with pytest.raises(ValueError, match="convention"):
        at_horizons(np.zeros((1, 6)), "vad")


def test_l2_per_step_uses_the_first_three_seconds():
    gt = np.stack([np.arange(1, 9) * 2.0, np.zeros(8), np.zeros(8)], axis=1)
    pred = gt + [3.0, 4.0, 0.0]  # 5 m off everywhere
    pred[6:] += 100.0  # 3.5 and 4.0 s are outside the nuScenes horizon
    np.testing.assert_allclose(l2_per_step(pred, gt), [5.0] * 6)


def _stopped_lead(generated):
    row = next(r for r in read_manifest(generated) if r["family"] == "stopped_lead")
    return read_scenes(generated / row["scene"])[0]


def _onto_agent(scene):
    """Poses that put the rear axle on the stopped lead's centre at every step (ego frame)."""
    lead = max(scene.agents, key=lambda a: len(a.steps))
    centre = np.array(lead.steps[0][1:3])[None]
    xy = to_ego_frame(ego_pose(scene), centre)[0]
    return np.tile([xy[0], xy[1], 0.0], (8, 1))


def test_collisions_against_agent_boxes_with_the_ground_truth_masked(generated):
    scene = _stopped_lead(generated)
    onto = _onto_agent(scene)
    assert collisions_per_step(scene, onto).all()  # overlapping the stopped car at every step
    assert not collisions_per_step(scene, np.zeros((8, 3))).any()  # standing still, 30 m behind it
    check = SceneCollisions(scene)
    assert not check.gt.any()  # the expert brakes in time
    assert check(onto).tolist() == [True] * 6
    # where the ground truth itself collides, the step is not the planner's fault and is not counted
    gt_hits = gt_poses(scene).copy()
    gt_hits[:3] = onto[:3]
    masked = SceneCollisions(scene.model_copy(update={"human_trajectory": gt_hits.tolist()}))
    assert masked.gt.tolist() == [True, True, True, False, False, False]
    assert masked(onto).tolist() == [False, False, False, True, True, True]


@pytest.mark.parametrize("think, expected", [
    ("CIPO-1: none. Meta action: decelerate, keep lane.", ("decelerate", "keep lane")),
    ("Meta action: Stop, turn left", ("stop", "turn left")),
    ("Meta action: brake hard, keep lane.", None),  # not a label
    ("no meta action here", None),
    (None, None),
])
def test_stated_meta_action(think, expected):
    assert stated_meta_action(think) == expected


def _sample(pdms=None, stated=None, implied=None, dac=1.0, nc=1.0, l2=None, collision=None):
    if pdms is None:  # unparsable
        return SampleRecord(text="x", failure="unparsable", poses=None, pdms=None, epdms=None, stated=stated,
                            implied=None, l2=None, collision=None)
    v1 = PDMSv1Record(nc=nc, dac=dac, ddc=1.0, ttc=1.0, c=1.0, ep=1.0, score=pdms)
    v2 = EPDMSv2Record(nc=nc, dac=dac, ddc=1.0, tlc=1.0, ep=1.0, ttc=1.0, lk=1.0, hc=1.0, score=pdms)
    return SampleRecord(text="x", failure=None, poses=[[0.0, 0.0, 0.0]] * 8, pdms=v1, epdms=v2, stated=stated,
                        implied=implied, l2=l2 or [0.0] * 6, collision=collision or [False] * 6)


def _scene(token, gt, samples, family="f"):
    return SceneRecord(token=token, family=family, gt=gt, gt_collision=[False] * 6, samples=samples)


def test_planning_accuracy_is_exact_match_per_field():
    records = [
        _scene("a", ("stop", "keep lane"), [_sample(0.9, ("stop", "keep lane"))]),  # both right
        _scene("b", ("stop", "keep lane"), [_sample(0.9, ("decelerate", "keep lane"))]),  # path right
        _scene("c", ("maintain", "turn left"), [_sample(0.9, ("maintain", "turn right"))]),  # speed right
        _scene("d", ("maintain", "keep lane"), [_sample(None, ("maintain", "keep lane"))]),  # unparsable: still stated
        _scene("e", ("maintain", "keep lane"), [_sample(0.9, None)]),  # no meta action: wrong
    ]
    assert planning_accuracy(records) == {"speed": 3 / 5, "path": 3 / 5, "overall": 2 / 5}


def test_total_failure_counts_scenes_where_every_sample_fails():
    pdms = np.array([[0.9, 0.1], [0.1, 0.79], [0.0, 0.0]])
    dac = np.array([[1.0, 0.0], [0.0, np.nan], [np.nan, np.nan]])  # NaN: unparsable, which fails
    nc = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 0.0]])
    assert total_failure(pdms, dac, nc, tau=0.8) == {"pdms": 2 / 3, "dac": 2 / 3, "nc": 1 / 3}


def test_aggregate_counts_unparsable_as_zero_pdms_but_not_in_sub_metrics():
    records = [
        _scene("a", ("stop", "keep lane"), [_sample(0.8, dac=1.0, l2=[1.0] * 6), _sample(None)]),
        _scene("b", ("stop", "keep lane"), [_sample(0.4, dac=0.0, l2=[3.0] * 6, collision=[False] * 5 + [True]),
                                            _sample(0.6, dac=1.0, l2=[2.0] * 6)], family="g"),
    ]
    m = aggregate(records, tau=0.7)
    assert m["pdms"] == pytest.approx((0.8 + 0 + 0.4 + 0.6) / 4)
    assert m["pdms_parsable"] == pytest.approx(0.6)
    assert m["sub_metrics"]["pdms_v1"]["dac"] == pytest.approx(2 / 3)
    assert m["parsable"] == 0.75 and m["format_validity"] == 0.75
    assert m["l2"]["uniad"]["3s"] == pytest.approx(2.0)
    assert m["collision_rate"]["uniad"] == {"1s": 0.0, "2s": 0.0, "3s": pytest.approx(1 / 3), "avg": pytest.approx(1 / 9)}
    assert m["collision_rate"]["stp3"]["3s"] == pytest.approx(1 / 18)
    assert m["total_failure"] == {"pdms": 0.5, "dac": 0.0, "nc": 0.0}  # scene a: 0.8 >= tau
    assert m["by_family"] == {"f": {"scenes": 1, "pdms": 0.4}, "g": {"scenes": 1, "pdms": 0.5}}
    assert "total_failure" not in aggregate([_scene("a", ("stop", "keep lane"), [_sample(0.1)])])
    with pytest.raises(ValueError, match="same number"):
        aggregate([records[0], _scene("c", ("stop", "keep lane"), [_sample(0.1)])])
