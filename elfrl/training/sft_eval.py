"""How good is a student after SFT (`launch/sft_eval.py`): parsable answers and mean PDMS against the
constant-velocity baseline on held-out scenes, and whether a refinement moves the way the feedback asks.

The checks take a `Respond` callable `(images, prompts) -> texts`, so they run on any policy:
`model_responder` wraps an HF student with greedy decoding; tests pass oracles. The held-out scenes,
their images and the feedback cases are loaded and built once (`HeldOut`) however many students
are evaluated on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
from PIL import Image
from rich.table import Table

from elfrl.data.datasets import analytic_feedback
from elfrl.data.labels import gt_poses
from elfrl.data.output import parse_output
from elfrl.data.prompts import base_input, base_messages, feedback_messages, scene_answer
from elfrl.models.generation import generate
from elfrl.scene import read_manifest, read_scenes
from elfrl.scene.schema import Scene
from elfrl.scoring import PDMScorer

MAX_NEW_TOKENS = 256  # the longest demo answer (CoT + 8 poses) is about 200 tokens
FAST_FACTOR = 1.4  # feedback cases: the ground truth stretched this much along x is "too fast"
MIN_TRAVEL_M = 5.0  # ...unless the ground truth travels less than this in 4 s

Respond = Callable[[Sequence[Image.Image], Sequence[list[dict]]], list[str]]


def model_responder(model, processor, max_new_tokens: int = MAX_NEW_TOKENS) -> Respond:
    """Greedy answers of an HF student (`elfrl.models.generation.generate`)."""
    return lambda images, prompts: generate(model, processor, images, prompts, max_new_tokens)


@dataclass(frozen=True)
class FeedbackCase:
    image: Image.Image
    prompt: list[dict]  # the feedback input: base context, the too-fast answer, its diagnosis
    fast_x: float  # 4 s x of the too-fast answer, as written
    gt_x: float  # 4 s x of the ground truth


@dataclass
class HeldOut:
    """Manifest rows, scenes and front images of a generated dataset's split."""

    rows: list[dict]
    scenes: list[Scene]
    images: list[Image.Image]
    _feedback: Optional[list[FeedbackCase]] = field(default=None, repr=False)

    @classmethod
    def load(cls, scene_dir: Path, split: str = "test", limit: Optional[int] = None) -> "HeldOut":
        """The first `limit` scenes of `split` that have images."""
        rows = [r for r in read_manifest(scene_dir) if r["split"] == split and r.get("images")][:limit]
        if not rows:
            raise ValueError(f"{scene_dir} has no {split} scenes with images")
        scenes = [read_scenes(Path(scene_dir) / r["scene"])[0] for r in rows]
        images = [Image.open(Path(scene_dir) / r["images"][0]).convert("RGB") for r in rows]
        return cls(rows, scenes, images)

    def feedback_cases(self, scorer: Optional[PDMScorer] = None) -> list[FeedbackCase]:
        """One too-fast case per scene whose ground truth moves (built on first use, then kept)."""
        if self._feedback is None:
            scorer = scorer or PDMScorer()
            cases = (too_fast_case(scene, image, scorer) for scene, image in zip(self.scenes, self.images))
            self._feedback = [case for case in cases if case is not None]
        return self._feedback


def too_fast_case(scene: Scene, image: Image.Image, scorer: PDMScorer) -> Optional[FeedbackCase]:
    """The feedback input for a too-fast answer (the ground truth stretched FAST_FACTOR along x) with its
    analytic diagnosis; None when the ground truth barely moves (then "faster than the truth" is not a
    meaningful error)."""
    gt = gt_poses(scene)
    if gt[-1, 0] < MIN_TRAVEL_M:
        return None
    fast = np.round(gt * [FAST_FACTOR, 1.0, 1.0], 2)  # as the answer text writes it
    scores = scorer.score(scene, fast[None], ("v1",)).pdms_v1
    response = scene_answer(scene, fast)
    prompt = feedback_messages(base_input(scene), response, analytic_feedback(scene, scores, 0, fast, response))
    return FeedbackCase(image, prompt, float(fast[-1, 0]), float(gt[-1, 0]))


def _poses(respond: Respond, images: Sequence, prompts: Sequence, batch_size: int) -> list[Optional[np.ndarray]]:
    """The parsed poses of each answer (None where unparsable), asking `batch_size` prompts at a time."""
    out = []
    for start in range(0, len(prompts), batch_size):
        texts = respond(images[start : start + batch_size], prompts[start : start + batch_size])
        out += [parse_output(text).poses for text in texts]
    return out


def evaluate_answers(respond: Respond, held: HeldOut, batch_size: int = 8, scorer: Optional[PDMScorer] = None) -> dict:
    """Answers on the held-out scenes: share parsable, mean PDMS v1.1 (unparsable = 0), against the
    constant-velocity and expert PDMS recorded in the manifest."""
    scorer = scorer or PDMScorer()
    prompts = [base_messages(base_input(s)) for s in held.scenes]
    answers = _poses(respond, held.images, prompts, batch_size)
    pdms = [0.0 if p is None else float(scorer.score(s, p[None], ("v1",)).pdms_v1.score[0])
            for s, p in zip(held.scenes, answers)]
    return {
        "scenes": len(held.scenes),
        "parsable": float(np.mean([p is not None for p in answers])),
        "pdms": float(np.mean(pdms)),
        "constant_velocity_pdms": float(np.mean([r["constant_velocity_pdms"] for r in held.rows])),
        "expert_pdms": float(np.mean([r["expert_pdms"] for r in held.rows])),
    }


def evaluate_feedback_direction(respond: Respond, held: HeldOut, batch_size: int = 8,
                                scorer: Optional[PDMScorer] = None) -> dict:
    """Too-fast answers get the analytic diagnosis; a refinement follows the feedback when its 4 s
    point ends closer to the ground truth's along x than the too-fast answer did (it slowed down)."""
    cases = held.feedback_cases(scorer)
    answers = _poses(respond, [c.image for c in cases], [c.prompt for c in cases], batch_size)
    followed = [p is not None and abs(p[-1, 0] - c.gt_x) < abs(c.fast_x - c.gt_x) for c, p in zip(cases, answers)]
    n = len(cases)
    return {
        "cases": n,
        "followed": float(np.mean(followed)) if n else 0.0,
        "parsable": float(np.mean([p is not None for p in answers])) if n else 0.0,
    }


EVALUATION_COLUMNS = ("model", "parsable", "mean PDMS v1.1", "too-fast refinements that slow down")


def evaluation_rows(results: dict[str, dict]) -> list[tuple[str, str, str, str]]:
    """One row per student ({name: {"answers": ..., "feedback": ... (optional)}}), then the
    constant-velocity and expert references of the same scenes (EVALUATION_COLUMNS)."""
    rows = []
    for name, r in results.items():
        a, fb = r["answers"], r.get("feedback")
        followed = f"{fb['followed']:.1%} of {fb['cases']}" if fb else "-"
        rows.append((name, f"{a['parsable']:.1%}", f"{a['pdms']:.3f}", followed))
    first = next(iter(results.values()))["answers"]
    rows.append(("constant velocity", "", f"{first['constant_velocity_pdms']:.3f}", ""))
    rows.append(("expert (logged)", "", f"{first['expert_pdms']:.3f}", ""))
    return rows


def evaluation_table(results: dict[str, dict]) -> Table:
    """`evaluation_rows` as a console table."""
    first = next(iter(results.values()))["answers"]
    table = Table(title=f"students on {first['scenes']} held-out scenes")
    for col in EVALUATION_COLUMNS:
        table.add_column(col, justify="left" if col == "model" else "right")
    rows = evaluation_rows(results)
    for row in rows[:-2]:
        table.add_row(*row)
    for row in rows[-2:]:
        table.add_row(*row, style="dim")
    return table
