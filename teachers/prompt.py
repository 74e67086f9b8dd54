"""The teacher prompt: system and user templates in `teachers/prompts/`, rendered with a case and
its analytic diagnosis (the VLM backends get the analytic report as context)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from elfrl.data.prompts import base_context
from elfrl.feedback import FailureCase, analytic_report

PROMPTS = Path(__file__).parent / "prompts"


@lru_cache(maxsize=None)
def template(name: str) -> str:
    return (PROMPTS / name).read_text()


def _poses(poses) -> str:
    return "[" + ", ".join("[" + ", ".join(f"{v:.2f}" for v in p) + "]" for p in poses) + "]"


def user_text(case: FailureCase) -> str:
    s = case.scores
    sub = {k: round(getattr(s, k), 3) for k in ("score", "nc", "dac", "ddc", "ttc", "ep", "comfort")}
    return template("user.txt").format(
        token=case.token,
        base_context=base_context(case.base_input),
        response=case.response,
        gt_poses=_poses(case.gt_poses),
        poses=_poses(case.poses),
        sub_scores=json.dumps(sub),
        analytic=analytic_report(case).model_dump_json(),
    )


def messages(case: FailureCase) -> list[dict]:
    """OpenAI chat messages; the image (a data: or http(s) URL) goes first in the user turn."""
    content: list[dict] = []
    if case.image:
        content.append({"type": "image_url", "image_url": {"url": case.image}})
    content.append({"type": "text", "text": user_text(case)})
    return [{"role": "system", "content": template("system.txt")}, {"role": "user", "content": content}]
