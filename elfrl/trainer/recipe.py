"""The recipe of `launch/grpo_feedback.py`: config -> builders -> train -> save and report.

    run(cfg)   # = student_path, build_training_args, build_model, build_scenes, build_trainer,
               #   evaluate (before), train, save final/, evaluate (after), summary.json + curves.png

Builders take the fields they need. The teacher is passed in: `launch/grpo_feedback.py` builds the
HTTP client (`teachers.client.SyncTeacher`) when `teacher:` is configured; otherwise the trainer
diagnoses in-process with `AnalyticTeacher`.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Optional, Sequence

import datasets
from datasets import Dataset
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from transformers import PrinterCallback
from trl import GRPOConfig

from elfrl.config import ConfigError
from elfrl.data.datasets import content_blocks
from elfrl.data.prompts import base_input, base_messages
from elfrl.rollout import RolloutEngine
from elfrl.scene import read_manifest, read_scenes
from elfrl.scene.schema import Scene
from elfrl.trainer.callbacks import MetricsFile, read_metrics
from elfrl.trainer.config import GRPOFeedbackConfig
from elfrl.trainer.scoring import REWARD_NAMES, RolloutScorer
from elfrl.trainer.teacher import AnalyticTeacher, Teacher
from elfrl.trainer.trainer import FeedbackGRPOTrainer, FeedbackSettings
from elfrl.training.machine import shared_training_args
from elfrl.training.sft import FINAL_DIR, build_model, student_path
from elfrl.training.sft_eval import HeldOut, evaluate_answers, model_responder

log = logging.getLogger(__name__)
METRICS_FILE = "metrics.jsonl"


class HeldOutScore(BaseModel):
    scenes: int
    parsable: float
    pdms: float


class GRPOReport(BaseModel):
    """summary.json of one run."""

    feedback_mode: str
    steps: int
    seconds: float
    train_scenes: int
    before: Optional[HeldOutScore]
    after: Optional[HeldOutScore]
    first: dict  # rollout metrics of the first generating step
    last: dict  # ... and of the last one
    final_dir: str


def build_training_args(cfg: GRPOFeedbackConfig) -> GRPOConfig:
    """TRL's GRPOConfig: num_generations is G + N_ref, a device batch holds whole groups."""
    n = cfg.group_size + cfg.slots
    w = cfg.rewards
    return GRPOConfig(
        **shared_training_args(cfg),
        num_generations=n,
        per_device_train_batch_size=cfg.scenes_per_step * n,  # groups stay on one rank (TRL §1.2)
        num_iterations=cfg.num_iterations,
        beta=cfg.beta,
        epsilon=cfg.epsilon,
        temperature=cfg.temperature,
        max_completion_length=cfg.max_completion_length,
        reward_weights=[w.pdms, w.format, w.goal],  # REWARD_NAMES order
        loss_type="grpo",  # unused: FeedbackGRPOTrainer._compute_loss aggregates (loss_weighting)
        scale_rewards="group",  # z-score over each merged group of G + N_ref (ELF-VLA: over r_union)
        max_grad_norm=cfg.max_grad_norm,
        data_seed=cfg.seed,
        disable_tqdm=True,  # one console line per step instead (elfrl.trainer.callbacks)
    )


def build_scenes(scene_dir: Path, split: str, subset: Optional[Path] = None,
                 max_scenes: Optional[int] = None) -> tuple[dict[str, Scene], Dataset]:
    """The training scenes by token, and TRL's dataset: base prompt, front image, token."""
    scene_dir = Path(scene_dir)
    rows = read_manifest(scene_dir)
    rows = [r for r in rows if r["split"] == split]
    if subset is not None:
        wanted = _subset_tokens(Path(subset))
        missing = wanted - {r["token"] for r in rows}
        if missing:
            raise ConfigError(f"{len(missing)} tokens of {subset} are not {split} scenes of {scene_dir}, e.g. "
                              f"{sorted(missing)[:3]}; build the subset from the same scene directory and split")
        rows = [r for r in rows if r["token"] in wanted]
    rows = rows[:max_scenes]
    if not rows:
        raise ConfigError(f"{scene_dir} has no {split} scenes to train on (split={split!r}, subset={subset})")
    no_image = [r["token"] for r in rows if not r.get("images")]
    if no_image:
        raise ConfigError(f"{len(no_image)} scenes have no front image (e.g. {no_image[0]}); generate with images")
    scenes = {r["token"]: read_scenes(scene_dir / r["scene"])[0] for r in rows}
    records = [{"token": r["token"], "prompt": content_blocks(base_messages(base_input(scenes[r["token"]]))),
                "images": [str(scene_dir / r["images"][0])]} for r in rows]
    ds = Dataset.from_list(records).cast_column("images", datasets.Sequence(datasets.Image()))
    return scenes, ds


def _subset_tokens(path: Path) -> set[str]:
    if not path.is_file():
        raise ConfigError(f"subset file {path} does not exist (curation/select_hard.py writes subset.jsonl)")
    tokens = set()
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ConfigError(f"{path}:{n} is not JSON ({err.msg}); each line must be a JSON object with a token") from None
            if not isinstance(row, dict) or "token" not in row:
                raise ConfigError(f"{path}:{n} has no `token` field; each line must be a JSON object with a token")
            tokens.add(row["token"])
    if not tokens:
        raise ConfigError(f"subset file {path} is empty")
    return tokens


def build_trainer(cfg: GRPOFeedbackConfig, args: GRPOConfig, model, processor, scenes: dict[str, Scene],
                  dataset: Dataset, teacher: Optional[Teacher], console: Optional[Console] = None,
                  engine: Optional[RolloutEngine] = None) -> FeedbackGRPOTrainer:
    """The trainer with its scorer, teacher (analytic when none is given) and rollout engine (HF when none)."""
    settings = FeedbackSettings(
        mode=cfg.feedback_mode, group_size=cfg.group_size, num_refinements=cfg.slots, tau=cfg.tau, gamma=cfg.gamma,
        refine_scope=cfg.refine_scope, accept_on=cfg.accept_on, weighting=cfg.loss_weighting,
        refine_temperature=cfg.temperature if cfg.refine_temperature is None else cfg.refine_temperature,
        seed=cfg.seed,
    )
    if cfg.feedback_mode == "teacher" and teacher is None:
        teacher = AnalyticTeacher()
    scorer = RolloutScorer(scenes, weights=cfg.rewards, tiers=cfg.goal_tiers)
    trainer = FeedbackGRPOTrainer(
        model=model, reward_funcs=reward_funcs(), args=args, train_dataset=dataset, processing_class=processor,
        feedback=settings, rollout_scorer=scorer, teacher=teacher, engine_batch_size=cfg.rollout_batch_size,
        max_nonfinite_steps=cfg.max_nonfinite_steps, engine=engine,
    )
    trainer.remove_callback(PrinterCallback)  # its raw dicts are replaced by MetricsFile's console line
    trainer.add_callback(MetricsFile(Path(cfg.output_dir) / METRICS_FILE, console))
    return trainer


def reward_funcs() -> list:
    """One named callable per reward column, which TRL needs for the column names (`rewards/pdms/mean`, ...).
    They are never called: FeedbackGRPOTrainer scores every rollout once while it builds the groups and
    hands TRL the merged matrix from `_calculate_rewards`."""

    def component(name: str):
        def fn(prompts, completions, **_):
            raise RuntimeError(f"the {name} reward is computed by FeedbackGRPOTrainer._generate, not by TRL")

        fn.__name__ = name
        return fn

    return [component(name) for name in REWARD_NAMES]


def evaluate_held_out(model, processor, scene_dir: Path, limit: int) -> HeldOutScore:
    """Greedy answers on the first `limit` test-split scenes: parsable share and mean PDMS v1.1."""
    held = HeldOut.load(scene_dir, "test", limit)
    was_training = model.training
    model.eval()
    result = evaluate_answers(model_responder(model, processor), held)
    model.train(was_training)
    return HeldOutScore(scenes=len(held.scenes), parsable=result["parsable"], pdms=result["pdms"])


def run(cfg: GRPOFeedbackConfig, teacher: Optional[Teacher] = None, console: Optional[Console] = None) -> GRPOReport:
    """The whole recipe; returns the report also written to OUTPUT_DIR/summary.json."""
    console = console or Console()
    start = student_path(cfg.model, cfg.tiny, cfg.output_dir, cfg.seed)
    args = build_training_args(cfg)  # before the model: ZeRO-3 partitions weights while they load
    model, processor = build_model(start)
    scenes, dataset = build_scenes(cfg.scenes, cfg.split, cfg.subset, cfg.max_scenes)
    trainer = build_trainer(cfg, args, model, processor, scenes, dataset, teacher, console)
    evaluate = cfg.eval_scenes is not None and not trainer.is_deepspeed_enabled
    before = evaluate_held_out(trainer.model, processor, cfg.scenes, cfg.eval_scenes) if evaluate else None
    began = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=resume_arg(cfg.resume_from_checkpoint))
    finally:
        if teacher is not None:
            teacher.close()
    seconds = time.perf_counter() - began
    final = Path(cfg.output_dir) / FINAL_DIR
    trainer.save_model(str(final))
    after = evaluate_held_out(trainer.model, processor, cfg.scenes, cfg.eval_scenes) if evaluate else None
    report = _report(cfg, trainer, len(scenes), seconds, before, after, final)
    if trainer.is_world_process_zero():
        (Path(cfg.output_dir) / "summary.json").write_text(report.model_dump_json(indent=2) + "\n")
        plot_curves(read_metrics(Path(cfg.output_dir) / METRICS_FILE), Path(cfg.output_dir) / "curves.png",
                    cfg.feedback_mode)
        print_summary(report, console)
    return report


def resume_arg(value: Optional[str]):
    if value is None:
        return None
    if value == "latest":
        return True  # transformers picks the newest checkpoint-N under output_dir
    if not Path(value).is_dir():
        raise ConfigError(f"resume_from_checkpoint={value} is not a checkpoint directory; use a checkpoint-N "
                          "directory under output_dir, or `latest`")
    return value


ROLLOUT_KEYS = ("reward/pdms", "reward/format", "reward/goal", "failure/all_fail_pdms", "feedback/refined_accepted")


def _report(cfg, trainer, n_scenes, seconds, before, after, final) -> GRPOReport:
    rows = [r for r in read_metrics(Path(cfg.output_dir) / METRICS_FILE) if "reward/pdms" in r] \
        if trainer.is_world_process_zero() else []
    pick = lambda r: {k: r[k] for k in ROLLOUT_KEYS if k in r}  # noqa: E731
    return GRPOReport(
        feedback_mode=cfg.feedback_mode, steps=trainer.state.global_step, seconds=round(seconds, 1),
        train_scenes=n_scenes, before=before, after=after, first=pick(rows[0]) if rows else {},
        last=pick(rows[-1]) if rows else {}, final_dir=str(final),
    )


def plot_curves(rows: Sequence[dict], path: Path, title: str) -> Path:
    """curves.png: rollout PDMS, accepted refinements, all-fail share, loss and KL per step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("reward/pdms", "failure/all_fail_pdms", "feedback/refined_accepted"), ("loss", "kl")]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, keys in zip(axes, panels):
        for key in keys:
            pts = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
            if pts:
                ax.plot(*zip(*pts), marker=".", label=key)
        ax.set(xlabel="optimizer step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"feedback GRPO ({title})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def print_summary(report: GRPOReport, console: Console) -> None:
    table = Table(title=f"feedback GRPO ({report.feedback_mode})", show_header=False)
    table.add_row("steps", f"{report.steps} in {report.seconds:.0f} s on {report.train_scenes} scenes")
    for key in ROLLOUT_KEYS:
        if key in report.first or key in report.last:
            f, last = report.first.get(key), report.last.get(key)
            table.add_row(f"{key} (first -> last)", f"{_num(f)} -> {_num(last)}")
    if report.before and report.after:
        table.add_row(f"held-out PDMS ({report.before.scenes} scenes)",
                      f"{report.before.pdms:.3f} -> {report.after.pdms:.3f}")
        table.add_row("held-out parsable", f"{report.before.parsable:.0%} -> {report.after.parsable:.0%}")
    table.add_row("final model", report.final_dir)
    console.print(table)


def _num(v) -> str:
    return "-" if v is None else f"{v:.3f}"
