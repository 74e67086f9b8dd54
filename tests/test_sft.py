"""SFT stages: a two-step smoke run per demo config on a tiny in-test dataset, and clear config errors."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from elfrl.config import ConfigError, load_config
from elfrl.models import generate, load_student
from elfrl.training.sft import SFTStageConfig, build_training_args, select_kinds

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
_spec = importlib.util.spec_from_file_location("launch_sft", ROOT / "launch" / "sft.py")
recipe = importlib.util.module_from_spec(_spec)  # launch/sft.py: recipes are scripts, not a package
_spec.loader.exec_module(recipe)

KINDS = ["trajectory", "qa", "feedback"]
SYSTEM = "You are the planner of an autonomous vehicle."
ANSWER = (
    "<think>Meta action: speed maintain, path keep lane.</think>"
    "<answer>[[1.00, 0.00, 0.00], [2.00, 0.00, 0.00]]</answer>"
)


def _row(i: int, image: Path) -> dict:
    """One row in elfrl.data.datasets' format: TRL conversational prompt-completion + images."""
    kind = KINDS[i % 3]
    question = {"qa": "What is the closest object in your path?", "feedback": "Feedback: too fast. Plan again."}
    text = question.get(kind, "Command: turn left.")
    return {
        "token": f"scene_{i}",
        "kind": kind,
        "images": [str(image)],
        "prompt": [
            {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]},
        ],
        "completion": [
            {"role": "assistant", "content": [{"type": "text", "text": "CIPO-1: none." if kind == "qa" else ANSWER}]}
        ],
    }


@pytest.fixture(scope="module")
def sft_data(tmp_path_factory) -> Path:
    """train.jsonl (9 rows) and val.jsonl (3 rows) with random 64x64 PNG front images."""
    root = tmp_path_factory.mktemp("sft_data")
    rng = np.random.default_rng(0)
    for split, n in (("train", 9), ("val", 3)):
        rows = []
        for i in range(n):
            image = root / "images" / f"{split}_{i}" / "CAM_F0_0.png"
            image.parent.mkdir(parents=True)
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(image)
            rows.append(_row(i, image))
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture(scope="module")
def stage1_out(sft_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stage1")
    recipe.main(["--config", str(CONFIGS / "demo/sft_stage1.yaml"), *_smoke(sft_data, out)])
    return out


def _smoke(data: Path, out: Path) -> list[str]:
    sets = [f"dataset={data}", f"output_dir={out}", "max_steps=2", "per_device_train_batch_size=2", "logging_steps=1"]
    return [arg for s in sets for arg in ("--set", s)]


def _params(directory: Path) -> dict[str, torch.Tensor]:
    model, _ = load_student(directory)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _check_run(out: Path, start: Path, kinds: list[str]) -> None:
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 2 and metrics["kinds"] == kinds
    assert metrics["train_rows"] == 3 * len(kinds) and metrics["eval_rows"] == len(kinds)  # 3 / 1 rows per kind
    assert [p["step"] for p in metrics["train_loss"]] == [1, 2]
    assert all(math.isfinite(p["loss"]) and p["loss"] > 0 for p in metrics["train_loss"])
    assert math.isfinite(metrics["eval_loss"])
    assert (out / "loss_curve.png").stat().st_size > 0

    before, after = _params(start), _params(out / "final")
    assert before.keys() == after.keys()
    assert all(torch.isfinite(v).all() for v in after.values())
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert "lm_head.weight" in changed
    assert any(k.startswith("model.vision_tower.") for k in changed), "the vision tower got no update"

    model, processor = load_student(out / "final")
    image = Image.fromarray(np.zeros((64, 64, 3), dtype=np.uint8))
    (text,) = generate(model, processor, [image], ["Command: turn left."], max_new_tokens=8)
    assert isinstance(text, str)


def test_stage1_demo_config_smoke(stage1_out):
    _check_run(stage1_out, stage1_out / "tiny_student", ["trajectory"])


def test_stage2_demo_config_smoke(stage1_out, sft_data, tmp_path):
    # The demo stage 2 starts from demo stage 1's final/; here from the smoke run's.
    config = str(CONFIGS / "demo/sft_stage2.yaml")
    recipe.main(["--config", config, *_smoke(sft_data, tmp_path), "--set", f"model={stage1_out / 'final'}"])
    _check_run(tmp_path, stage1_out / "final", ["trajectory", "feedback"])


# The real-scale stage configs, two steps on the CPU: only what needs a GPU, DeepSpeed or a real checkpoint
# is overridden; batch sizes, schedule, gradient checkpointing and the rest run as written.
CPU = ["bf16=false", "use_cpu=true", "deepspeed=null", "save_steps=null"]


def test_stage1_config_smoke(sft_data, tmp_path):
    overrides = [*CPU, "model=null", "tiny=true"]
    recipe.main(["--config", str(CONFIGS / "sft_stage1.yaml"), *_smoke(sft_data, tmp_path), *_sets(overrides)])
    _check_run(tmp_path, tmp_path / "tiny_student", ["trajectory", "qa"])


def test_stage2_config_smoke(stage1_out, sft_data, tmp_path):
    overrides = [*CPU, f"model={stage1_out / 'final'}"]
    recipe.main(["--config", str(CONFIGS / "sft_stage2.yaml"), *_smoke(sft_data, tmp_path), *_sets(overrides)])
    _check_run(tmp_path, stage1_out / "final", ["trajectory", "feedback"])


def _sets(overrides: list[str]) -> list[str]:
    return [arg for s in overrides for arg in ("--set", s)]


def test_select_kinds_keeps_only_the_wanted_rows(sft_data):
    from datasets import Dataset, Image as ImageFeature, Sequence

    rows = [json.loads(line) for line in (sft_data / "train.jsonl").read_text().splitlines()]
    ds = Dataset.from_list(rows).cast_column("images", Sequence(ImageFeature()))
    picked = select_kinds(ds, ["qa", "feedback"])
    assert sorted(set(picked["kind"])) == ["feedback", "qa"] and len(picked) == 6
    assert isinstance(picked[0]["images"][0], Image.Image)


# ---------------------------------------------------------------- config errors


def _demo(*overrides: str) -> SFTStageConfig:
    return load_config(SFTStageConfig, CONFIGS / "demo/sft_stage1.yaml", list(overrides))


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(ConfigError, match="unknown key 'learning_rat'.*did you mean 'learning_rate'"):
        _demo("learning_rat=0.1")


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model=some/dir"], "exactly one of `model`"),
        (["tiny=false"], "exactly one of `model`"),
        (["bf16=true"], "bf16 needs a CUDA GPU"),
        (["kinds=[qa, qa]"], "at most once"),
        (["kinds=[pretrain]"], "kinds"),
        (["max_steps=0"], "max_steps must be positive"),
    ],
)
def test_invalid_values_are_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        _demo(*overrides)


def test_deepspeed_without_the_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "deepspeed", None)  # `import deepspeed` raises ImportError
    cfg = _demo("deepspeed=configs/deepspeed/zero2.json")
    with pytest.raises(ConfigError, match=r"deepspeed package is not installed; install it with pip install"):
        build_training_args(cfg)


def test_bf16_without_a_gpu_says_what_to_set(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = _demo("use_cpu=false", "bf16=true")
    with pytest.raises(ConfigError, match="bf16=true needs a CUDA GPU and none is visible; set bf16=false"):
        build_training_args(cfg)


def test_recipe_requires_a_config(capsys):
    with pytest.raises(SystemExit):
        recipe.main([])
    assert "--config is required" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["zero2.json", "zero3.json"])
def test_deepspeed_configs_leave_sizes_to_the_trainer(name):
    ds = json.loads((CONFIGS / "deepspeed" / name).read_text())
    assert ds["zero_optimization"]["stage"] == int(name[4])
    assert ds["train_micro_batch_size_per_gpu"] == ds["gradient_accumulation_steps"] == "auto"
