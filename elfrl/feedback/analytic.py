"""The analytic teacher: failure cases from the scorer's internals, and reports from cases, with no model.

`build_case` runs where the scene is (the trainer, the offline case builder): it packs what the
scorer found (which metric failed, when, against which agent), the key objects of the student's
CoT checked against the scene, and the ground truth into a self-contained `FailureCase`.
`analytic_report` turns a case into a `DiagnosticReport`: it is the analytic backend of the teacher
service, the context rendered into the VLM teacher's prompt, and the fallback when a VLM fails.

Correction rules (documented in the README, "Teacher"):
- longitudinal: an at-fault collision or TTC violation with an agent ahead -> decelerate (stop when
  the ground truth ends below STOP_SPEED); otherwise compare the distance covered in 4 s with the
  ground truth's: more than the margin further -> decelerate, shorter -> accelerate, else maintain.
  The target speed is the ground truth's speed over its last 0.5 s.
- lateral: leaving the drivable area on one side -> move to the other side; otherwise the end
  point's lateral offset against the ground truth's (beyond LATERAL_MARGIN_M) decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import numpy as np

from elfrl.data.cot import CotFacts, ObjectFact, agent_positions, scene_cot
from elfrl.data.labels import MetaAction, ego_centerline, extended_path, gt_poses, scene_meta_action
from elfrl.data.prompts import base_input
from elfrl.feedback.report import (
    AgentState,
    Correction,
    DiagnosticReport,
    EfficiencyAnalysis,
    FailureCase,
    LateralCorrection,
    LongitudinalCorrection,
    MetaActionAnalysis,
    MetaActionPair,
    ObjectCheck,
    SafetyAnalysis,
    SafetyFailure,
    SubScores,
    ThinkAnalysis,
)
from elfrl.planning.paths import Path
from elfrl.scene.schema import Scene
from elfrl.scoring import VersionScores

STEP_S = 0.1  # scorer simulation step
STOP_SPEED = 0.5  # m/s: a ground truth ending slower than this is a stop
LATERAL_MARGIN_M = 0.5
DISTANCE_MARGIN_M = 2.0
DISTANCE_MARGIN_SHARE = 0.1
AHEAD_TOLERANCE_M = 2.0  # a CoT object position within these of the truth is correct
LATERAL_TOLERANCE_M = 1.0

_OBJECT = re.compile(
    r"(?P<role>CIPO-1|CIPO-2): (?:none|(?P<type>[a-z_ ]+?) (?P<ahead>\d+(?:\.\d+)?) m (?P<dir>ahead|behind), "
    r"(?P<lateral>\d+(?:\.\d+)?) m (?P<side>left|right))"
)


# --- cases (where the scene is) -------------------------------------------------------------


@dataclass(frozen=True)
class SceneContext:
    """What every case of one scene shares: the ground truth, its CoT facts (key objects, correct meta
    action), where each agent is now, and the route. Build it once per scene for many cases."""

    gt: np.ndarray
    facts: CotFacts
    positions: dict[str, tuple[str, float, float]]
    route: Path

    @classmethod
    def of(cls, scene: Scene) -> "SceneContext":
        _, facts = scene_cot(scene)
        return cls(gt_poses(scene), facts, agent_positions(scene), extended_path(ego_centerline(scene)))


def build_case(scene: Scene, response: str, poses, scores: VersionScores, i: int, case_id: str,
               image: Optional[str] = None, context: Optional[SceneContext] = None) -> FailureCase:
    """The failure case of candidate i of `scores` (PDMS v1.1 of the scene's candidates); pass the
    scene's `context` when building several cases of one scene."""
    ctx = context or SceneContext.of(scene)
    poses = np.asarray(poses, dtype=np.float64)
    named = {a for a in (scores.nc_agent[i], scores.ttc_agent[i]) if a is not None and a in ctx.positions}
    m = {k: float(v[i]) for k, v in scores.metrics.items()}
    step_time = lambda step: round(float(step) * STEP_S, 2) if step >= 0 else None  # noqa: E731
    return FailureCase(
        case_id=case_id,
        token=scene.token,
        image=image,
        base_input=base_input(scene),
        response=response,
        poses=[tuple(p) for p in np.round(poses, 2).tolist()],
        gt_poses=[tuple(p) for p in np.round(ctx.gt, 2).tolist()],
        scores=SubScores(
            score=m["score"], nc=m["nc"], dac=m["dac"], ddc=m["ddc"], ttc=m["ttc"], ep=m["ep"], comfort=m["c"],
            progress_m=round(float(scores.progress_m[i]), 2), normaliser_m=round(float(scores.normaliser_m[i]), 2),
            nc_time_s=step_time(scores.nc_step[i]), nc_agent=scores.nc_agent[i],
            ttc_time_s=step_time(scores.ttc_step[i]), ttc_agent=scores.ttc_agent[i],
            dac_time_s=step_time(scores.dac_step[i]), ddc_m=round(float(scores.ddc_m[i]), 2),
            comfort_failed=list(scores.comfort_failed[i]),
        ),
        correct_meta=_pair(ctx.facts.meta),
        predicted_meta=_pair(scene_meta_action(scene, poses)),
        objects=check_objects(response, [("cipo1", ctx.facts.cipo1), ("cipo2", ctx.facts.cipo2)]),
        agents=[AgentState(id=a, type=ctx.positions[a][0], ahead_m=round(ctx.positions[a][1], 2),
                           lateral_m=round(ctx.positions[a][2], 2)) for a in sorted(named)],
        road_side=_road_side(ctx.route, poses, scores.dac_step[i]) if m["dac"] == 0.0 else None,
    )


def _pair(meta: MetaAction) -> MetaActionPair:
    return MetaActionPair(speed=meta.speed.action, path=meta.path.action)


def check_objects(response: str, truths: list[tuple[str, Optional[ObjectFact]]]) -> list[ObjectCheck]:
    """The CIPO-1 / CIPO-2 the response's CoT names against the scene's."""
    said = {}
    for match in _OBJECT.finditer(response):
        role = "cipo1" if match["role"] == "CIPO-1" else "cipo2"
        if match["type"] is None:
            said.setdefault(role, None)
            continue
        ahead = float(match["ahead"]) * (1 if match["dir"] == "ahead" else -1)
        lateral = float(match["lateral"]) * (1 if match["side"] == "left" else -1)
        said.setdefault(role, (match["type"], ahead, lateral))
    checks = []
    for role, truth in truths:
        guess = said.get(role)
        if truth is None and guess is None:
            continue
        if truth is None:
            checks.append(ObjectCheck(role=role, type=guess[0], issue="spurious", predicted_ahead_m=guess[1],
                                      predicted_lateral_m=guess[2]))
            continue
        true = dict(type=truth.type, true_ahead_m=round(truth.ahead, 2), true_lateral_m=round(truth.lateral, 2))
        if guess is None:
            checks.append(ObjectCheck(role=role, issue="missing", **true))
            continue
        close = abs(guess[1] - truth.ahead) <= AHEAD_TOLERANCE_M and abs(guess[2] - truth.lateral) <= LATERAL_TOLERANCE_M
        checks.append(ObjectCheck(role=role, issue="correct" if close else "wrong_position",
                                  predicted_ahead_m=guess[1], predicted_lateral_m=guess[2], **true))
    return checks


def _road_side(route: Path, poses: np.ndarray, dac_step: int) -> str:
    """The side of the route the trajectory is on when it first leaves the drivable area."""
    t = max(float(dac_step), 5.0) * STEP_S  # the first pose is at 0.5 s
    times = np.arange(1, 9) * 0.5
    point = np.array([[np.interp(t, times, poses[:, 0]), np.interp(t, times, poses[:, 1])]])
    (_, d_point), (_, d_ego) = route.project(point), route.project(np.zeros((1, 2)))
    return "left" if d_point[0] - d_ego[0] >= 0 else "right"


# --- reports (from the case alone) ------------------------------------------------------------


def analytic_report(case: FailureCase) -> DiagnosticReport:
    """The five-part report derived from the case's scores, objects and ground truth."""
    s = case.scores
    agents = {a.id: a for a in case.agents}
    failures = []
    if s.nc < 1.0:
        failures.append(_agent_failure("nc", s.nc_time_s, s.nc_agent, agents))
    if s.dac == 0.0:
        failures.append(SafetyFailure(metric="dac", time_s=s.dac_time_s, side=case.road_side))
    if s.ddc < 1.0:
        failures.append(SafetyFailure(metric="ddc"))
    if s.ttc == 0.0:
        failures.append(_agent_failure("ttc", s.ttc_time_s, s.ttc_agent, agents))
    correction = Correction(lateral=_lateral(case, failures), longitudinal=_longitudinal(case, failures))
    return DiagnosticReport(
        meta_action=MetaActionAnalysis(predicted=case.predicted_meta, correct=case.correct_meta),
        think=ThinkAnalysis(objects=case.objects),
        safety=SafetyAnalysis(failures=failures),
        efficiency=EfficiencyAnalysis(
            ego_progress=s.ep, progress_m=round(s.progress_m, 2), target_progress_m=round(s.normaliser_m, 2),
            comfort_failed=s.comfort_failed,
        ),
        correction=correction,
        summary=_summary(failures, correction, s),
    )


def _agent_failure(metric: str, time_s, agent_id, agents: dict) -> SafetyFailure:
    agent = agents.get(agent_id)
    return SafetyFailure(
        metric=metric, time_s=time_s, agent_id=agent_id,
        agent_ahead_m=None if agent is None else round(agent.ahead_m, 2),
        agent_lateral_m=None if agent is None else round(agent.lateral_m, 2),
    )


def _distance(poses) -> float:
    xy = np.vstack([[0.0, 0.0], np.asarray(poses)[:, :2]])
    return float(np.linalg.norm(np.diff(xy, axis=0), axis=1).sum())


def _longitudinal(case: FailureCase, failures: list[SafetyFailure]) -> LongitudinalCorrection:
    gt, poses = np.asarray(case.gt_poses), np.asarray(case.poses)
    target, current = _distance(gt), _distance(poses)
    speed = float(np.linalg.norm(gt[-1, :2] - gt[-2, :2]) / 0.5)
    slow = "stop" if speed < STOP_SPEED else "decelerate"
    margin = max(DISTANCE_MARGIN_M, DISTANCE_MARGIN_SHARE * target)
    hit_ahead = any(f.metric in ("nc", "ttc") and (f.agent_ahead_m is None or f.agent_ahead_m > 0) for f in failures)
    if hit_ahead or current > target + margin:
        action = slow
    elif current < target - margin:
        action = "accelerate"
    else:
        action = "maintain"
    return LongitudinalCorrection(action=action, target_speed_mps=round(speed, 2), target_distance_m=round(target, 2),
                                  current_distance_m=round(current, 2))


def _lateral(case: FailureCase, failures: list[SafetyFailure]) -> LateralCorrection:
    target, current = case.gt_poses[-1][1], case.poses[-1][1]
    off_road = next((f.side for f in failures if f.metric == "dac" and f.side), None)
    if off_road is not None:
        action = "move right" if off_road == "left" else "move left"
    elif target - current > LATERAL_MARGIN_M:
        action = "move left"
    elif current - target > LATERAL_MARGIN_M:
        action = "move right"
    else:
        action = "keep"
    return LateralCorrection(action=action, target_offset_m=round(target, 2), current_offset_m=round(current, 2))


def _summary(failures: list[SafetyFailure], correction: Correction, s: SubScores) -> str:
    names = {"nc": "a collision", "dac": "leaving the road", "ddc": "driving against traffic",
             "ttc": "a too-short time to collision", "tlc": "a red light"}
    if failures:
        problem = "The main problem is " + " and ".join(names[f.metric] for f in failures[:2]) + "."
    elif s.ep < 0.8:
        problem = "The trajectory is safe but makes too little progress."
    else:
        problem = "The trajectory is safe but uncomfortable." if s.comfort_failed else "The trajectory can be improved."
    lon, lat = correction.longitudinal, correction.lateral
    return f"{problem} {lon.action.capitalize()} and {lat.action if lat.action != 'keep' else 'keep the lateral position'}."
