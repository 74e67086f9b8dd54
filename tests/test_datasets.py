"""SFT rows from generated scenes: trajectory, QA and feedback-refinement samples."""

import json
import shutil

import numpy as np
import pytest

from elfrl.cli import main
from elfrl.data.datasets import (
    analytic_feedback,
    build_sft_data,
    feedback_rows,
    load_sft_dataset,
    qa_rows,
    trajectory_row,
)
from elfrl.data.labels import gt_poses
from elfrl.data.output import format_output, parse_output
from elfrl.scene import read_scenes
from elfrl.scoring import PDMScorer




def test_trajectory_row_targets_the_ground_truth(generated):
    (scene,) = read_scenes(next((generated / "scenes").glob("*.json")))
    row = trajectory_row(scene, "img.png")
    answer = parse_output(row["completion"][0]["content"][0]["text"])
    assert answer.ok and row["images"] == ["img.png"] and row["kind"] == "trajectory"
    np.testing.assert_allclose(answer.poses, np.round(gt_poses(scene), 2))
    assert answer.think.startswith("CIPO-1: ")
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert row["prompt"][1]["content"][0] == {"type": "image"}


def test_feedback_rows_split_by_tau(generated):
    scorer = PDMScorer()
    scene = next(s for p in (generated / "scenes").glob("*.json") for s in read_scenes(p) if "stopped_lead" in s.token)
    gt = gt_poses(scene)
    cot = "x"
    crash = gt * [1.0, 1.0, 1.0]
    crash[:, 0] = scene.ego.vx * np.arange(1, 9) * 0.5  # constant velocity: hits the stopped car
    rows = feedback_rows(scene, "i.png", [format_output(cot, gt), format_output(cot, crash), "garbage"], scorer)
    assert len(rows) == 2  # the unparsable response gives no sample
    good, bad = (r["prompt"][1]["content"][1]["text"] for r in rows)
    assert "Keep it." in good
    assert "at-fault collision with stopped_car" in bad and "Correction: decelerate" in bad
    target = parse_output(rows[1]["completion"][0]["content"][0]["text"])
    np.testing.assert_allclose(target.poses, np.round(gt, 2))


def test_analytic_feedback_names_what_failed(generated):
    scorer = PDMScorer()
    (scene,) = read_scenes(next((generated / "scenes").glob("*stopped_lead*.json")))
    crash = gt_poses(scene).copy()
    crash[:, 0] = scene.ego.vx * np.arange(1, 9) * 0.5
    crash[:, 1:] = 0.0
    scores = scorer.score(scene, crash[None], ("v1",)).pdms_v1
    text = analytic_feedback(scene, scores, 0, crash, format_output("x", crash))
    assert text.startswith("Your trajectory scores PDMS 0.00.")
    assert "Safety: at-fault collision with stopped_car" in text
    assert "Meta action: yours maintain, keep lane; correct " in text
    assert "Correction: decelerate to " in text or "Correction: stop to " in text


def test_build_and_load(generated, tmp_path):
    counts = build_sft_data(generated, tmp_path / "sft")
    n_train = sum(1 for line in (generated / "manifest.jsonl").read_text().splitlines() if '"train"' in line)
    assert counts["train"]["trajectory"] == n_train and counts["train"]["qa"] == 3 * n_train
    assert counts["train"]["feedback"] >= n_train  # the perturbed responder's answers all parse
    ds = load_sft_dataset(tmp_path / "sft", "train", kinds=["trajectory", "qa"])
    assert len(ds) == 4 * n_train and ds[0]["images"][0].size == (256, 144)
    assert json.loads((tmp_path / "sft" / "counts.json").read_text()) == counts


def test_data_moves_with_its_scenes(generated, tmp_path):
    shutil.copytree(generated, tmp_path / "a" / "scenes")
    build_sft_data(tmp_path / "a" / "scenes", tmp_path / "a" / "sft")
    first = json.loads((tmp_path / "a" / "sft" / "train.jsonl").read_text().splitlines()[0])
    assert first["images"][0].startswith("../scenes/images/")
    shutil.move(tmp_path / "a", tmp_path / "b")
    moved = load_sft_dataset(tmp_path / "b" / "sft", "train", kinds=["trajectory"])
    assert moved[0]["images"][0].size == (256, 144)
    shutil.rmtree(tmp_path / "b" / "scenes")
    with pytest.raises(FileNotFoundError, match="keep the scene directory where it was"):
        load_sft_dataset(tmp_path / "b" / "sft", "train", kinds=["trajectory"])


def test_qa_per_scene_rotates_the_questions(generated):
    (scene,) = read_scenes(next((generated / "scenes").glob("*.json")))
    every = [r["completion"][0]["content"][0]["text"] for r in qa_rows(scene, "i.png")]
    one = [r["completion"][0]["content"][0]["text"] for r in qa_rows(scene, "i.png", 1)]
    two = [r["completion"][0]["content"][0]["text"] for r in qa_rows(scene, "i.png", 2)]
    assert len(every) == 3 and one == two[:1] and set(two) < set(every) and qa_rows(scene, "i.png", 0) == []
    with pytest.raises(ValueError, match="between 0 and 3"):
        qa_rows(scene, "i.png", 4)


def test_cli_builds_the_rows(generated, tmp_path, capsys):
    assert main(["sft-data", "--scenes", str(generated), "--out", str(tmp_path / "sft"), "--qa-per-scene", "1"]) == 0
    counts = json.loads((tmp_path / "sft" / "counts.json").read_text())
    assert counts["train"]["qa"] == counts["train"]["trajectory"]
    assert "SFT rows in" in capsys.readouterr().err
    assert main(["sft-data", "--scenes", str(tmp_path / "none"), "--out", str(tmp_path / "x")]) == 2
    assert "elfrl scenes generate" in capsys.readouterr().err


def test_errors(generated, tmp_path):
    with pytest.raises(FileNotFoundError, match="build it with"):
        load_sft_dataset(tmp_path, "train")
    build_sft_data(generated, tmp_path / "sft")
    with pytest.raises(ValueError, match="no rows of kinds"):
        load_sft_dataset(tmp_path / "sft", "train", kinds=["nope"])
    bare = tmp_path / "bare"
    args = ["scenes", "generate", "--n", "1", "--out", str(bare), "--no-images", "--workers", "1"]
    assert main(args) == 0
    with pytest.raises(ValueError, match="has no images"):
        build_sft_data(bare, tmp_path / "sft2")
