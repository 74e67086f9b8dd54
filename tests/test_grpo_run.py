"""launch/grpo_feedback.py's recipe on the tiny student: smoke run, exact resume, the NaN/inf guard, bad input."""

import json

import pytest
import torch
from transformers import TrainerCallback

from elfrl.config import ConfigError, load_config
from elfrl.models import build_tiny_student, load_student
from elfrl.trainer import trainer as trainer_module
from elfrl.trainer.callbacks import read_metrics
from elfrl.trainer.config import GRPOFeedbackConfig
from elfrl.trainer.recipe import build_scenes, build_trainer, build_training_args, resume_arg, run
from elfrl.trainer.trainer import NonFiniteTrainingError

# Keys that measure the machine, not the run: they may differ between two identical runs.
TIMING = ("step_time", "tokens_per_s")


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    path = tmp_path_factory.mktemp("student") / "tiny"
    build_tiny_student(path, seed=0)
    return path


def _cfg(student, generated, out, **extra):
    split = json.loads((generated / "manifest.jsonl").read_text().splitlines()[0])["split"]
    base = dict(model=student, scenes=generated, split=split, output_dir=out, feedback_mode="gt", group_size=2,
                num_refinements=1, max_steps=4, num_iterations=2, learning_rate=1e-3, temperature=1.0,
                max_completion_length=24, use_cpu=True, seed=3, save_steps=2)
    return GRPOFeedbackConfig(**{**base, **extra})


def _train(cfg, callbacks=()):
    args = build_training_args(cfg)
    model, processor = load_student(cfg.model)
    scenes, dataset = build_scenes(cfg.scenes, cfg.split)
    trainer = build_trainer(cfg, args, model, processor, scenes, dataset, None)
    for cb in callbacks:
        trainer.add_callback(cb)
    trainer.train(resume_from_checkpoint=resume_arg(cfg.resume_from_checkpoint))
    return trainer


def _comparable(rows):
    return [{k: v for k, v in r.items() if k not in TIMING and not k.startswith("time/")} for r in rows]


class StopAfterSave(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        raise KeyboardInterrupt(f"simulated crash after saving step {state.global_step}")


def test_a_resumed_run_reproduces_the_uninterrupted_run(student, generated, tmp_path):
    full = _train(_cfg(student, generated, tmp_path / "full", save_steps=None))
    with pytest.raises(KeyboardInterrupt):
        _train(_cfg(student, generated, tmp_path / "cut"), [StopAfterSave()])
    assert (tmp_path / "cut" / "checkpoint-2").is_dir()
    resumed = _train(_cfg(student, generated, tmp_path / "cut", resume_from_checkpoint="latest"))
    a = _comparable(read_metrics(tmp_path / "full" / "metrics.jsonl"))
    b = _comparable(read_metrics(tmp_path / "cut" / "metrics.jsonl"))
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    assert a == b  # every logged value, step for step: losses, KL, clip fraction, rewards, acceptance
    assert any(r.get("loss") for r in a)  # and the run did learn something (the gt mode has a non-zero loss)
    for (name, p), q in zip(full.model.named_parameters(), resumed.model.parameters()):
        assert torch.equal(p, q), name


def test_smoke_run_writes_its_outputs_and_changes_the_weights(student, generated, tmp_path):
    cfg = _cfg(student, generated, tmp_path / "run", max_steps=2, save_steps=None, eval_scenes=1)
    before = {n: p.clone() for n, p in load_student(student)[0].named_parameters()}
    report = run(cfg)
    assert report.steps == 2 and report.before is not None and report.after is not None
    for name in ("metrics.jsonl", "summary.json", "curves.png", "final/config.json"):
        assert (tmp_path / "run" / name).is_file(), name
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    documented = ["reward/pdms", "reward/format", "reward/goal", "failure/all_fail_pdms", "failure/all_fail_dac",
                  "failure/all_fail_nc", "feedback/teacher_calls", "feedback/fallbacks", "feedback/refined_accepted",
                  "loss", "kl", "clip_frac", "shaped_ratio_mean", "time/generate", "time/score", "time/teacher",
                  "time/refine", "time/update", "tokens_per_s"]
    assert not [k for k in documented if k not in rows[0]]
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in rows)
    after = dict(load_student(tmp_path / "run" / "final")[0].named_parameters())
    assert any(not torch.equal(before[n], after[n]) for n in before)


def test_non_finite_steps_are_skipped_and_training_stops(student, generated, tmp_path, monkeypatch):
    real = trainer_module.feedback_grpo_loss

    def poisoned(*args, **kwargs):
        terms = real(*args, **kwargs)
        return terms._replace(loss=terms.loss * float("nan"))

    monkeypatch.setattr(trainer_module, "feedback_grpo_loss", poisoned)
    initial = {n: p.clone() for n, p in load_student(student)[0].named_parameters()}
    cfg = _cfg(student, generated, tmp_path / "nan", save_steps=None, max_nonfinite_steps=2, max_steps=5)
    holder = {}

    class Keep(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            holder["model"] = model

    with pytest.raises(NonFiniteTrainingError, match="2 optimizer steps in a row"):
        _train(cfg, [Keep()])
    for name, p in holder["model"].named_parameters():
        assert torch.equal(p, initial[name]), f"{name} changed during skipped steps"
    rows = read_metrics(tmp_path / "nan" / "metrics.jsonl")
    assert rows[0]["nonfinite/skipped"] == 1.0


def test_bad_configs_say_what_to_fix(student, generated, tmp_path):
    with pytest.raises(ConfigError, match="save_steps"):
        load_config(GRPOFeedbackConfig, None, [f"model={student}", f"scenes={generated}", f"output_dir={tmp_path}",
                                               "save_steps=3", "num_iterations=2"])
    with pytest.raises(FileNotFoundError, match="manifest.jsonl does not exist"):
        build_scenes(tmp_path, "train")
    subset = tmp_path / "subset.jsonl"
    subset.write_text(json.dumps({"token": "synth_nothing_0_00000"}) + "\n")
    with pytest.raises(ConfigError, match="not train scenes"):
        build_scenes(generated, "train", subset)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run(_cfg(tmp_path / "missing", generated, tmp_path / "out"))
