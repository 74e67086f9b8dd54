"""Bad input gets a clear error; terrible but well-formed trajectories get a score."""

import numpy as np
import pytest

from elfrl.scoring import TrajectoryError


@pytest.mark.parametrize(
    "candidates, message",
    [
        (np.zeros((2, 7, 3)), r"shape \[G, 8, 3\].*got \[2, 7, 3\]"),
        (np.zeros((2, 8, 2)), r"shape \[G, 8, 3\].*got \[2, 8, 2\]"),
        (np.zeros((8, 3)), r"one trajectory \[8, 3\]; pass a batch"),
        (np.zeros((2, 2, 8, 3)), r"got \[2, 2, 8, 3\]"),
        ([[[0.0, 0.0, 0.0]] * 7 + [[1.0, float("nan"), 0.0]]], r"candidate 0 pose 7 has a non-finite y \(nan\)"),
        ([[[0.0, 0.0, float("inf")]] * 8] * 3, r"candidate 0 pose 0 has a non-finite heading.*3 candidate"),
    ],
)
def test_malformed_candidates_are_rejected(dev_scenes, scorer, candidates, message):
    with pytest.raises(TrajectoryError, match=message):
        scorer.score(dev_scenes[0], candidates)


def test_unknown_version_is_rejected(dev_scenes, scorer):
    with pytest.raises(ValueError, match=r"unknown scorer versions \['v3'\]"):
        scorer.score(dev_scenes[0], dev_scenes[0].candidates, versions=("v1", "v3"))


def _straight(speed: float, lateral: float = 0.0) -> np.ndarray:
    t = np.arange(1, 9) * 0.5
    return np.stack([speed * t, np.full(8, lateral), np.zeros(8)], axis=-1)


TERRIBLE = {
    "reversing": _straight(-4.0),
    "teleport 5 km away (untrackable)": _straight(0.0) + np.array([5000.0, 5000.0, 0.0]),
    "hard left off the road": np.stack([np.arange(1, 9) * 1.5, np.arange(1, 9) ** 2 * 0.6, np.full(8, 1.2)], -1),
    "spinning": np.stack([np.zeros(8), np.zeros(8), np.arange(1, 9) * 2.5], axis=-1),
    "absurd speed": _straight(200.0),
    "stationary": _straight(0.0),
}


@pytest.mark.parametrize("name", sorted(TERRIBLE))
def test_terrible_trajectories_get_scores(dev_scenes, scorer, name):
    for scene in dev_scenes[:10]:
        result = scorer.score(scene, TERRIBLE[name][None])
        for version in (result.pdms_v1, result.epdms_v2):
            for key, value in version.metrics.items():
                assert np.isfinite(value).all() and 0.0 <= value[0] <= 1.0, (scene.token, name, key)


def test_leaving_the_road_fails_drivable_area(dev_scenes, scorer):
    straight = [s for s in dev_scenes if s.meta["road"] == "straight"][:5]
    for scene in straight:
        result = scorer.score(scene, TERRIBLE["hard left off the road"][None])
        assert result.pdms_v1.metrics["dac"][0] == 0.0, scene.token
        assert result.pdms_v1.score[0] == 0.0
        assert result.pdms_v1.dac_step[0] > 0


def test_reversing_makes_no_progress(dev_scenes, scorer):
    scene = next(s for s in dev_scenes if s.ego.vx < 0.5 and not s.agents)
    result = scorer.score(scene, _straight(-3.0)[None])
    assert result.pdms_v1.progress_m[0] == 0.0


def test_requesting_one_version(dev_scenes, scorer):
    scene = dev_scenes[1]
    only_v1 = scorer.score(scene, scene.candidates, versions=("v1",))
    both = scorer.score(scene, scene.candidates)
    assert only_v1.epdms_v2 is None
    np.testing.assert_array_equal(only_v1.pdms_v1.score, both.pdms_v1.score)


def test_empty_batch(dev_scenes, scorer):
    result = scorer.score(dev_scenes[2], np.zeros((0, 8, 3)))
    assert result.pdms_v1.score.shape == (0,) and result.epdms_v2.score.shape == (0,)


def test_scene_cache_is_bounded(dev_scenes):
    from elfrl.scoring import PDMScorer

    small = PDMScorer(cache_size=3)
    for scene in dev_scenes[:5]:
        small.prepare(scene)
    assert [key[0] for key in small._cache] == [s.token for s in dev_scenes[2:5]]
    assert small.prepare(dev_scenes[4]) is small.prepare(dev_scenes[4])


def test_same_token_different_scene_is_not_confused(dev_scenes, scorer):
    a, b = dev_scenes[0], dev_scenes[1].model_copy(update={"token": dev_scenes[0].token})
    assert scorer.prepare(a) is not scorer.prepare(b)
    np.testing.assert_array_equal(scorer.score(b, b.candidates).pdms_v1.score, scorer.score(dev_scenes[1], b.candidates).pdms_v1.score)
