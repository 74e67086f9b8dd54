"""Strict configs of `launch/evaluate.py` and `curation/select_hard.py` (one YAML + `--set` overrides).
Both share `RolloutConfig`, the runner's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, model_validator

from elfrl.config import StrictModel
from elfrl.data.prompts import DEFAULT_TAU
from elfrl.evaluation.records import PolicyName, RunSpec


class RolloutConfig(StrictModel):
    """What to sample and score: `samples` answers per scene of `scene_dir`/`split`."""

    policy: PolicyName = Field("model", description="model: the checkpoint; expert: the logged trajectory; "
                                                "constant_velocity: the route at the current speed (baselines)")
    checkpoint: Optional[Path] = Field(None, description="student checkpoint directory (policy: model)")
    scene_dir: Path = Field(description="scene directory with manifest.jsonl")
    split: str = Field("test", description="manifest split; 'all' for every scene")
    limit: Optional[int] = Field(None, ge=1, description="the first N scenes of the split")
    samples: int = Field(1, ge=1, description="K answers per scene; 1 with temperature 0 is greedy")
    temperature: float = Field(0.0, ge=0, description="0: greedy (needs samples = 1)")
    max_new_tokens: int = Field(256, ge=1, description="longest answer generated")
    batch_size: int = Field(8, ge=1, description="scenes per generate call (times `samples` sequences)")
    seed: int = Field(0, description="sampling seed; a batch uses seed + the index of its first scene")
    workers: int = Field(1, ge=1, description="local processes, each with its own model, one shard each")
    num_shards: Optional[int] = Field(None, ge=1, description="shards the scenes are split into; null: workers")
    shard_index: Optional[int] = Field(None, ge=0, description="run only this shard (one per cluster process); "
                                                                "a later run without it aggregates")
    device: str = Field("cpu", description="cpu or cuda (workers spread over the visible GPUs)")
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    output_dir: Path = Field(description="records/, run.json and the results")

    @model_validator(mode="after")
    def _check(self):
        if self.policy == "model" and self.checkpoint is None:
            raise ValueError("policy 'model' needs checkpoint: a student checkpoint directory")
        if self.policy != "model" and self.checkpoint is not None:
            raise ValueError(f"policy {self.policy!r} does not use a checkpoint; drop checkpoint or use policy 'model'")
        if self.samples > 1 and self.temperature == 0:
            raise ValueError(f"samples={self.samples} with temperature 0 gives {self.samples} identical greedy answers; "
                             "set temperature > 0 or samples = 1")
        if self.shard_index is not None and self.shard_index >= self.shards:
            raise ValueError(f"shard_index {self.shard_index} is not below num_shards {self.shards}")
        return self

    @property
    def shards(self) -> int:
        return self.num_shards or self.workers

    def spec(self, tokens: int) -> RunSpec:
        checkpoint = None if self.checkpoint is None else str(self.checkpoint.expanduser().resolve())
        return RunSpec(policy=self.policy, checkpoint=checkpoint, scene_dir=str(self.scene_dir.expanduser().resolve()),
                       split=self.split, limit=self.limit, tokens=tokens, samples=self.samples,
                       temperature=self.temperature, max_new_tokens=self.max_new_tokens, batch_size=self.batch_size,
                       seed=self.seed, num_shards=self.shards)


class EvaluateConfig(RolloutConfig):
    """`python launch/evaluate.py --config configs/evaluate.yaml [--set key=value]`."""

    name: Optional[str] = Field(None, description="the run's name in reports and comparisons; null: output_dir's name")
    tau: float = Field(DEFAULT_TAU, ge=0, le=1, description="PDMS below which a sample fails (total_failure)")
    worst_scenes: int = Field(6, ge=0, description="BEV plots of this many lowest-PDMS scenes in report.html")
    compare: list[Path] = Field(default_factory=list, description="comparison mode: output dirs of finished "
                                "evaluations to put side by side (nothing is evaluated)")


class CurationConfig(RolloutConfig):
    """`python curation/select_hard.py --config configs/curation.yaml [--set key=value]` (ELF-VLA §3.3)."""

    split: str = Field("train", description="manifest split to curate")
    samples: int = Field(8, ge=2, description="K rollouts per scene (the reward variance needs >= 2)")
    temperature: float = Field(1.0, gt=0, description="sampling temperature of the rollouts")
    mastered_mean: float = Field(DEFAULT_TAU, ge=0, le=1, description="a scene whose mean PDMS is >= this with "
                                 "low variance is mastered (dropped)")
    variance_threshold: float = Field(0.01, ge=0, description="PDMS variance over the K samples above which a "
                                      "scene is ambiguous (kept)")
    target_size: Optional[int] = Field(None, ge=1, description="keep at most this many: hard and ambiguous scenes "
                                       "in proportion, the hardest (lowest mean) of each; null: all of them")
