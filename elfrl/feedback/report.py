"""The teacher's diagnostic report and the failure case it diagnoses (ELF-VLA §3.3; DESIGN "Diagnostic report").

One pydantic model serves the wire (`teachers/server.py`), the content-addressed cache, the JSON
schema given to a VLM for guided decoding (`DiagnosticReport.model_json_schema()`), and the
feedback text the student reads (`render_feedback`). Numbers are typed numbers, not prose.

Sections, as in the paper: (1) meta-action analysis, (2) think-process analysis, (3) safety
failure analysis, (4) efficiency failure analysis, (5) actionable correction with a lateral part
(action, target offset) and a longitudinal part (action, target speed).
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from elfrl.data.labels import PathAction, SpeedAction
from elfrl.data.prompts import BaseInput

SafetyMetric = Literal["nc", "dac", "ddc", "ttc", "tlc"]
ObjectRole = Literal["cipo1", "cipo2", "interaction"]
ObjectIssue = Literal["correct", "missing", "wrong_position", "spurious"]
LateralAction = Literal["keep", "move left", "move right"]
Coordinate = Annotated[float, Field(ge=-1e4, le=1e4)]  # metres or radians; finite and bounded
Pose = tuple[Coordinate, Coordinate, Coordinate]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# --- the report ----------------------------------------------------------------------------


class MetaActionPair(_Model):
    speed: SpeedAction
    path: PathAction


class MetaActionAnalysis(_Model):
    predicted: MetaActionPair = Field(description="the meta action the wrong trajectory performs")
    correct: MetaActionPair = Field(description="the meta action of the ground truth")


class ObjectCheck(_Model):
    role: ObjectRole
    type: str = Field(description="vehicle, pedestrian, bicycle, ...")
    issue: ObjectIssue
    predicted_ahead_m: Optional[float] = Field(None, description="what the student's CoT said (None: not named)")
    predicted_lateral_m: Optional[float] = Field(None, description="left +")
    true_ahead_m: Optional[float] = Field(None, description="the scene's value (None: there is no such object)")
    true_lateral_m: Optional[float] = Field(None, description="left +")


class ThinkAnalysis(_Model):
    objects: list[ObjectCheck] = Field(description="the key objects of the CoT checked against the scene")


class SafetyFailure(_Model):
    metric: SafetyMetric
    time_s: Optional[float] = Field(None, description="when it first happens, seconds from now")
    agent_id: Optional[str] = Field(None, description="the agent involved, for nc and ttc")
    agent_ahead_m: Optional[float] = Field(None, description="where that agent is now, along the route")
    agent_lateral_m: Optional[float] = Field(None, description="left +")
    side: Optional[Literal["left", "right"]] = Field(None, description="dac: the side the ego leaves the road on")


class SafetyAnalysis(_Model):
    failures: list[SafetyFailure] = Field(description="empty when the trajectory is safe")


class EfficiencyAnalysis(_Model):
    ego_progress: float = Field(ge=0, le=1, description="EP sub-score")
    progress_m: float = Field(description="metres of progress along the route")
    target_progress_m: float = Field(description="the EP normaliser: the progress a good plan makes")
    comfort_failed: list[str] = Field(description="failed comfort checks; empty when comfortable")


class LateralCorrection(_Model):
    action: LateralAction
    target_offset_m: float = Field(description="where to be at 4 s across the ego frame, left +")
    current_offset_m: float = Field(description="where the wrong trajectory is at 4 s, left +")


class LongitudinalCorrection(_Model):
    action: SpeedAction
    target_speed_mps: float = Field(ge=0, description="speed to reach by 4 s")
    target_distance_m: float = Field(description="distance to cover in 4 s")
    current_distance_m: float = Field(description="distance the wrong trajectory covers in 4 s")


class Correction(_Model):
    lateral: LateralCorrection
    longitudinal: LongitudinalCorrection


class DiagnosticReport(_Model):
    """The teacher's five-part report on one wrong response."""

    meta_action: MetaActionAnalysis
    think: ThinkAnalysis
    safety: SafetyAnalysis
    efficiency: EfficiencyAnalysis
    correction: Correction
    summary: str = Field(max_length=600, description="one or two sentences for the student")


def render_feedback(report: DiagnosticReport, pdms: float) -> str:
    """The feedback text the student reads in its feedback input (one paragraph per section)."""
    m = report.meta_action
    lines = [
        f"Your trajectory scores PDMS {pdms:.2f}. {report.summary}".strip(),
        f"Meta action: yours {m.predicted.speed}, {m.predicted.path}; correct {m.correct.speed}, {m.correct.path}.",
    ]
    wrong = [o for o in report.think.objects if o.issue != "correct"]
    if wrong:
        lines.append("Key objects: " + "; ".join(_object_text(o) for o in wrong) + ".")
    if report.safety.failures:
        lines.append("Safety: " + "; ".join(_failure_text(f) for f in report.safety.failures) + ".")
    e = report.efficiency
    efficiency = f"Efficiency: progress {e.progress_m:.1f} m of {e.target_progress_m:.1f} m"
    lines.append(efficiency + (f"; uncomfortable ({', '.join(e.comfort_failed)})." if e.comfort_failed else "."))
    lat, lon = report.correction.lateral, report.correction.longitudinal
    lines.append(
        f"Correction: {lon.action} to {lon.target_speed_mps:.1f} m/s, covering {lon.target_distance_m:.1f} m in 4 s "
        f"(yours {lon.current_distance_m:.1f} m); {lat.action}, ending {_side(lat.target_offset_m)} at 4 s "
        f"(yours {_side(lat.current_offset_m)})."
    )
    return "\n".join(lines)


def _side(offset: float) -> str:
    offset = round(offset, 1) + 0.0
    return f"{abs(offset):.1f} m {'left' if offset >= 0 else 'right'}"


def _object_text(o: ObjectCheck) -> str:
    name = {"cipo1": "CIPO-1", "cipo2": "CIPO-2", "interaction": "interaction"}[o.role]
    if o.issue == "missing":
        return f"{name} {o.type} missed, it is {o.true_ahead_m:.1f} m ahead, {_side(o.true_lateral_m)}"
    if o.issue == "spurious":
        return f"{name} {o.type} does not exist"
    return (
        f"{name} {o.type} is {o.true_ahead_m:.1f} m ahead, {_side(o.true_lateral_m)} "
        f"(you said {o.predicted_ahead_m:.1f} m, {_side(o.predicted_lateral_m)})"
    )


def _failure_text(f: SafetyFailure) -> str:
    what = {
        "nc": "at-fault collision", "dac": "leaves the drivable area", "ddc": "drives against traffic",
        "ttc": "time to collision too short", "tlc": "runs a red light",
    }[f.metric]
    parts = [what]
    if f.agent_id:
        where = f" ({f.agent_ahead_m:.1f} m ahead)" if f.agent_ahead_m is not None else ""
        parts.append(f"with {f.agent_id}{where}")
    if f.side:
        parts.append(f"to the {f.side}")
    if f.time_s is not None:
        parts.append(f"at {f.time_s:.1f} s")
    return " ".join(parts)


# --- the case ------------------------------------------------------------------------------


class SubScores(_Model):
    """PDMS v1.1 sub-scores of the wrong response and what decided them (elfrl.scoring.VersionScores)."""

    score: float = Field(ge=0, le=1)
    nc: float = Field(ge=0, le=1)
    dac: float = Field(ge=0, le=1)
    ddc: float = Field(ge=0, le=1)
    ttc: float = Field(ge=0, le=1)
    ep: float = Field(ge=0, le=1)
    comfort: float = Field(ge=0, le=1)
    progress_m: float
    normaliser_m: float
    nc_time_s: Optional[float] = None
    nc_agent: Optional[str] = None
    ttc_time_s: Optional[float] = None
    ttc_agent: Optional[str] = None
    dac_time_s: Optional[float] = None
    ddc_m: float = 0.0
    comfort_failed: list[str] = []


class AgentState(_Model):
    """An agent the scorer named, where it is now in route coordinates."""

    id: str
    type: str
    ahead_m: float
    lateral_m: float


class FailureCase(_Model):
    """Everything a teacher needs about one wrong response; self-contained (no scene files)."""

    case_id: str = Field(min_length=1, max_length=200, description="unique within a request")
    token: str = Field(min_length=1, max_length=200, description="scene token")
    image: Optional[str] = Field(
        None, max_length=4_000_000, description="front camera: a data: URL (base64 PNG/JPEG) or an http(s) URL"
    )
    base_input: BaseInput
    response: str = Field(max_length=20_000, description="the student's response, verbatim")
    poses: list[Pose] = Field(min_length=8, max_length=8, description="the response's 8 poses")
    gt_poses: list[Pose] = Field(min_length=8, max_length=8, description="the ground truth's 8 poses")
    scores: SubScores
    correct_meta: MetaActionPair
    predicted_meta: MetaActionPair
    objects: list[ObjectCheck] = Field(default=[], max_length=32, description="the CoT's key objects checked")
    agents: list[AgentState] = Field(default=[], max_length=64, description="agents named in `scores`")
    road_side: Optional[Literal["left", "right"]] = Field(None, description="dac: side of the route it leaves on")

    def content_key(self) -> str:
        """sha256 of the case without its case_id: the cache key part that depends on the case."""
        payload = self.model_dump(mode="json", exclude={"case_id"})
        return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
