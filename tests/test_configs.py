"""Every YAML in configs/ loads into its stage's config (STYLE: a test loads every YAML)."""

from pathlib import Path

import pytest

from elfrl.config import load_config
from elfrl.evaluation.config import CurationConfig, EvaluateConfig
from elfrl.scoring.config import ScoreConfig
from elfrl.trainer.config import GRPOFeedbackConfig
from elfrl.training.sft import SFTStageConfig
from teachers.config import TeacherConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# Keyed by the path under configs/, so a demo config may share its stage config's file name.
STAGE_CONFIGS = {
    "score.yaml": ScoreConfig,
    "sft_stage1.yaml": SFTStageConfig,
    "sft_stage2.yaml": SFTStageConfig,
    "demo/sft_stage1.yaml": SFTStageConfig,
    "demo/sft_stage2.yaml": SFTStageConfig,
    "teacher.yaml": TeacherConfig,
    "grpo_feedback.yaml": GRPOFeedbackConfig,
    "demo/grpo_feedback.yaml": GRPOFeedbackConfig,
    "evaluate.yaml": EvaluateConfig,
    "curation.yaml": CurationConfig,
}


def _key(path: Path) -> str:
    return path.relative_to(CONFIGS).as_posix()


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("**/*.yaml")), ids=_key)
def test_every_config_loads(path):
    cls = STAGE_CONFIGS.get(_key(path))
    assert cls is not None, f"{path} has no config class registered in tests/test_configs.py"
    load_config(cls, path)


def test_defaults_match_the_shipped_yaml():
    assert load_config(ScoreConfig, CONFIGS / "score.yaml") == ScoreConfig()
