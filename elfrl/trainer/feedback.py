"""Feedback texts for the rollouts chosen for refinement (ELF-VLA §3.3, "feedback input").

A correct rollout (PDMS >= tau) gets the rule-based positive feedback; a wrong one gets, by mode,
the teacher's rendered report (`teacher`) or rule-only text that says the score and nothing about
why (`rule`). A rollout without 8 parsable poses gets format feedback in every mode: there is no
trajectory to diagnose. Teacher cases of a whole generation batch go out in one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional, Sequence

from elfrl.data.prompts import positive_feedback
from elfrl.feedback import build_case, render_feedback
from elfrl.feedback.analytic import SceneContext
from elfrl.scene.schema import Scene
from elfrl.trainer.groups import format_feedback, rule_feedback
from elfrl.trainer.scoring import ScoredRollouts
from elfrl.trainer.teacher import Teacher


class FeedbackItem(NamedTuple):
    scene: Scene
    context: SceneContext
    response: str  # the rollout's text, verbatim
    scored: ScoredRollouts  # its group's scores
    i: int  # its index in the group
    case_id: str


@dataclass
class FeedbackStats:
    teacher_calls: int = 0  # cases sent to the teacher
    fallbacks: int = 0  # of those, answered by the analytic stand-in


def feedback_texts(items: Sequence[FeedbackItem], mode: str, tau: float,
                   teacher: Optional[Teacher]) -> tuple[list[str], FeedbackStats]:
    if mode not in ("rule", "teacher"):
        raise ValueError(f"feedback texts exist for the 'rule' and 'teacher' modes, not {mode!r}")
    if mode == "teacher" and teacher is None:
        raise ValueError("the 'teacher' mode needs a teacher (elfrl.trainer.teacher.AnalyticTeacher or SyncTeacher)")
    stats = FeedbackStats()
    texts: list[Optional[str]] = [None] * len(items)
    cases, waiting = [], []
    for k, item in enumerate(items):
        s, i = item.scored, item.i
        if s.parsed[i].poses is None:
            texts[k] = format_feedback(s.parsed[i].detail or s.parsed[i].failure.value)
        elif s.pdms[i] >= tau:
            texts[k] = positive_feedback(float(s.pdms[i]), tau)
        elif mode == "rule":
            texts[k] = rule_feedback(float(s.pdms[i]), tau)
        else:
            cases.append(build_case(item.scene, item.response, s.poses[i], s.scores, int(s.index[i]), item.case_id,
                                    context=item.context))
            waiting.append(k)
    if cases:
        diagnoses = teacher.diagnose(cases)
        if len(diagnoses) != len(cases):
            raise RuntimeError(f"the teacher answered {len(diagnoses)} of {len(cases)} cases; every case needs a report")
        stats.teacher_calls += len(cases)
        for k, d in zip(waiting, diagnoses):
            texts[k] = render_feedback(d.report, float(items[k].scored.pdms[items[k].i]))
            stats.fallbacks += d.fallback
    return texts, stats
