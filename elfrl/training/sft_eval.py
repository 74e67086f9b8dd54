"""How good is a student after SFT: parsable answers, PDMS against the constant-velocity
baseline on held-out scenes, and whether a refinement moves the way the feedback asks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from elfrl.data.cot import scene_cot
from elfrl.data.datasets import analytic_feedback
from elfrl.data.labels import gt_poses
from elfrl.data.output import format_output, parse_output
from elfrl.data.prompts import base_input, base_messages, feedback_messages
from elfrl.models.generation import generate
from elfrl.scene import read_scenes
from elfrl.scoring import PDMScorer

MAX_NEW_TOKENS = 200


def _held_out(scene_dir: Path, split: str, limit: Optional[int]):
    rows = [json.loads(line) for line in (scene_dir / "manifest.jsonl").read_text().splitlines() if line]
    rows = [r for r in rows if r["split"] == split and r.get("images")][:limit]
    if not rows:
        raise ValueError(f"{scene_dir} has no {split} scenes with images")
    scenes = [read_scenes(scene_dir / r["scene"])[0] for r in rows]
    images = [Image.open(scene_dir / r["images"][0]).convert("RGB") for r in rows]
    return rows, scenes, images


def evaluate_answers(model, processor, scene_dir: Path, split: str = "test", limit: Optional[int] = None,
                     batch_size: int = 8, scorer: Optional[PDMScorer] = None) -> dict:
    """Greedy answers on the split's scenes: share parsable, mean PDMS v1.1 (unparsable = 0),
    against the constant-velocity baseline recorded in the manifest."""
    scorer = scorer or PDMScorer()
    rows, scenes, images = _held_out(Path(scene_dir), split, limit)
    pdms, parsable = [], []
    for start in range(0, len(scenes), batch_size):
        chunk = slice(start, start + batch_size)
        prompts = [base_messages(base_input(s)) for s in scenes[chunk]]
        for scene, text in zip(scenes[chunk], generate(model, processor, images[chunk], prompts, MAX_NEW_TOKENS)):
            out = parse_output(text)
            parsable.append(out.poses is not None)
            ok = out.poses is not None
            pdms.append(float(scorer.score(scene, out.poses[None], ("v1",)).pdms_v1.score[0]) if ok else 0.0)
    return {
        "scenes": len(scenes),
        "parsable": float(np.mean(parsable)),
        "pdms": float(np.mean(pdms)),
        "constant_velocity_pdms": float(np.mean([r["constant_velocity_pdms"] for r in rows])),
        "expert_pdms": float(np.mean([r["expert_pdms"] for r in rows])),
    }


def evaluate_feedback_direction(model, processor, scene_dir: Path, split: str = "test", limit: Optional[int] = None,
                                batch_size: int = 8, scorer: Optional[PDMScorer] = None) -> dict:
    """Feedback cases: a too-fast answer (the ground truth stretched 1.4x) gets the analytic
    diagnosis; the refinement follows the feedback when its 4 s point ends closer to the ground
    truth's along x than the too-fast answer did (it slowed down as asked)."""
    scorer = scorer or PDMScorer()
    _, scenes, images = _held_out(Path(scene_dir), split, limit)
    cases = []
    for scene, image in zip(scenes, images):
        gt = gt_poses(scene)
        if gt[-1, 0] < 5.0:  # standing still: "faster than the truth" is not a meaningful error
            continue
        fast = gt * [1.4, 1.0, 1.0]
        scores = scorer.score(scene, fast[None], ("v1",)).pdms_v1
        cot, _ = scene_cot(scene, fast)
        prompt = feedback_messages(base_input(scene), format_output(cot, fast), analytic_feedback(scene, scores, 0, fast))
        cases.append((image, prompt, fast[-1, 0], gt[-1, 0]))
    followed, parsable = [], []
    for start in range(0, len(cases), batch_size):
        chunk = cases[start : start + batch_size]
        texts = generate(model, processor, [c[0] for c in chunk], [c[1] for c in chunk], MAX_NEW_TOKENS)
        for (_, _, fast_x, gt_x), text in zip(chunk, texts):
            out = parse_output(text)
            parsable.append(out.poses is not None)
            followed.append(out.poses is not None and abs(out.poses[-1, 0] - gt_x) < abs(fast_x - gt_x))
    n = len(cases)
    return {"cases": n, "followed": float(np.mean(followed)) if n else 0.0, "parsable": float(np.mean(parsable)) if n else 0.0}
