"""Feedback GRPO recipe, ELF-VLA Alg. 1 (elfrl.trainer.recipe):

    deepspeed launch/grpo_feedback.py --config configs/grpo_feedback.yaml     # InternVL3-8B, ZeRO-3, teacher URL
    python launch/grpo_feedback.py --config configs/demo/grpo_feedback.yaml   # tiny student, CPU, one process
    python launch/grpo_feedback.py --config ... --set feedback_mode=none      # the paper's GRPO baseline
    python launch/grpo_feedback.py --config ... --set resume_from_checkpoint=latest
"""

from __future__ import annotations

import logging
import os

from elfrl.config import ConfigError, load_config, parse_recipe_args, run_recipe
from elfrl.models.loading import CheckpointError
from elfrl.trainer.config import GRPOFeedbackConfig
from elfrl.trainer.recipe import run
from elfrl.trainer.trainer import NonFiniteTrainingError


def build_teacher(cfg: GRPOFeedbackConfig):
    """The HTTP teacher when one is configured (only the `teacher` mode asks it); else None (analytic in-process)."""
    if cfg.teacher is None or cfg.feedback_mode != "teacher":
        return None
    from teachers.client import SyncTeacher

    t = cfg.teacher
    token = os.environ.get(t.token_env) if t.token_env else None
    if t.token_env and not token:
        raise ConfigError(f"teacher.token_env={t.token_env} is set but that environment variable is empty")
    return SyncTeacher(t.url, token=token, timeout_s=t.timeout_s, max_attempts=t.max_attempts, batch_size=t.batch_size)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_recipe_args(__doc__, "configs/demo/grpo_feedback.yaml", argv)
    cfg = load_config(GRPOFeedbackConfig, args.config, args.overrides)
    run(cfg, teacher=build_teacher(cfg))


if __name__ == "__main__":
    run_recipe(main, (FileNotFoundError, CheckpointError, NonFiniteTrainingError))
