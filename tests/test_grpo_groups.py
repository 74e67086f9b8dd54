"""Group logic of ELF-VLA Alg. 1 (elfrl.trainer.groups, elfrl.trainer.feedback) on hand-made groups."""

import numpy as np
import pytest

from elfrl.rewards import group_failures
from elfrl.trainer.groups import SlotChoice, group_slices, refine_targets, select_refinements


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize(
    "original, candidates, slots, expected_sources",
    [
        ([0.0, 0.0, 0.0], [0.9], 1, [0]),  # an all-failing group: the refinement beats 0
        ([0.0, 0.5, 0.2], [0.5, np.nan], 1, [None]),  # equal is not better; a missing refinement is not a candidate
        ([0.0, 0.5, 0.2], [0.4, 0.45], 2, [None, None]),  # nothing better: both slots copy the best original
        ([0.3, 0.1], [0.9], 3, [0, None, None]),  # one qualifying refinement, two fillers
        ([0.3, 0.1], [], 1, [None]),  # no candidates at all (scope `failed` with no failures)
    ],
)
def test_select_refinements_table(original, candidates, slots, expected_sources):
    choices = select_refinements(np.array(original), np.array(candidates), slots, rng())
    assert [c.source for c in choices] == expected_sources
    assert all(c.best_original == int(np.argmax(original)) for c in choices)


def test_select_refinements_picks_at_random_without_replacement():
    original, candidates = np.array([0.2, 0.1]), np.array([0.9, 0.1, 0.8, 0.95, 0.15])
    seen = set()
    for seed in range(40):
        choices = select_refinements(original, candidates, 2, rng(seed))
        sources = [c.source for c in choices]
        assert len(set(sources)) == 2 and set(sources) <= {0, 2, 3}
        seen.update(sources)
    assert seen == {0, 2, 3}  # every qualifying candidate gets picked sometimes, never a worse one
    again = [select_refinements(original, candidates, 2, rng(7)) for _ in range(2)]
    assert again[0] == again[1]  # the same seed, the same pick


def test_filler_copies_the_first_best_original_on_ties():
    assert select_refinements(np.array([0.1, 0.7, 0.7]), np.array([0.2]), 1, rng()) == [SlotChoice(None, 1)]


def test_refine_targets():
    pdms = np.array([0.9, 0.1, 0.8, 0.0])
    assert refine_targets(pdms, 0.8, "all").tolist() == [0, 1, 2, 3]
    assert refine_targets(pdms, 0.8, "failed").tolist() == [1, 3]  # 0.8 is correct: PDMS >= tau
    with pytest.raises(ValueError, match="scope"):
        refine_targets(pdms, 0.8, "some")


def test_group_failures_counts_unparsable_rollouts_as_failing():
    nan = np.nan
    f = group_failures(np.array([0.0, 0.0]), np.array([0.0, nan]), np.array([1.0, nan]), 0.8)
    assert f.all_fail_pdms and f.all_fail_dac and not f.all_fail_nc
    f = group_failures(np.array([0.0, 0.85]), np.array([1.0, 1.0]), np.array([0.0, 0.0]), 0.8)
    assert not f.all_fail_pdms and not f.all_fail_dac and f.all_fail_nc


def test_group_slices():
    assert [list(r) for r in group_slices(6, 3)] == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="groups of 4"):
        group_slices(6, 4)
