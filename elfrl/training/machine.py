"""What every Hugging Face trainer stage (SFT, feedback GRPO) shares: the machine checks and the
TrainingArguments fields that come straight from the stage config under the same names."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import torch

from elfrl.config import ConfigError

log = logging.getLogger(__name__)

DEEPSPEED_INSTALL = "pip install -e '.[gpu]'  (or: pip install 'deepspeed>=0.18.6')"  # TRL 1.16's deepspeed extra


def shared_training_args(cfg) -> dict:
    """TrainingArguments kwargs shared by the stage configs (SFTStageConfig, GRPOFeedbackConfig), after
    checking the machine: a GPU for bf16, the deepspeed package for a DeepSpeed config."""
    return dict(
        output_dir=str(cfg.output_dir),
        max_steps=cfg.max_steps,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float < 1 is a share of the steps (was warmup_ratio)
        weight_decay=cfg.weight_decay,
        logging_steps=cfg.logging_steps,
        save_strategy="steps" if cfg.save_steps else "no",
        save_steps=cfg.save_steps or 500,  # unused when save_strategy is "no"
        save_total_limit=cfg.save_total_limit,
        seed=cfg.seed,
        bf16=cfg.bf16,
        activation_checkpointing=cfg.gradient_checkpointing,  # transformers 5's name; TRL's alias defaults to True
        use_cpu=use_cpu_flag(cfg.use_cpu, cfg.bf16),
        deepspeed=deepspeed_config_path(cfg.deepspeed),
        report_to=cfg.report_to,
        remove_unused_columns=False,  # `token` (and `kind`) ride along to the collator / reward code
    )


def use_cpu_flag(use_cpu: bool, bf16: bool) -> bool:
    if use_cpu or torch.cuda.is_available():
        return use_cpu
    if bf16:
        raise ConfigError(
            "bf16=true needs a CUDA GPU and none is visible; set bf16=false to train on the CPU "
            "(the configs/demo/ configs do), or run on a GPU machine"
        )
    log.warning("no CUDA GPU visible: training on the CPU")
    return True


def deepspeed_config_path(path: Optional[Path]) -> Optional[str]:
    if path is None:
        return None
    try:
        import deepspeed  # noqa: F401  (only to check that it is installed)
    except ImportError:
        raise ConfigError(
            f"deepspeed={path} is set but the deepspeed package is not installed; install it with "
            f"{DEEPSPEED_INSTALL}, or set deepspeed=null to train without DeepSpeed"
        ) from None
    if not Path(path).is_file():
        raise ConfigError(f"deepspeed config {path} does not exist; use configs/deepspeed/zero2.json or zero3.json")
    try:
        ds = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"deepspeed config {path} is not valid JSON: {err}") from None
    if not isinstance(ds, dict) or "zero_optimization" not in ds:
        raise ConfigError(f"deepspeed config {path} has no zero_optimization section; see configs/deepspeed/")
    return str(path)
