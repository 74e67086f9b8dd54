"""Failure cases from a generated scene set: perturbed answers scored with PDMS v1.1, the wrong ones
(below tau) packed with `build_case` (for offline report generation and tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from elfrl.data.labels import gt_poses
from elfrl.data.prompts import DEFAULT_TAU, scene_answer
from elfrl.feedback.analytic import SceneContext, build_case
from elfrl.feedback.report import FailureCase
from elfrl.scene import read_manifest, read_scenes
from elfrl.scene.schema import Scene
from elfrl.scoring import PDMScorer


def perturbations(scene: Scene) -> dict[str, np.ndarray]:
    """Typical student errors around the ground truth: too fast, too slow, standing, constant velocity, drifts."""
    gt = gt_poses(scene)
    t = np.arange(1, 9)[:, None] / 8.0
    cv = np.zeros_like(gt)
    cv[:, 0] = float(np.hypot(scene.ego.vx, scene.ego.vy)) * np.arange(1, 9) * 0.5
    out = {"fast": gt * [1.5, 1.0, 1.0], "very_fast": gt * [2.0, 1.0, 1.0], "slow": gt * [0.5, 0.5, 0.5],
           "stand_still": np.zeros_like(gt), "constant_velocity": cv}
    for metres in (2.0, 5.0):
        out[f"left_{metres:.0f}m"] = gt + t * [0.0, metres, 0.0]
        out[f"right_{metres:.0f}m"] = gt - t * [0.0, metres, 0.0]
    return out


def scene_failure_cases(scene: Scene, scorer: PDMScorer, tau: float = DEFAULT_TAU) -> list[FailureCase]:
    variants = perturbations(scene)
    names, poses = list(variants), np.stack(list(variants.values()))
    scores = scorer.score(scene, poses, ("v1",)).pdms_v1
    cases, context = [], SceneContext.of(scene)
    for i, name in enumerate(names):
        if scores.score[i] >= tau:
            continue
        response = scene_answer(scene, poses[i])
        cases.append(build_case(scene, response, poses[i], scores, i, f"{scene.token}/{name}", context=context))
    return cases


def failure_cases(scene_dir: Path, tau: float = DEFAULT_TAU, limit: Optional[int] = None) -> Iterator[FailureCase]:
    """Failure cases of every scene listed in SCENE_DIR/manifest.jsonl (first `limit` scenes)."""
    rows = read_manifest(scene_dir)[:limit]
    scorer = PDMScorer()
    for row in rows:
        (scene,) = read_scenes(Path(scene_dir) / row["scene"])
        yield from scene_failure_cases(scene, scorer, tau)
