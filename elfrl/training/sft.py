"""Supervised fine-tuning of the student: ELF-VLA's two SFT stages (recipe: `launch/sft.py`).

Stage 1 trains on trajectory + driving-QA rows; stage 2 starts from stage 1's `final/` and trains on
trajectory + feedback-refinement rows, whose target is always the ground truth (ELF-VLA §3.2 and
appendix 8.1; `reference/driving_vla.md`). One config class serves both: `kinds` picks the rows.

Rows are TRL's conversational prompt-completion format with an `images` column
(`elfrl.data.datasets.load_sft_dataset`). TRL 1.16's `SFTTrainer` takes that format as it is
(trl/trainer/sft_trainer.py, `SFTTrainer.__init__` and `DataCollatorForVisionLanguageModeling`):

- a train set with an `image`/`images` column is a "vision dataset": dataset preparation is skipped
  (no `dataset_kwargs={"skip_prepare_dataset": True}` needed) and the vision collator renders the chat
  template, runs the processor on each batch's PIL images and, with `completion_only_loss`, sets every
  prompt label (system, user text, image tokens) to -100;
- the completion text is (prompt + completion rendered) minus (prompt rendered with the generation
  prompt), so it ends with the template's end-of-turn token and the student learns to stop;
- `remove_unused_columns` is off, so `token` and `kind` ride along to the collator, which ignores them;
- `max_length` cuts the end of a sample; image tokens sit early in the prompt and survive as long as
  the prompt itself fits (TRL rejects `truncation_mode="keep_end"` for images).

Built in this order by `launch/sft.py`: `student_path` (writes the tiny student, if asked, before any
DeepSpeed config exists), `build_training_args` (before the model: under ZeRO-3, `from_pretrained`
partitions weights while loading only if the HF DeepSpeed config, created with the training arguments,
already exists), `build_model`, `build_datasets`, `build_trainer`, `train_and_save`, `print_summary`.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from pathlib import Path
from typing import Literal, Optional, Sequence

from accelerate import PartialState
from datasets import Dataset
from pydantic import Field, model_validator
from rich.console import Console
from rich.table import Table
from transformers import PreTrainedModel, ProcessorMixin
from trl import SFTConfig, SFTTrainer

from elfrl.config import StrictModel
from elfrl.data.datasets import load_sft_dataset
from elfrl.models import build_tiny_student, load_student
from elfrl.training.machine import shared_training_args

log = logging.getLogger(__name__)

Kind = Literal["trajectory", "feedback", "qa"]
TINY_DIR = "tiny_student"  # where `tiny: true` writes the embedded tiny student, under output_dir
FINAL_DIR = "final"


class SFTStageConfig(StrictModel):
    """One SFT stage: `python launch/sft.py --config configs/sft_stage1.yaml [--set key=value]`."""

    model: Optional[Path] = Field(
        None,
        description="student checkpoint directory to start from: an InternVL `-hf` checkpoint (stage 1) or "
        "stage 1's OUTPUT_DIR/final (stage 2); local only, never downloaded. Exclusive with `tiny`",
    )
    tiny: bool = Field(
        False, description="build the embedded tiny random student into OUTPUT_DIR/tiny_student and start from it"
    )
    dataset: Path = Field(
        description="SFT data directory: train.jsonl, val.jsonl and the images they name "
        "(elfrl.data.datasets.build_sft_data); a missing val.jsonl means no evaluation"
    )
    output_dir: Path = Field(description="checkpoints, final/ (model + processor), metrics.json, loss_curve.png")
    kinds: list[Kind] = Field(
        description="row kinds to train and evaluate on: stage 1 [trajectory, qa], stage 2 [trajectory, feedback]"
    )
    max_steps: int = Field(-1, ge=-1, description="optimizer steps; -1: run num_train_epochs instead")
    num_train_epochs: float = Field(1.0, gt=0, description="passes over the train rows (when max_steps is -1)")
    per_device_train_batch_size: int = Field(1, ge=1, description="rows per device per micro-batch (also for eval)")
    gradient_accumulation_steps: int = Field(1, ge=1, description="micro-batches per optimizer step")
    learning_rate: float = Field(1e-5, gt=0, description="peak learning rate (AdamW)")
    lr_scheduler_type: Literal["cosine", "linear", "constant", "constant_with_warmup"] = Field(
        "cosine", description="learning-rate schedule after warmup"
    )
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="share of the optimizer steps spent warming up")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    logging_steps: int = Field(10, ge=1, description="log the train loss every N optimizer steps")
    eval_steps: Optional[int] = Field(None, ge=1, description="evaluate on val every N steps; null: once at the end")
    save_steps: Optional[int] = Field(
        None, ge=1, description="write a resumable checkpoint every N steps; null: only final/"
    )
    save_total_limit: int = Field(2, ge=1, description="resumable checkpoints kept on disk (oldest deleted)")
    seed: int = Field(0, description="seed of data order, initialisation of the tiny student, dropout")
    max_length: Optional[int] = Field(
        None, ge=1, description="tokens per row (prompt with image tokens + completion), cut at the end; null: no cut"
    )
    bf16: bool = Field(False, description="bfloat16 mixed precision; needs a CUDA GPU")
    gradient_checkpointing: bool = Field(False, description="recompute activations in backward (large models)")
    use_cpu: bool = Field(False, description="train on the CPU even if a GPU is visible (no CUDA: CPU anyway, logged)")
    deepspeed: Optional[Path] = Field(
        None, description="DeepSpeed JSON (configs/deepspeed/zero2.json or zero3.json); needs the `gpu` extra"
    )
    completion_only_loss: bool = Field(
        True, description="loss on the assistant completion only; prompt and image tokens are masked"
    )
    report_to: Literal["none", "tensorboard", "wandb"] = Field("none", description="experiment tracker")

    @model_validator(mode="after")
    def _check(self) -> "SFTStageConfig":
        if self.tiny == (self.model is not None):
            raise ValueError(
                "set exactly one of `model` (a checkpoint directory) and `tiny: true` (the embedded tiny student); "
                f"got model={self.model} tiny={self.tiny}"
            )
        if not self.kinds or len(set(self.kinds)) != len(self.kinds):
            raise ValueError(f"kinds must name each row kind at most once and at least one, got {self.kinds}")
        if self.max_steps == 0:
            raise ValueError("max_steps must be positive, or -1 to train for num_train_epochs")
        if self.bf16 and self.use_cpu:
            raise ValueError("bf16 needs a CUDA GPU, but use_cpu is true; set bf16=false to train on the CPU")
        return self


class LossPoint(StrictModel):
    step: int
    loss: float


class SFTReport(StrictModel):
    """metrics.json of one SFT run."""

    steps: int  # optimizer steps done
    seconds: float  # wall-clock of trainer.train()
    train_rows: int
    eval_rows: int
    kinds: list[str]
    train_loss: list[LossPoint]  # one point per logged step (logging_steps)
    eval_loss: Optional[float]  # on val after the last step; None without val rows
    final_dir: str


# --- builders --------------------------------------------------------------------------------


def build_training_args(cfg: SFTStageConfig) -> SFTConfig:
    """TRL's SFTConfig for the stage, after checking the machine (a GPU for bf16, the deepspeed package)."""
    return SFTConfig(
        **shared_training_args(cfg),
        num_train_epochs=cfg.num_train_epochs,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        per_device_eval_batch_size=cfg.per_device_train_batch_size,
        eval_strategy="steps" if cfg.eval_steps else "no",
        eval_steps=cfg.eval_steps,
        max_length=cfg.max_length,
        completion_only_loss=cfg.completion_only_loss,
    )


def student_path(model: Optional[Path], tiny: bool, output_dir: Path, seed: int = 0) -> Path:
    """The checkpoint to start from; with `tiny`, first writes the tiny student to OUTPUT_DIR/tiny_student.

    Call it before `build_training_args`: a model constructed while an HF DeepSpeed ZeRO-3 config exists
    is partitioned at construction and would be saved as empty tensors. Only global rank 0 writes (the
    launchers set RANK); `build_model` waits for it before anyone loads.
    """
    if not tiny:
        return Path(model)
    path = Path(output_dir) / TINY_DIR
    if int(os.environ.get("RANK", "0")) == 0:
        build_tiny_student(path, seed=seed)
        log.info("built the tiny student into %s", path)
    return path


def build_model(path: Path) -> tuple[PreTrainedModel, ProcessorMixin]:
    """The student to fine-tune and its processor, in float32 (the trainer or DeepSpeed casts for bf16)."""
    PartialState().wait_for_everyone()  # rank 0 may still be writing the tiny student
    return load_student(path)


def build_datasets(dataset_dir: Path, kinds: Sequence[str]) -> tuple[Dataset, Optional[Dataset]]:
    """Train and val rows of the wanted kinds; val is None when val.jsonl is missing, empty or has none of them."""
    dataset_dir = Path(dataset_dir)
    with PartialState().main_process_first():  # one process fills the datasets cache, the others read it
        train = select_kinds(load_sft_dataset(dataset_dir, "train"), kinds, "train")
        if not len(train):
            raise ValueError(f"{dataset_dir / 'train.jsonl'} has no rows of kinds {list(kinds)}")
        val_file = dataset_dir / "val.jsonl"
        if not val_file.is_file() or not val_file.read_text().strip():
            log.warning("%s is missing or empty: no evaluation", val_file)
            return train, None
        val = select_kinds(load_sft_dataset(dataset_dir, "val"), kinds, "val")
    if not len(val):
        log.warning("val.jsonl in %s has no rows of kinds %s: no evaluation", dataset_dir, list(kinds))
        return train, None
    return train, val


def select_kinds(ds: Dataset, kinds: Sequence[str], split: str = "train") -> Dataset:
    """Rows whose `kind` is in `kinds`; logs how many of each kind were kept and dropped."""
    counts = Counter(ds["kind"])
    dropped = {k: n for k, n in sorted(counts.items()) if k not in kinds}
    kept = {k: n for k, n in sorted(counts.items()) if k in kinds}
    log.info("%s: kept %s, dropped %s", split, kept or "nothing", dropped or "nothing")
    return ds.filter(lambda kind: kind in kinds, input_columns="kind") if dropped else ds


def build_trainer(
    args: SFTConfig,
    model: PreTrainedModel,
    processor: ProcessorMixin,
    train: Dataset,
    val: Optional[Dataset],
) -> SFTTrainer:
    """TRL's SFTTrainer on the VLM prompt-completion rows (see the module docstring for what TRL does)."""
    if "images" not in train.column_names:
        raise ValueError(f"the train rows have no `images` column (columns: {train.column_names})")
    return SFTTrainer(model=model, args=args, train_dataset=train, eval_dataset=val, processing_class=processor)


def run_stage(cfg: SFTStageConfig) -> SFTReport:
    """The whole recipe of `launch/sft.py` for one stage config; returns its report (metrics.json)."""
    start = student_path(cfg.model, cfg.tiny, cfg.output_dir, cfg.seed)  # writes the tiny student if asked
    training_args = build_training_args(cfg)  # before the model: ZeRO-3 partitions weights while they load
    model, processor = build_model(start)
    train, val = build_datasets(cfg.dataset, cfg.kinds)
    trainer = build_trainer(training_args, model, processor, train, val)
    report = train_and_save(trainer, cfg.output_dir, cfg.kinds)
    if trainer.is_world_process_zero():
        print_summary(report)
    return report


# --- loop and cleanup ------------------------------------------------------------------------


def train_and_save(trainer: SFTTrainer, output_dir: Path, kinds: Sequence[str]) -> SFTReport:
    """Train, evaluate on val, save OUTPUT_DIR/final (model + processor), metrics.json and loss_curve.png."""
    output_dir = Path(output_dir)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    eval_loss = trainer.evaluate()["eval_loss"] if trainer.eval_dataset is not None else None
    final = output_dir / FINAL_DIR
    trainer.save_model(str(final))  # every rank (ZeRO-3 gathers); Trainer._save also writes the processor
    history = trainer.state.log_history
    report = SFTReport(
        steps=trainer.state.global_step,
        seconds=seconds,
        train_rows=len(trainer.train_dataset),
        eval_rows=len(trainer.eval_dataset) if trainer.eval_dataset is not None else 0,
        kinds=list(kinds),
        train_loss=[LossPoint(step=h["step"], loss=h["loss"]) for h in history if "loss" in h],
        eval_loss=eval_loss,
        final_dir=str(final),
    )
    if trainer.is_world_process_zero():
        (output_dir / "metrics.json").write_text(report.model_dump_json(indent=2) + "\n")
        plot_loss(report, [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h], output_dir)
    return report


def plot_loss(report: SFTReport, evals: list[tuple[int, float]], output_dir: Path) -> Path:
    """loss_curve.png: train loss per logged step, eval loss points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([p.step for p in report.train_loss], [p.loss for p in report.train_loss], label="train")
    if evals:
        ax.plot(*zip(*evals), "o", label="eval")
    ax.set(xlabel="optimizer step", ylabel="loss (completion tokens)", title=f"SFT on {' + '.join(report.kinds)}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(output_dir) / "loss_curve.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def print_summary(report: SFTReport, console: Optional[Console] = None) -> None:
    """A table a person can read at the end of the run."""
    losses = report.train_loss
    table = Table(title="SFT", show_header=False)
    table.add_row("kinds", " + ".join(report.kinds))
    table.add_row("rows (train / eval)", f"{report.train_rows} / {report.eval_rows}")
    table.add_row("steps", f"{report.steps} in {report.seconds:.1f} s")
    if losses:
        table.add_row("train loss (first -> last logged)", f"{losses[0].loss:.4f} -> {losses[-1].loss:.4f}")
    table.add_row("eval loss", "no val rows" if report.eval_loss is None else f"{report.eval_loss:.4f}")
    table.add_row("final model", report.final_dir)
    (console or Console()).print(table)
