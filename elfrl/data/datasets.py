"""SFT data from scene packs (ELF-VLA §3.2): trajectory + CoT samples, feedback-refinement
samples, and driving QA for stage 1.

Rows use TRL's conversational prompt-completion format for VLMs, with the front image beside:

    {"token", "kind": "trajectory" | "feedback" | "qa", "images": ["../scenes/images/T/CAM_F0_0.png"],
     "prompt": [system, user(image + text)], "completion": [assistant(text)]}

Image paths are relative to the data directory (absolute ones are kept), so a data directory
moved together with its scene directory still loads; `load_sft_dataset` resolves them.

Feedback-refinement samples (stage 2): answers are sampled from a student (any callable
`responder(scene) -> list[str]`), scored with PDMS v1.1; a correct answer (PDMS >= tau) gets the
rule-based positive feedback, a wrong one the analytic teacher's rendered report
(`analytic_feedback`, elfrl.feedback): the same text the trainer's in-process teacher gives during
feedback GRPO, so SFT and RL read one diagnosis format. The target is always the ground
truth. `perturbed_responder` imitates student errors (too fast, too slow, drifting) for data
built before a student exists.
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from elfrl.data.cot import CotFacts, scene_cot
from elfrl.data.labels import gt_poses
from elfrl.data.output import format_output, parse_output
from elfrl.data.prompts import (
    base_input,
    base_messages,
    feedback_messages,
    positive_feedback,
    scene_answer,
    target_text,
)
from elfrl.feedback import analytic_report, build_case, render_feedback
from elfrl.scene.schema import Scene
from elfrl.scoring import PDMScorer, VersionScores

DEFAULT_TAU = 0.8
Responder = Callable[[Scene], Sequence[str]]


def content_blocks(messages: list[dict]) -> list[dict]:
    """Every content as a list of typed blocks (Arrow needs one type per column)."""
    return [
        {**m, "content": [{"type": "text", "text": m["content"]}] if isinstance(m["content"], str) else m["content"]}
        for m in messages
    ]


def _row(scene: Scene, kind: str, image: str, prompt: list[dict], answer: str) -> dict:
    return {
        "token": scene.token,
        "kind": kind,
        "images": [image],
        "prompt": content_blocks(prompt),
        "completion": [{"role": "assistant", "content": [{"type": "text", "text": answer}]}],
    }


def trajectory_row(scene: Scene, image: str, poses: Optional[np.ndarray] = None) -> dict:
    """Base input -> `<think>CoT</think><answer>poses</answer>`: the ground truth unless `poses` is given (the CoT
    then describes those poses, e.g. to make a student that drives on into a stopped car)."""
    return _row(scene, "trajectory", image, base_messages(base_input(scene)), scene_answer(scene, poses))


QA_KINDS = 3  # questions per scene: the closest in-path object, the light, the meta action


def qa_rows(scene: Scene, image: str, per_scene: int = QA_KINDS) -> list[dict]:
    """Driving QA from scene facts (stage 1): the closest in-path object, the light, the meta action.

    With `per_scene` < 3 the questions rotate over scenes (the first one asked is picked by a CRC of
    the token), so a dataset still covers every question evenly while its QA share shrinks."""
    if not 0 <= per_scene <= QA_KINDS:
        raise ValueError(f"per_scene must be between 0 and {QA_KINDS}, got {per_scene}")
    _, facts = scene_cot(scene)
    qa = [
        ("What is the closest object in your path?", _object_answer(facts)),
        ("What is the traffic light state on your route?", f"Light: {facts.light.state if facts.light else 'none'}."),
        ("Which meta action fits this scene?", f"Meta action: {facts.meta.text}."),
    ]
    first = zlib.crc32(scene.token.encode()) % QA_KINDS
    qa = [qa[(first + j) % QA_KINDS] for j in range(per_scene)]
    rows = []
    for question, answer in qa:
        prompt = base_messages(base_input(scene))
        prompt[-1]["content"][-1]["text"] = question
        rows.append(_row(scene, "qa", image, prompt, answer))
    return rows


def _object_answer(facts: CotFacts) -> str:
    if facts.cipo1 is None:
        return "CIPO-1: none."
    return f"CIPO-1: {facts.cipo1.type} {facts.cipo1.ahead:.1f} m ahead, {facts.cipo1.lateral:.1f} m lateral."


def analytic_feedback(scene: Scene, scores: VersionScores, i: int, poses: np.ndarray, response: str) -> str:
    """The analytic teacher's rendered report on wrong answer i: the same diagnosis text the student
    reads during feedback GRPO (elfrl.feedback: case -> report -> render_feedback)."""
    case = build_case(scene, response, poses, scores, i, case_id=f"{scene.token}:sft:{i}")
    return render_feedback(analytic_report(case), float(scores.score[i]))


def feedback_rows(
    scene: Scene, image: str, responses: Sequence[str], scorer: PDMScorer, tau: float = DEFAULT_TAU
) -> list[dict]:
    """One refinement sample per parsable response: feedback input -> the ground-truth answer."""
    parsed = [parse_output(r) for r in responses]
    ok = [i for i, p in enumerate(parsed) if p.poses is not None]
    if not ok:
        return []
    scores = scorer.score(scene, np.stack([parsed[i].poses for i in ok]), versions=("v1",)).pdms_v1
    cot, _ = scene_cot(scene)
    answer = target_text(cot, gt_poses(scene))
    rows = []
    for j, i in enumerate(ok):
        pdms = float(scores.score[j])
        feedback = (
            positive_feedback(pdms, tau) if pdms >= tau else analytic_feedback(scene, scores, j, parsed[i].poses, responses[i])
        )
        prompt = feedback_messages(base_input(scene), responses[i], feedback)
        rows.append(_row(scene, "feedback", image, prompt, answer))
    return rows


def perturbed_responder(seed: int = 0) -> Responder:
    """Answers imitating a student's typical errors, for stage-2 data before a student exists:
    the ground truth itself, 40% too slow, 40% too fast, and drifting 2 m sideways."""
    rng = np.random.default_rng(seed)

    def respond(scene: Scene) -> list[str]:
        cot, _ = scene_cot(scene)
        gt = gt_poses(scene)
        t = np.arange(1, 9)[:, None] / 8.0
        variants = [gt, gt * [0.6, 0.6, 0.6], gt * [1.4, 1.0, 1.0], gt + t * [0.0, rng.choice([-2.0, 2.0]), 0.0]]
        return [format_output(cot, v) for v in variants]

    return respond


def build_sft_data(
    scene_dir: Path,
    out_dir: Path,
    responder: Optional[Responder] = None,
    scorer: Optional[PDMScorer] = None,
    qa_per_scene: int = QA_KINDS,
    progress: Optional[Callable[[], None]] = None,
) -> dict:
    """Rows for every scene of a generated dataset (its manifest.jsonl): train.jsonl from the
    train split, val.jsonl from the test split. Returns counts per split and kind.

    Per scene: one trajectory row, `qa_per_scene` QA rows (see `qa_rows`) and one feedback row per
    parsable answer of `responder` (default: `perturbed_responder`). `progress()` is called once
    per scene."""
    from elfrl.scene import read_manifest, read_scenes

    scene_dir, out_dir = Path(scene_dir), Path(out_dir)
    manifest = read_manifest(scene_dir)
    if not manifest:
        raise ValueError(f"{scene_dir / 'manifest.jsonl'} lists no scenes")
    scorer = scorer or PDMScorer()
    responder = responder or perturbed_responder()
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, dict[str, int]] = {}
    files = {"train": open(out_dir / "train.jsonl", "w"), "test": open(out_dir / "val.jsonl", "w")}
    try:
        for entry in manifest:
            if not entry.get("images"):
                raise ValueError(f"scene {entry['token']} has no images: generate scenes without --no-images")
            (scene,) = read_scenes(scene_dir / entry["scene"])
            image = os.path.relpath((scene_dir / entry["images"][0]).resolve(), out_dir.resolve())
            rows = [trajectory_row(scene, image), *qa_rows(scene, image, qa_per_scene)]
            rows += feedback_rows(scene, image, responder(scene), scorer)
            for row in rows:
                files[entry["split"]].write(json.dumps(row) + "\n")
                split = counts.setdefault(entry["split"], {})
                split[row["kind"]] = split.get(row["kind"], 0) + 1
            if progress is not None:
                progress()
    finally:
        for fh in files.values():
            fh.close()
    (out_dir / "counts.json").write_text(json.dumps(counts, indent=1) + "\n")
    return counts


def load_sft_dataset(dataset_dir: Path, split: str, kinds: Optional[Sequence[str]] = None):
    """`datasets.Dataset` of DIR/{split}.jsonl with the images column decoded to PIL images."""
    import datasets

    path = Path(dataset_dir) / f"{split}.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: build it with elfrl.data.datasets.build_sft_data")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line]
    if kinds is not None:
        rows = [r for r in rows if r["kind"] in kinds]
    if not rows:
        raise ValueError(f"{path} has no rows of kinds {list(kinds or [])}")
    for row in rows:
        row["images"] = [_image_path(Path(dataset_dir), image, path) for image in row["images"]]
    ds = datasets.Dataset.from_list(rows)
    return ds.cast_column("images", datasets.Sequence(datasets.Image()))


def _image_path(dataset_dir: Path, image: str, source: Path) -> str:
    resolved = dataset_dir / image  # an absolute `image` stays as it is
    if not resolved.is_file():
        raise FileNotFoundError(
            f"{source} names image {image!r}, but {resolved} does not exist; image paths are relative to "
            f"{dataset_dir}: keep the scene directory where it was when the data was built, or rebuild the data"
        )
    return str(resolved)
