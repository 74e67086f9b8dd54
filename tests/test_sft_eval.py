"""The SFT checks on oracle policies: ground-truth answers, garbage, and echoing the too-fast answer."""

import json
import re

import numpy as np
import pytest

from elfrl.cli import main
from elfrl.data.cot import scene_cot
from elfrl.data.labels import gt_poses
from elfrl.data.output import format_output
from elfrl.training.sft_eval import FAST_FACTOR, HeldOut, evaluate_answers, evaluate_feedback_direction




def ground_truth(scenes):
    """Answers the scenes in order with their ground truth, whatever the prompt."""
    answers = iter([format_output(scene_cot(s)[0], gt_poses(s)) for s in scenes])
    return lambda images, prompts: [next(answers) for _ in prompts]


def test_ground_truth_scores_like_the_expert(generated):
    held = HeldOut.load(generated, "train")
    result = evaluate_answers(ground_truth(held.scenes), held, batch_size=4)
    assert result["scenes"] == len(held.rows) and result["parsable"] == 1.0
    # the answer rounds the logged trajectory to 2 decimals: the score moves by at most rounding
    assert result["pdms"] == pytest.approx(result["expert_pdms"], abs=0.01)
    assert result["constant_velocity_pdms"] == pytest.approx(np.mean([r["constant_velocity_pdms"] for r in held.rows]))


def test_garbage_scores_zero(generated):
    held = HeldOut.load(generated, "train")
    result = evaluate_answers(lambda images, prompts: ["<think>no</think>"] * len(prompts), held)
    assert result["parsable"] == 0.0 and result["pdms"] == 0.0


def test_feedback_direction(generated):
    held = HeldOut.load(generated, "train")
    moving = [s for s in held.scenes if gt_poses(s)[-1, 0] >= 5.0]
    assert moving, "the fixture needs scenes that move"

    def echo(images, prompts):  # repeats its previous (too fast) response: ignores the feedback
        texts = [p[-1]["content"][-1]["text"] for p in prompts]
        return [re.search(r"Your previous response:\n(.*?)\n\nFeedback:", t, re.S).group(1) for t in texts]

    ignored = evaluate_feedback_direction(echo, held)
    assert held.feedback_cases() is held.feedback_cases()  # built once, reused for every student
    assert ignored == {"cases": len(moving), "followed": 0.0, "parsable": 1.0}
    followed = evaluate_feedback_direction(ground_truth(moving), held, batch_size=2)
    assert followed == {"cases": len(moving), "followed": 1.0, "parsable": 1.0}


def test_feedback_prompt_names_the_speed_problem(generated):
    held = HeldOut.load(generated, "train")
    seen = []

    def record(images, prompts):
        seen.extend(p[-1]["content"][-1]["text"] for p in prompts)
        return [""] * len(prompts)

    evaluate_feedback_direction(record, held)
    scene = next(s for s in held.scenes if gt_poses(s)[-1, 0] >= 5.0)
    fast_x = gt_poses(scene)[-1, 0] * FAST_FACTOR
    assert any(f"{fast_x:.2f}, " in text for text in seen)  # the too-fast answer is shown verbatim
    assert all("Correction: " in text for text in seen)


def test_bad_scene_dirs(tmp_path, generated):
    with pytest.raises(FileNotFoundError, match="elfrl scenes generate"):
        HeldOut.load(tmp_path)
    with pytest.raises(ValueError, match="has no nope scenes"):
        HeldOut.load(generated, "nope")
    bare = tmp_path / "bare"
    assert main(["scenes", "generate", "--n", "1", "--out", str(bare), "--no-images", "--workers", "1"]) == 0
    split = json.loads((bare / "manifest.jsonl").read_text().splitlines()[0])["split"]
    with pytest.raises(ValueError, match=f"has no {split} scenes with images"):
        HeldOut.load(bare, split)
