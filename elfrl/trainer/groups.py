"""Per-group logic of ELF-VLA Alg. 1 as pure functions: which rollouts get which feedback, which
refinements join the group (the failure statistics of a group are `elfrl.rewards.group_failures`).

A group is the G original rollouts of one scene plus N_ref slots. `select_refinements` fills the
slots: candidates whose PDMS beats the group's best original PDMS, N_ref of them picked at random;
slots left over hold copies of the best original (ELF-VLA §3.3: "the remaining slots are filled by
duplicating the original response that achieved this maximum reward").
"""

from __future__ import annotations

from typing import Literal, NamedTuple, Optional, Sequence

import numpy as np

FeedbackMode = Literal["none", "gt", "rule", "teacher"]
RefineScope = Literal["all", "failed"]


class SlotChoice(NamedTuple):
    source: Optional[int]  # index into the candidates, or None: a copy of the best original
    best_original: int  # index of the best original (what a filler copies)


def best_original(scores: np.ndarray) -> int:
    """Index of the highest-scoring original; the first one on ties."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or not len(scores):
        raise ValueError(f"need a 1-D array of at least one original score, got shape {scores.shape}")
    return int(np.argmax(scores))


def select_refinements(
    original: np.ndarray, candidates: np.ndarray, n_slots: int, rng: np.random.Generator
) -> list[SlotChoice]:
    """Fill `n_slots` slots from `candidates` whose score is strictly above max(`original`).

    original: [G] scores of the group's originals (the comparison value: PDMS by default).
    candidates: [M] scores of its refinements (or of the ground truth), NaN where there is none.
    Qualifying candidates are picked at random without replacement; missing slots are fillers.
    """
    best = best_original(original)
    cand = np.asarray(candidates, dtype=np.float64)
    better = np.flatnonzero(np.nan_to_num(cand, nan=-np.inf) > float(np.asarray(original)[best]))
    picked = rng.permutation(better)[:n_slots].tolist() if len(better) else []
    return [SlotChoice(int(i), best) for i in picked] + [SlotChoice(None, best)] * (n_slots - len(picked))


def refine_targets(pdms: np.ndarray, tau: float, scope: RefineScope) -> np.ndarray:
    """Indices of the originals that get a feedback input: all of them (the paper's Alg. 1) or the failing ones."""
    pdms = np.asarray(pdms, dtype=np.float64)
    if scope == "all":
        return np.arange(len(pdms))
    if scope == "failed":
        return np.flatnonzero(pdms < tau)
    raise ValueError(f"refine scope must be 'all' or 'failed', got {scope!r}")


def rule_feedback(pdms: float, tau: float) -> str:
    """Rule-only feedback for a wrong response (the `rule` mode): the score and nothing about why."""
    return (
        f"Your trajectory is unsafe or inefficient (PDMS {pdms:.2f} < {tau:.2f}). "
        "Plan a safer trajectory that stays on the road and keeps progressing."
    )


def format_feedback(reason: str) -> str:
    """Feedback for a response without 8 parsable poses: no teacher can diagnose a trajectory that is not there."""
    return (
        f"Your response could not be read as a trajectory ({reason}). Write the reasoning inside <think></think> "
        "and exactly 8 poses [x, y, heading] with 2 decimals inside <answer></answer>."
    )


def group_slices(rows: int, group_size: int) -> Sequence[range]:
    """The row ranges of consecutive groups (TRL's RepeatSampler repeats each prompt `group_size` times)."""
    if rows % group_size:
        raise ValueError(f"{rows} rows do not split into groups of {group_size}")
    return [range(s, s + group_size) for s in range(0, rows, group_size)]
