"""Every YAML in configs/ loads into its stage's config (STYLE: a test loads every YAML)."""

from pathlib import Path

import pytest

from elfrl.config import load_config
from elfrl.scoring.config import ScoreConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
STAGE_CONFIGS = {"score.yaml": ScoreConfig}


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("**/*.yaml")), ids=lambda p: p.name)
def test_every_config_loads(path):
    cls = STAGE_CONFIGS.get(path.name)
    assert cls is not None, f"{path} has no config class registered in tests/test_configs.py"
    load_config(cls, path)


def test_defaults_match_the_shipped_yaml():
    assert load_config(ScoreConfig, CONFIGS / "score.yaml") == ScoreConfig()
