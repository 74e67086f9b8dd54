"""How good is a student after SFT (`launch/sft_eval.py`): parsable answers and mean PDMS against the
constant-velocity baseline on held-out scenes, and whether a refinement moves the way the feedback asks.

Both checks take a `Respond` callable `(images, prompts) -> texts`, so they run on any policy:
`model_responder` wraps an HF student with greedy decoding; tests pass oracles.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
from PIL import Image

from elfrl.data.cot import scene_cot
from elfrl.data.datasets import analytic_feedback
from elfrl.data.labels import gt_poses
from elfrl.data.output import format_output, parse_output
from elfrl.data.prompts import base_input, base_messages, feedback_messages
from elfrl.models.generation import generate
from elfrl.scene import read_scenes
from elfrl.scene.schema import Scene
from elfrl.scoring import PDMScorer

MAX_NEW_TOKENS = 256  # the longest demo answer (CoT + 8 poses) is about 200 tokens
FAST_FACTOR = 1.4  # feedback cases: the ground truth stretched this much along x is "too fast"
MIN_TRAVEL_M = 5.0  # ...unless the ground truth travels less than this in 4 s

Respond = Callable[[Sequence[Image.Image], Sequence[list[dict]]], list[str]]


def model_responder(model, processor, max_new_tokens: int = MAX_NEW_TOKENS) -> Respond:
    """Greedy answers of an HF student (`elfrl.models.generation.generate`)."""
    return lambda images, prompts: generate(model, processor, images, prompts, max_new_tokens)


def held_out(scene_dir: Path, split: str = "test", limit: Optional[int] = None):
    """Manifest rows, scenes and front images of a generated dataset's split (first `limit`)."""
    manifest = Path(scene_dir) / "manifest.jsonl"
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest} does not exist: generate scenes with `elfrl scenes generate`")
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line]
    rows = [r for r in rows if r["split"] == split and r.get("images")][:limit]
    if not rows:
        raise ValueError(f"{scene_dir} has no {split} scenes with images")
    scenes = [read_scenes(Path(scene_dir) / r["scene"])[0] for r in rows]
    images = [Image.open(Path(scene_dir) / r["images"][0]).convert("RGB") for r in rows]
    return rows, scenes, images


def evaluate_answers(respond: Respond, scene_dir: Path, split: str = "test", limit: Optional[int] = None,
                     batch_size: int = 8, scorer: Optional[PDMScorer] = None) -> dict:
    """Answers on the split's scenes: share parsable, mean PDMS v1.1 (unparsable = 0), against the
    constant-velocity and expert PDMS recorded in the manifest."""
    scorer = scorer or PDMScorer()
    rows, scenes, images = held_out(Path(scene_dir), split, limit)
    pdms, parsable = [], []
    for start in range(0, len(scenes), batch_size):
        chunk = slice(start, start + batch_size)
        texts = respond(images[chunk], [base_messages(base_input(s)) for s in scenes[chunk]])
        for scene, text in zip(scenes[chunk], texts):
            poses = parse_output(text).poses
            parsable.append(poses is not None)
            pdms.append(0.0 if poses is None else float(scorer.score(scene, poses[None], ("v1",)).pdms_v1.score[0]))
    return {
        "scenes": len(scenes),
        "parsable": float(np.mean(parsable)),
        "pdms": float(np.mean(pdms)),
        "constant_velocity_pdms": float(np.mean([r["constant_velocity_pdms"] for r in rows])),
        "expert_pdms": float(np.mean([r["expert_pdms"] for r in rows])),
    }


def too_fast_case(scene: Scene, scorer: PDMScorer) -> Optional[tuple[list[dict], float, float]]:
    """The feedback input for a too-fast answer (the ground truth stretched FAST_FACTOR along x) with its
    analytic diagnosis, and the 4 s x of that answer and of the ground truth; None when the ground
    truth barely moves (then "faster than the truth" is not a meaningful error)."""
    gt = gt_poses(scene)
    if gt[-1, 0] < MIN_TRAVEL_M:
        return None
    fast = np.round(gt * [FAST_FACTOR, 1.0, 1.0], 2)  # as the answer text writes it
    scores = scorer.score(scene, fast[None], ("v1",)).pdms_v1
    cot, _ = scene_cot(scene, fast)
    prompt = feedback_messages(base_input(scene), format_output(cot, fast), analytic_feedback(scene, scores, 0, fast))
    return prompt, float(fast[-1, 0]), float(gt[-1, 0])


def evaluate_feedback_direction(respond: Respond, scene_dir: Path, split: str = "test",
                                limit: Optional[int] = None, batch_size: int = 8,
                                scorer: Optional[PDMScorer] = None) -> dict:
    """Too-fast answers get the analytic diagnosis; a refinement follows the feedback when its 4 s
    point ends closer to the ground truth's along x than the too-fast answer did (it slowed down)."""
    scorer = scorer or PDMScorer()
    _, scenes, images = held_out(Path(scene_dir), split, limit)
    cases = [(image, case) for scene, image in zip(scenes, images) if (case := too_fast_case(scene, scorer))]
    followed, parsable = [], []
    for start in range(0, len(cases), batch_size):
        chunk = cases[start : start + batch_size]
        texts = respond([image for image, _ in chunk], [case[0] for _, case in chunk])
        for (_, (_, fast_x, gt_x)), text in zip(chunk, texts):
            poses = parse_output(text).poses
            parsable.append(poses is not None)
            followed.append(poses is not None and abs(poses[-1, 0] - gt_x) < abs(fast_x - gt_x))
    n = len(cases)
    return {
        "cases": n,
        "followed": float(np.mean(followed)) if n else 0.0,
        "parsable": float(np.mean(parsable)) if n else 0.0,
    }
