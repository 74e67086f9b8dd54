"""Parity with the official NAVSIM scorers on the golden fixtures (shared/fixtures/pdms/dev.json).

Every discrete sub-metric must be equal and EP / score within 1e-4 for >= 99.5% of candidates
in each version; any mismatch is listed with its scene token and sub-metric.
"""

import numpy as np
import pytest

from elfrl.scoring import V1_KEYS, V2_KEYS

TOLERANCE = {"ep": 1e-4, "score": 1e-4}  # every other sub-metric: exact
REQUIRED = 0.995


def _mismatches(scenes, scorer, version):
    keys, attr = (V1_KEYS, "pdms_v1") if version == "v1" else (V2_KEYS, "epdms_v2")
    bad, total = [], 0
    for scene in scenes:
        got = getattr(scorer.score(scene, scene.candidates), attr).metrics
        for i, expected in enumerate(getattr(scene.expected, attr)):
            total += 1
            wrong = [
                f"{k} {got[k][i]:.6f} != {getattr(expected, k):.6f}"
                for k in keys
                if abs(got[k][i] - getattr(expected, k)) > TOLERANCE.get(k, 0.0)
            ]
            if wrong:
                bad.append(f"{scene.token} candidate {i}: " + ", ".join(wrong))
    return bad, total


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_official_parity(dev_scenes, scorer, version):
    bad, total = _mismatches(dev_scenes, scorer, version)
    assert total == sum(len(s.candidates) for s in dev_scenes) > 0
    share = 1 - len(bad) / total
    report = f"{version}: {total - len(bad)}/{total} candidates match ({100 * share:.2f}%)"
    print(report, *bad, sep="\n  ")  # shown with `pytest -s` or -rP: every mismatch, token and sub-metric
    assert share >= REQUIRED, report + "\n" + "\n".join(bad)


def test_batch_equals_single_candidate_calls(dev_scenes, scorer):
    """The EP normaliser is per candidate: scoring G together gives each its solo value."""
    for scene in dev_scenes[::15]:
        together = scorer.score(scene, scene.candidates)
        for i, cand in enumerate(scene.candidates):
            alone = scorer.score(scene, [cand])
            for attr in ("pdms_v1", "epdms_v2"):
                a, b = getattr(together, attr).metrics, getattr(alone, attr).metrics
                for k in a:
                    assert a[k][i] == pytest.approx(b[k][0], abs=1e-12), (scene.token, i, attr, k)


def test_more_candidates_do_not_change_scores(dev_scenes, scorer):
    """64 candidates (8 copies, shuffled) score exactly as the 8 originals."""
    scene = dev_scenes[3]
    cands = np.asarray(scene.candidates)
    order = np.random.default_rng(0).permutation(64)
    big = np.tile(cands, (8, 1, 1))[order]
    got = scorer.score(scene, big).pdms_v1.score
    ref = scorer.score(scene, cands).pdms_v1.score
    np.testing.assert_allclose(got, ref[order % 8], atol=1e-12)


def test_diagnostics_point_at_the_failure(dev_scenes, scorer):
    """Where NC or TTC is 0, the scorer says when and against which agent."""
    seen_nc = seen_ttc = 0
    for scene in dev_scenes[:40]:
        v1 = scorer.score(scene, scene.candidates).pdms_v1
        ids = {a.id for a in scene.agents}
        for i in range(len(scene.candidates)):
            failed_nc = v1.metrics["nc"][i] < 1.0
            assert (v1.nc_step[i] >= 0) == failed_nc
            assert (v1.nc_agent[i] in ids) == failed_nc
            failed_ttc = v1.metrics["ttc"][i] == 0.0
            assert (v1.ttc_agent[i] is not None) == failed_ttc
            assert (v1.dac_step[i] >= 0) == (v1.metrics["dac"][i] == 0.0)
            assert (len(v1.comfort_failed[i]) > 0) == (v1.metrics["c"][i] == 0.0)
            seen_nc += failed_nc
            seen_ttc += failed_ttc
    assert seen_nc > 5 and seen_ttc > 5
