"""The evaluation stage read top to bottom (`launch/evaluate.py`), and the rollout step it shares with
curation: check inputs -> select scenes -> run (resuming) -> aggregate -> write results."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from rich.console import Console

from elfrl.evaluation.config import EvaluateConfig, RolloutConfig
from elfrl.evaluation.metrics import aggregate, write_per_scene
from elfrl.evaluation.records import RunSpec, SceneRecord, write_json, write_spec
from elfrl.evaluation.report import console_table, write_comparison, write_report
from elfrl.evaluation.runner import run, select_scenes


def rollouts(cfg: RolloutConfig, label: str) -> tuple[list[dict], RunSpec, list[SceneRecord]]:
    """Sample and score `cfg.samples` answers for every selected scene not yet on disk in cfg.output_dir.
    Returns the manifest rows, the run's spec and the records (of `shard_index` only, when set)."""
    if cfg.policy == "model":
        from elfrl.models.loading import check_student_checkpoint

        check_student_checkpoint(cfg.checkpoint)  # before any work, not at the first batch
    rows = select_scenes(cfg.scene_dir, cfg.split, cfg.limit, need_images=cfg.policy == "model")
    spec = cfg.spec(len(rows))
    cfg.output_dir.mkdir(parents=True, exist_ok=True)
    write_spec(cfg.output_dir, spec)
    records = run(spec, rows, cfg.output_dir, workers=cfg.workers, shard_index=cfg.shard_index, dtype=cfg.dtype,
                  device=cfg.device, label=label)
    return rows, spec, records


def evaluate(cfg: EvaluateConfig, console: Optional[Console] = None) -> Optional[dict]:
    """Evaluate into cfg.output_dir: metrics.json, per_scene.csv, report.html. In comparison mode
    (`compare`), write comparison.{json,html} from finished runs instead. Returns the metrics (None for a
    single shard, which writes records only)."""
    console = console or Console()
    out = cfg.output_dir
    if cfg.compare:
        console.print(write_comparison(out, cfg.compare))
        console.print(f"comparison: {out / 'comparison.html'}")
        return None
    rows, spec, records = rollouts(cfg, "evaluate")
    if cfg.shard_index is not None:
        console.print(f"shard {cfg.shard_index} of {spec.num_shards}: {len(records)} scenes recorded in {out}/records; "
                      "run again without shard_index once every shard is done to write the results")
        return None
    name = cfg.name or Path(out).resolve().name
    metrics = {"name": name, **aggregate(records, cfg.tau)}
    write_json(out / "metrics.json", metrics)
    write_per_scene(out / "per_scene.csv", records)
    write_report(out / "report.html", name, metrics, spec.model_dump(), records, rows, cfg.worst_scenes)
    console.print(console_table(name, metrics))
    console.print(f"results: {out / 'metrics.json'}, {out / 'per_scene.csv'}, {out / 'report.html'}")
    return metrics
