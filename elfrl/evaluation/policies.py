"""Policies the runner can evaluate, all answering in the student's text format so every answer goes
through the same parser and scorer:

- `ModelPolicy`: a student checkpoint (any directory `load_student` accepts), K samples per scene
  (greedy when temperature is 0), batched `generate`;
- `ExpertPolicy`: the logged (ground-truth) trajectory with its CoT, the upper reference;
- `ConstantVelocityPolicy`: the route centreline at the current speed (the manifest's baseline).

`answer(scenes, images, k, temperature, seed)` returns k texts per scene.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Protocol, Sequence

from PIL import Image

from elfrl.data.prompts import base_input, base_messages, scene_answer
from elfrl.scene.schema import Scene
from elfrl.synth.generate import constant_velocity


class Policy(Protocol):
    needs_images: bool

    def answer(self, scenes: Sequence[Scene], images: Sequence[Optional[Image.Image]], k: int,
               temperature: float, seed: int) -> list[list[str]]: ...


class ExpertPolicy:
    needs_images = False

    def answer(self, scenes, images, k, temperature, seed):
        return [[scene_answer(s)] * k for s in scenes]


class ConstantVelocityPolicy:
    needs_images = False

    def answer(self, scenes, images, k, temperature, seed):
        return [[scene_answer(s, constant_velocity(s))] * k for s in scenes]


class ModelPolicy:
    """A student checkpoint; `batch_size` scenes (times k samples) per `generate` call."""

    needs_images = True

    def __init__(self, checkpoint: str | Path, max_new_tokens: int, dtype: str = "float32", device: str = "cpu"):
        from elfrl.models import load_student

        self.model, self.processor = load_student(checkpoint, dtype=dtype, device=device)
        self.max_new_tokens = max_new_tokens

    def answer(self, scenes, images, k, temperature, seed):
        from elfrl.models.generation import generate

        prompts = [base_messages(base_input(s)) for s in scenes for _ in range(k)]
        repeated = [im for im in images for _ in range(k)]
        texts = generate(self.model, self.processor, repeated, prompts, self.max_new_tokens,
                         do_sample=temperature > 0, temperature=temperature or 1.0, seed=seed)
        return [texts[i * k : (i + 1) * k] for i in range(len(scenes))]
