"""Results files of `elfrl score` (pydantic), and the parity check against fixture expectations."""

from __future__ import annotations

import json
from typing import Optional

from pydantic import BaseModel, ConfigDict

from elfrl.scene.schema import EPDMSv2Record, PDMSv1Record, ScoredScene
from elfrl.scoring.scorer import SceneScores, VersionScores

# Sub-metrics that take a few discrete values must match exactly; EP and the score within this.
CONTINUOUS_TOLERANCE = 1e-4
CONTINUOUS = ("ep", "score")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CandidateDetails(_Model):
    """What decided each sub-metric: the teacher's raw material."""

    progress_m: float
    ep_normaliser_m: float
    nc_step: Optional[int]
    nc_agent: Optional[str]
    ttc_step: Optional[int]
    ttc_agent: Optional[str]
    dac_step: Optional[int]
    ddc_worst_window_m: float
    comfort_failed: list[str]
    tlc_step: Optional[int] = None
    lk_step: Optional[int] = None


class SceneResult(_Model):
    token: str
    pdms_v1: Optional[list[PDMSv1Record]] = None
    epdms_v2: Optional[list[EPDMSv2Record]] = None
    details_v1: Optional[list[CandidateDetails]] = None
    details_v2: Optional[list[CandidateDetails]] = None
    human_filtered_v2: Optional[list[str]] = None


class Timing(_Model):
    candidates: int
    seconds: float


class ResultsFile(_Model):
    scenes: list[SceneResult]
    timing: Timing

    def to_json(self) -> str:
        """JSON without the sections that were not requested (None at scene level); inside the
        details, null stays null ("no collision", "no TTC violation")."""
        doc = self.model_dump(mode="json")
        doc["scenes"] = [{k: v for k, v in scene.items() if v is not None} for scene in doc["scenes"]]
        return json.dumps(doc, indent=1) + "\n"


class Mismatch(_Model):
    token: str
    version: str
    candidate: int
    metric: str
    got: float
    expected: float


def _step(x) -> Optional[int]:
    return None if x is None or int(x) < 0 else int(x)


def _details(v: VersionScores) -> list[CandidateDetails]:
    n = len(v.score)
    return [
        CandidateDetails(
            progress_m=float(v.progress_m[i]),
            ep_normaliser_m=float(v.normaliser_m[i]),
            nc_step=_step(v.nc_step[i]),
            nc_agent=v.nc_agent[i],
            ttc_step=_step(v.ttc_step[i]),
            ttc_agent=v.ttc_agent[i],
            dac_step=_step(v.dac_step[i]),
            ddc_worst_window_m=float(v.ddc_m[i]),
            comfort_failed=v.comfort_failed[i],
            tlc_step=None if v.tlc_step is None else _step(v.tlc_step[i]),
            lk_step=None if v.lk_step is None else _step(v.lk_step[i]),
        )
        for i in range(n)
    ]


def scene_result(scores: SceneScores, details: bool = False) -> SceneResult:
    v1, v2 = scores.pdms_v1, scores.epdms_v2
    return SceneResult(
        token=scores.token,
        pdms_v1=None if v1 is None else [PDMSv1Record(**r) for r in v1.records()],
        epdms_v2=None if v2 is None else [EPDMSv2Record(**r) for r in v2.records()],
        details_v1=_details(v1) if details and v1 is not None else None,
        details_v2=_details(v2) if details and v2 is not None else None,
        human_filtered_v2=list(v2.human_filtered) if details and v2 is not None else None,
    )


def compare_with_expected(scene: ScoredScene, scores: SceneScores) -> list[Mismatch]:
    """Every sub-metric that differs from the fixture's official value (discrete: exactly;
    EP and score: beyond CONTINUOUS_TOLERANCE)."""
    if scene.expected is None:
        return []
    out = []
    pairs = (("pdms_v1", scores.pdms_v1, scene.expected.pdms_v1), ("epdms_v2", scores.epdms_v2, scene.expected.epdms_v2))
    for version, got, expected in pairs:
        if got is None:
            continue
        records = got.records()
        for i, exp in enumerate(expected):
            for key, value in records[i].items():
                want = getattr(exp, key)
                tol = CONTINUOUS_TOLERANCE if key in CONTINUOUS else 0.0
                if abs(value - want) > tol:
                    out.append(Mismatch(token=scene.token, version=version, candidate=i, metric=key, got=value, expected=want))
    return out
