"""What a rollout-and-score run writes: one `SceneRecord` per scene (its K samples, scored), appended to
one JSONL file per shard, and the `RunSpec` that produced them (`run.json`).

    out/run.json                       # RunSpec: a rerun must match it (else it would mix two runs)
    out/records/shard-000-of-002.jsonl  # SceneRecord lines, appended batch by batch, fsync'd

Records hold everything the metrics need (sub-scores, labels, L2, collisions), so aggregation, the
report and curation never re-run the model or the scorer.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, ValidationError

from elfrl.scene.schema import EPDMSv2Record, PDMSv1Record

log = logging.getLogger(__name__)

PolicyName = Literal["model", "expert", "constant_velocity"]


class RecordsError(ValueError):
    """An output directory whose records cannot be continued: another run's, or corrupted."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SampleRecord(_Record):
    """One answer. Everything from `poses` on is None when the answer has no 8 poses."""

    text: str
    failure: Optional[str]  # ParseFailure value, None when the answer parsed completely
    stated: Optional[tuple[str, str]]  # (speed, path) the CoT names after "Meta action:", None if absent
    poses: Optional[list[list[float]]] = None  # [8, 3] as parsed
    pdms: Optional[PDMSv1Record] = None  # (counted as 0 in means where None)
    epdms: Optional[EPDMSv2Record] = None
    implied: Optional[tuple[str, str]] = None  # (speed, path) labels of the trajectory itself
    l2: Optional[list[float]] = None  # [6] metres at 0.5..3.0 s
    collision: Optional[list[bool]] = None  # [6] at 0.5..3.0 s, steps where the GT collides masked to False

    @property
    def pdms_score(self) -> float:
        """PDMS v1.1, 0 where the answer did not parse (what means, rewards and curation count)."""
        return self.pdms.score if self.pdms is not None else 0.0

    @property
    def epdms_score(self) -> float:
        """EPDMS v2, 0 where the answer did not parse."""
        return self.epdms.score if self.epdms is not None else 0.0


class SceneRecord(_Record):
    token: str
    family: Optional[str] = None  # synthetic family from the manifest
    gt: tuple[str, str]  # (speed, path) labels of the ground-truth trajectory
    gt_collision: list[bool]  # [6] steps where the ground truth itself overlaps an agent (not counted)
    samples: list[SampleRecord]

    @property
    def mean_pdms(self) -> float:
        """Mean PDMS v1.1 over the samples, unparsable = 0."""
        return sum(s.pdms_score for s in self.samples) / len(self.samples)


class RunSpec(_Record):
    """Everything that decides a run's records: a rerun with a different spec would mix two runs."""

    policy: PolicyName
    checkpoint: Optional[str]  # absolute path; the model policy only
    scene_dir: str
    split: str
    limit: Optional[int]
    tokens: int  # scenes selected
    samples: int
    temperature: float
    max_new_tokens: int
    batch_size: int
    seed: int
    num_shards: int


def shard_path(out_dir: Path, shard: int, num_shards: int) -> Path:
    return Path(out_dir) / "records" / f"shard-{shard:03d}-of-{num_shards:03d}.jsonl"


def write_spec(out_dir: Path, spec: RunSpec) -> None:
    """Write `run.json`, or check that the one already there is the same run."""
    path = Path(out_dir) / "run.json"
    if path.exists():
        old = RunSpec.model_validate_json(path.read_text())
        diff = {k: (getattr(old, k), getattr(spec, k)) for k in RunSpec.model_fields if getattr(old, k) != getattr(spec, k)}
        if diff:
            said = "; ".join(f"{k}: {a!r} on disk, {b!r} now" for k, (a, b) in diff.items())
            raise RecordsError(
                f"{out_dir} holds records of a different run ({said}). Resume with the same settings, "
                "or write to a new output_dir."
            )
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(spec.model_dump_json(indent=2) + "\n")


def read_records(path: Path) -> list[SceneRecord]:
    """The records of one shard file. A torn LAST line (a run killed mid-write) is cut off and logged, so
    the rerun redoes that scene; a bad line anywhere else is an error (the file was edited or corrupted)."""
    path = Path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    records, good_bytes = [], 0
    for i, line in enumerate(lines):
        if not line.strip():
            good_bytes += len(line) + 1
            continue
        try:
            records.append(SceneRecord.model_validate_json(line))
        except ValidationError as err:
            last = all(not rest.strip() for rest in lines[i + 1 :])
            if not last:
                raise RecordsError(f"{path} line {i + 1} is not a scene record ({err.errors()[0]['msg']}); "
                                 "delete the file to redo its scenes") from None
            log.warning("%s: dropping a torn last line (%d bytes); its scene is redone", path, len(line))
            with open(path, "r+b") as f:
                f.truncate(good_bytes)
            break
        good_bytes += len(line) + 1
    return records


def append_records(path: Path, records: list[SceneRecord]) -> None:
    """Append whole lines and fsync, so a kill leaves at most one torn last line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        for r in records:
            f.write(r.model_dump_json() + "\n")
        f.flush()
        os.fsync(f.fileno())


def _finite(value):
    """NaN (a mean over nothing, e.g. L2 when no answer parsed) -> None: strict JSON has no NaN."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return None if isinstance(value, float) and value != value else value


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(_finite(data), indent=2, allow_nan=False) + "\n")
