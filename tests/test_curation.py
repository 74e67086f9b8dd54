"""curation/select_hard.py (ELF-VLA §3.3): categories from reward mean and variance, proportional
down-sampling to a target size, stats that add up, a subset the GRPO recipe reads, and resumption."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from elfrl.evaluation.config import CurationConfig
from elfrl.evaluation.curation import categorise, curate, select
from elfrl.evaluation.records import SampleRecord, SceneRecord
from elfrl.scene.schema import EPDMSv2Record, PDMSv1Record

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("select_hard", ROOT / "curation" / "select_hard.py")
script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(script)


def test_categories_follow_mean_and_variance():
    mean = np.array([0.95, 0.1, 0.5, 0.8, 0.79])
    var = np.array([0.0, 0.0, 0.2, 0.01, 0.0])
    assert categorise(mean, var, 0.8, 0.01).tolist() == ["mastered", "hard", "ambiguous", "mastered", "hard"]


def test_target_size_keeps_the_hardest_of_each_category_in_proportion():
    cats = np.array(["hard"] * 6 + ["ambiguous"] * 3 + ["mastered"] * 5)
    mean = np.array([0.5, 0.0, 0.3, 0.1, 0.0, 0.2, 0.5, 0.4, 0.5, 0.9, 0.9, 0.9, 0.9, 0.9])
    var = np.array([0.0] * 6 + [0.05, 0.2, 0.1] + [0.0] * 5)
    assert select(cats, mean, var, None).tolist() == list(range(9))  # every hard and ambiguous scene
    assert select(cats, mean, var, 100).tolist() == list(range(9))  # a target above what is kept keeps all
    # 4 of 9 -> quotas 2.67 hard, 1.33 ambiguous -> 3 and 1: the 3 lowest means; the lowest mean (7)
    assert select(cats, mean, var, 4).tolist() == [1, 3, 4, 7]
    # 5 of 9 -> 3.33 and 1.67: the larger remainder gets the extra slot; at equal means (6, 8) the
    # higher variance (8) goes first
    assert select(cats, mean, var, 5).tolist() == [1, 3, 4, 7, 8]


def _record(token, family, rewards):
    samples = []
    for r in rewards:
        v1 = PDMSv1Record(nc=1, dac=1, ddc=1, ttc=1, c=1, ep=r, score=r)
        v2 = EPDMSv2Record(nc=1, dac=1, ddc=1, tlc=1, ep=r, ttc=1, lk=1, hc=1, score=r)
        samples.append(SampleRecord(text="", failure=None, poses=[[0.0, 0.0, 0.0]] * 8, pdms=v1, epdms=v2,
                                    stated=None, implied=None, l2=[0.0] * 6, collision=[False] * 6))
    return SceneRecord(token=token, family=family, gt=("stop", "keep lane"), gt_collision=[False] * 6, samples=samples)


def test_curate_writes_a_subset_the_grpo_recipe_reads_and_stats_that_add_up(tmp_path):
    from elfrl.trainer.recipe import _subset_tokens

    records = [_record(f"easy{i}", "lane_follow", [0.95, 0.97]) for i in range(6)]
    records += [_record(f"stuck{i}", "stopped_lead", [0.0, 0.0]) for i in range(2)]
    records += [_record("coin", "cut_in", [0.0, 0.9])]
    cfg = CurationConfig(policy="expert", scene_dir=tmp_path, output_dir=tmp_path)
    stats = curate(records, cfg, tmp_path)
    assert stats["input"] == {"hard": 2, "ambiguous": 1, "mastered": 6}
    assert stats["kept"] == {"hard": 2, "ambiguous": 1, "mastered": 0}
    assert stats["kept_total"] + stats["dropped_mastered"] + stats["dropped_over_target"] == stats["scenes"] == 9
    assert sum(v["input"] for v in stats["by_family"].values()) == 9
    assert sum(v["kept"] for v in stats["by_family"].values()) == 3
    assert stats["by_family"]["stopped_lead"]["kept_share"] == pytest.approx(2 / 3)
    lines = [json.loads(line) for line in (tmp_path / "subset.jsonl").read_text().splitlines()]
    assert lines == [{"token": "stuck0", "mean": 0.0, "var": 0.0, "category": "hard"},
                     {"token": "stuck1", "mean": 0.0, "var": 0.0, "category": "hard"},
                     {"token": "coin", "mean": 0.45, "var": 0.2025, "category": "ambiguous"}]
    assert _subset_tokens(tmp_path / "subset.jsonl") == {"stuck0", "stuck1", "coin"}
    assert json.loads((tmp_path / "stats.json").read_text()) == stats
    assert (tmp_path / "scatter.png").stat().st_size > 10_000


def test_select_hard_keeps_persistent_failures_and_resumes(generated, tmp_path):
    """Constant velocity as the rollout policy: it never brakes, so the stopped-lead scenes fail every
    sample (hard), while it follows lanes and curves well (mastered)."""
    argv = ["--config", str(ROOT / "configs" / "curation.yaml"), "--set", "policy=constant_velocity",
            "--set", "checkpoint=null", "--set", f"scene_dir={generated}", "--set", "split=all",
            "--set", "samples=2", "--set", f"output_dir={tmp_path}"]
    script.main(argv)
    stats = json.loads((tmp_path / "stats.json").read_text())
    fam = stats["by_family"]
    assert fam["stopped_lead"]["kept"] == fam["stopped_lead"]["input"] == 2
    assert fam["stopped_lead"]["kept_share"] > fam["stopped_lead"]["input_share"]
    assert stats["kept_total"] + stats["dropped_mastered"] == stats["scenes"] == 6
    records = tmp_path / "records" / "shard-000-of-001.jsonl"
    before = records.read_bytes()
    script.main(argv + ["--set", "variance_threshold=0.02"])  # re-select from the rollouts on disk
    assert records.read_bytes() == before
    assert json.loads((tmp_path / "stats.json").read_text())["thresholds"]["variance_threshold"] == 0.02
