"""Aggregate scene records into `metrics.json` and `per_scene.csv` (pure functions over records).

metrics.json keys (every value a share in 0..1 or a mean, except `l2` in metres):

| key | meaning |
|---|---|
| `pdms`, `epdms` | mean PDMS v1.1 / EPDMS v2 over all samples, an unparsable answer counting 0 |
| `pdms_parsable` | mean PDMS v1.1 over the answers that parsed |
| `sub_metrics.pdms_v1.*`, `sub_metrics.epdms_v2.*` | mean of each sub-metric over the answers that parsed |
| `format_validity` | share of answers fully well-formed (tags and 8 poses) |
| `parsable` | share of answers with 8 poses (what gets scored) |
| `planning_accuracy.{speed,path,overall}` | exact match of the meta action the CoT states ("Meta action: s, p.") with the ground truth's labels (`elfrl.data.labels`), ELF-VLA Tab. 4; a missing or unknown label is wrong; overall = both right |
| `planning_accuracy_trajectory.*` | the same for the labels of the predicted trajectory itself |
| `l2.{stp3,uniad}.{1s,2s,3s,avg}` | open-loop L2 to the ground truth, parsable answers (`openloop.py`) |
| `collision_rate.{stp3,uniad}.*` | share of answers whose ego box overlaps an agent box |
| `total_failure.{pdms,dac,nc}` | K > 1 only: share of scenes where every sample fails: PDMS < tau / DAC = 0 / NC = 0 (unparsable fails) |
| `by_family.<family>` | scenes and mean PDMS per synthetic family |
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from elfrl.evaluation.openloop import CONVENTIONS, HORIZON_STEPS, at_horizons
from elfrl.evaluation.records import SceneRecord
from elfrl.rewards import group_failures
from elfrl.scoring import V1_KEYS, V2_KEYS


def _mean(values) -> float:
    values = list(values)
    return float(np.mean(values)) if values else float("nan")


def _check(records: Sequence[SceneRecord]) -> int:
    if not records:
        raise ValueError("no scene records to aggregate")
    ks = {len(r.samples) for r in records}
    if len(ks) != 1 or 0 in ks:
        raise ValueError(f"every scene needs the same number (>= 1) of samples, got {sorted(ks)}")
    return ks.pop()


def pdms_matrix(records: Sequence[SceneRecord]) -> np.ndarray:
    """[N, K] PDMS v1.1 per scene and sample, 0 where unparsable (the reward curation ranks by)."""
    return np.array([[s.pdms_score for s in r.samples] for r in records], dtype=np.float64)


def planning_accuracy(records: Sequence[SceneRecord], field: str = "stated") -> dict[str, float]:
    speed, path = [], []
    for r in records:
        for s in r.samples:
            label = getattr(s, field)
            speed.append(label is not None and label[0] == r.gt[0])
            path.append(label is not None and label[1] == r.gt[1])
    speed_a, path_a = np.array(speed), np.array(path)
    return {"speed": float(speed_a.mean()), "path": float(path_a.mean()), "overall": float((speed_a & path_a).mean())}


def _per_step(records: Sequence[SceneRecord], field: str) -> np.ndarray:
    """[N * K, 6] per-step values, NaN rows where the answer did not parse."""
    rows = [getattr(s, field) for r in records for s in r.samples]
    return np.array([[np.nan] * HORIZON_STEPS if v is None else v for v in rows], dtype=np.float64)


def total_failure(pdms: np.ndarray, dac: np.ndarray, nc: np.ndarray, tau: float) -> dict[str, float]:
    """Share of scenes [N, K] where every sample fails: PDMS < tau, DAC = 0, NC = 0 (NaN = unparsable = fail),
    with the trainer's per-group definition (`elfrl.rewards.group_failures`, ELF-VLA's total-failure rate)."""
    rates = np.mean([group_failures(*scene, tau) for scene in zip(pdms, dac, nc)], axis=0)  # [3]
    return dict(zip(("pdms", "dac", "nc"), rates.tolist()))


def _sub(records: Sequence[SceneRecord], version: str, key: str) -> np.ndarray:
    """[N, K] one sub-metric, NaN where unparsable."""
    return np.array([[np.nan if getattr(s, version) is None else getattr(getattr(s, version), key)
                      for s in r.samples] for r in records], dtype=np.float64)


def aggregate(records: Sequence[SceneRecord], tau: float = 0.8) -> dict:
    k = _check(records)
    samples = [s for r in records for s in r.samples]
    parsed = [s for s in samples if s.poses is not None]
    out = {
        "scenes": len(records),
        "samples_per_scene": k,
        "pdms": _mean(s.pdms_score for s in samples),
        "epdms": _mean(s.epdms_score for s in samples),
        "pdms_parsable": _mean(s.pdms.score for s in parsed),
        "sub_metrics": {
            "pdms_v1": {key: _mean(getattr(s.pdms, key) for s in parsed) for key in V1_KEYS if key != "score"},
            "epdms_v2": {key: _mean(getattr(s.epdms, key) for s in parsed) for key in V2_KEYS if key != "score"},
        },
        "format_validity": _mean(s.failure is None for s in samples),
        "parsable": len(parsed) / len(samples),
        "planning_accuracy": planning_accuracy(records, "stated"),
        "planning_accuracy_trajectory": planning_accuracy(records, "implied"),
        "l2": {c: at_horizons(_per_step(records, "l2"), c) for c in CONVENTIONS},
        "collision_rate": {c: at_horizons(_per_step(records, "collision"), c) for c in CONVENTIONS},
    }
    if k > 1:
        out["total_failure"] = total_failure(pdms_matrix(records), _sub(records, "pdms", "dac"),
                                             _sub(records, "pdms", "nc"), tau)
    families = defaultdict(list)
    for r in records:
        families[r.family or "-"].append(r.mean_pdms)
    out["by_family"] = {f: {"scenes": len(v), "pdms": float(np.mean(v))} for f, v in sorted(families.items())}
    return out


PER_SCENE_COLUMNS = ("token", "family", "samples", "parsable", "pdms", "pdms_min", "pdms_max", "epdms",
                     *(f"v1_{k}" for k in V1_KEYS if k != "score"), "gt_speed", "gt_path", "stated_speed",
                     "stated_path", "l2_3s", "collision")


def per_scene_rows(records: Sequence[SceneRecord]) -> list[dict]:
    """One row per scene (PER_SCENE_COLUMNS): means over its samples; the stated meta action of sample 0;
    l2_3s the mean L2 at 3.0 s; collision whether any sample collides at any step."""
    rows = []
    for r in records:
        pd = [s.pdms_score for s in r.samples]
        ok = [s for s in r.samples if s.poses is not None]
        first = r.samples[0].stated or ("", "")
        rows.append({
            "token": r.token, "family": r.family or "", "samples": len(r.samples), "parsable": len(ok) / len(r.samples),
            "pdms": r.mean_pdms, "pdms_min": min(pd), "pdms_max": max(pd),
            "epdms": float(np.mean([s.epdms_score for s in r.samples])),
            **{f"v1_{k}": _mean(getattr(s.pdms, k) for s in ok) for k in V1_KEYS if k != "score"},
            "gt_speed": r.gt[0], "gt_path": r.gt[1], "stated_speed": first[0], "stated_path": first[1],
            "l2_3s": _mean(s.l2[-1] for s in ok), "collision": any(any(s.collision) for s in ok),
        })
    return rows


def write_per_scene(path: Path, records: Sequence[SceneRecord]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=PER_SCENE_COLUMNS)
        writer.writeheader()
        for row in per_scene_rows(records):
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
