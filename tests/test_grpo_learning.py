"""Feedback GRPO learns on persistent-failure scenes where plain GRPO cannot (ELF-VLA's motivation).

The tiny SFT student is trained in the fixture on two stopped-lead scenes, like ELF-VLA's two SFT stages
but small:
- trajectory rows: for every demonstration that brakes for the stopped car, nine that drive on into it at
  the current speed. The student knows the braking answer but ranks it low (about 0.1 on its first
  diverging token, " decelerate"), so at temperature 0.3 it never samples it: every rollout collides,
  every plain GRPO group has the same reward and no advantage.
- feedback rows: base input + the driving-on answer + the analytic teacher's report -> the braking answer.
  The teacher's report elicits the answer the student ranks low, the refinement beats the group, and
  policy shaping pulls it under the base prompt.

Log-probs are temperature-scaled as TRL (and verl, for LUFFY) compute them, so the shaped term sees
p = softmax(logits / 0.3). Measured at temperature 1 with a forward pass, " decelerate" has 0.12 here;
against the driving-on token's 0.88 that is about 1e-3 at 0.3 (estimated, two tokens): small enough
that sampling never finds it, large enough for f(p) = p / (p + 0.1) to lift it within 16 steps. On
scene seed 11 the fixture gives it 0.06 (about 1e-4 at 0.3): there 16 steps with beta 0.04 did not
flip the answer (the loss and KL stayed constant to 3 digits).
"""

import json
import os

import pytest
import torch

from elfrl.cli import main as cli
from elfrl.data.cot import scene_cot
from elfrl.data.datasets import feedback_rows, trajectory_row
from elfrl.data.output import format_output
from elfrl.feedback.cases import perturbations
from elfrl.models import load_student
from elfrl.scoring import PDMScorer
from elfrl.trainer.callbacks import read_metrics
from elfrl.trainer.config import GRPOFeedbackConfig
from elfrl.trainer.recipe import run
from elfrl.training.sft import SFTStageConfig, run_stage
from elfrl.training.sft_eval import HeldOut, evaluate_answers, model_responder

FAILING = 2  # stopped-lead scenes GRPO trains on
DRIVE_ON, BRAKE, REFINE = 9, 1, 5  # rows per scene: driving-on answers, braking answers, feedback refinements
SFT_STEPS = 300
GRPO_STEPS = 16  # 8 generating steps (num_iterations 2)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("learning")
    scenes = root / "scenes"
    assert cli(["scenes", "generate", "--n", "8", "--seed", "5", "--out", str(scenes), "--workers", "2",
                "--families", "stopped_lead"]) == 0
    held = HeldOut.load(scenes, "train", FAILING)  # the scenes GRPO trains on, and where it is evaluated
    assert len(held.scenes) == FAILING

    data, scorer, rows = root / "sft", PDMScorer(), []
    data.mkdir()
    for entry, scene in zip(held.rows, held.scenes):
        image = os.path.relpath(scenes / entry["images"][0], data)
        crash = perturbations(scene)["constant_velocity"]  # straight on at the current speed: into the car
        rows += [trajectory_row(scene, image, crash)] * DRIVE_ON + [trajectory_row(scene, image)] * BRAKE
        rows += feedback_rows(scene, image, [format_output(scene_cot(scene, crash)[0], crash)], scorer) * REFINE
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run_stage(SFTStageConfig(tiny=True, dataset=data, output_dir=root / "sft_out", kinds=["trajectory", "feedback"],
                             max_steps=SFT_STEPS, per_device_train_batch_size=4, learning_rate=3e-3,
                             lr_scheduler_type="constant_with_warmup", warmup_ratio=0.05, logging_steps=50,
                             use_cpu=True, seed=0))
    subset = root / "subset.jsonl"
    subset.write_text("".join(json.dumps({"token": r["token"]}) + "\n" for r in held.rows))
    return {"root": root, "scenes": scenes, "subset": subset, "student": root / "sft_out" / "final", "held": held}


def _greedy(model_dir, held) -> dict:
    model, processor = load_student(model_dir)
    return evaluate_answers(model_responder(model, processor), held)


def _grpo(world, mode):
    cfg = GRPOFeedbackConfig(
        model=world["student"], scenes=world["scenes"], subset=world["subset"], output_dir=world["root"] / mode,
        feedback_mode=mode, group_size=4, num_refinements=1, temperature=0.3, refine_temperature=0.0,
        scenes_per_step=2, max_steps=GRPO_STEPS, num_iterations=2, beta=0.04, learning_rate=3e-4,
        max_completion_length=256, save_steps=GRPO_STEPS, eval_scenes=None, use_cpu=True, seed=0,
    )
    run(cfg)
    return [r for r in read_metrics(world["root"] / mode / "metrics.jsonl") if "reward/pdms" in r]


def test_the_sft_student_fails_every_scene_with_a_parsable_answer(world):
    before = _greedy(world["student"], world["held"])
    assert before["parsable"] == 1.0 and before["pdms"] == 0.0


def test_plain_grpo_has_no_signal_and_does_not_move(world):
    generating = _grpo(world, "none")
    assert len(generating) == GRPO_STEPS // 2
    assert all(r["failure/all_fail_pdms"] == 1.0 and r["reward/pdms"] == 0.0 for r in generating)
    assert all("feedback/refined_accepted" not in r for r in generating)  # no slots, nothing to accept
    before, after = load_student(world["student"])[0], load_student(world["root"] / "none" / "final")[0]
    for (name, a), b in zip(before.state_dict().items(), after.state_dict().values()):
        assert torch.equal(a, b), name  # zero advantages, zero KL gradient at the reference: no update at all
    assert _greedy(world["root"] / "none" / "final", world["held"])["pdms"] == 0.0


def test_teacher_feedback_learns_where_plain_grpo_cannot(world):
    generating = _grpo(world, "teacher")
    assert generating[0]["failure/all_fail_pdms"] == 1.0  # the same all-failing groups as plain GRPO...
    assert generating[0]["feedback/refined_accepted"] == 1.0  # ...each gets a better refinement from the report
    assert max(r["reward/pdms"] for r in generating) > 0.9  # the student's own rollouts now brake
    after = _greedy(world["root"] / "teacher" / "final", world["held"])
    assert after["parsable"] == 1.0 and after["pdms"] > 0.9, after
