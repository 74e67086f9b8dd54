"""Parse the student's output `<think>{CoT}</think><answer>{8 poses}</answer>`; never raises.

Poses are `[x, y, heading]` at 0.5..4.0 s in the current rear-axle frame (x forward, y left,
metres, radians). Rules (also in README "Rewards"):

- Tags: `<think>`, `</think>`, `<answer>`, `</answer>` each exactly once, in that order.
  Text before `<think>`, between `</think>` and `<answer>`, and after `</answer>` is ignored.
- Answer body: the pose triples are found by one regex: three numbers separated by commas
  and/or whitespace (newlines included), inside `[...]` or `(...)`. Around the triples only
  whitespace, `,`, `;` and list brackets `[` `]` may appear; anything else (words, a stray
  number, a 2- or 4-number group) makes the body UNPARSABLE. `nan` / `inf` are read as numbers
  so that they are reported as NON_FINITE rather than UNPARSABLE.
- The answer body is parsed whenever the answer tag pair itself is well-formed, even if the
  think tags are broken, so `poses` may be set while `failure` names a tag problem. The
  format reward scores the two parts independently (`elfrl.rewards.format_reward`).
- `failure` is the first problem found: tag problems first, then the answer body.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

import numpy as np

N_POSES = 8
THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE = "<think>", "</think>", "<answer>", "</answer>"

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf(?:inity)?)"
# a comma with optional spaces, or spaces alone: the two alternatives cannot both match the same
# run of spaces, so whitespace-heavy text parses in linear time (no catastrophic backtracking)
_SEP = r"(?:\s*,\s*|\s+)"
POSE_TRIPLE = re.compile(
    rf"[\[(]\s*({_NUM}){_SEP}({_NUM}){_SEP}({_NUM})\s*[\])]",
    re.IGNORECASE,
)
_ALLOWED_RESIDUE = re.compile(r"[\s,;\[\]]*")


class ParseFailure(str, enum.Enum):
    MISSING_THINK = "missing_think"  # no complete <think>...</think> pair
    MISSING_ANSWER = "missing_answer"  # no complete <answer>...</answer> pair
    DUPLICATE_TAG = "duplicate_tag"  # a tag appears more than once
    TAGS_OUT_OF_ORDER = "tags_out_of_order"  # a closing tag before its opening tag, or answer before think
    UNPARSABLE = "unparsable"  # no pose triples, or content that is not a pose triple
    WRONG_POSE_COUNT = "wrong_pose_count"  # triples found, but not exactly 8
    NON_FINITE = "non_finite"  # a NaN or infinite number among the poses


@dataclass(frozen=True, eq=False)
class ParsedOutput:
    think: str | None  # stripped CoT text, None unless the think tag pair is well-formed
    answer_text: str | None  # stripped answer body, None unless the answer tag pair is well-formed
    poses: np.ndarray | None  # [8, 3] float64, read-only; None unless the body held 8 finite triples
    failure: ParseFailure | None  # first problem found; None when the output is fully well-formed
    has_tags: bool  # all four tags exactly once, in order
    detail: str = ""  # human-readable explanation of `failure`, for logs

    @property
    def ok(self) -> bool:
        return self.failure is None


def parse_output(text: str) -> ParsedOutput:
    """Parse one generated text. Never raises; malformed input yields a typed `failure`."""
    if not isinstance(text, str):
        detail = f"expected str, got {type(text).__name__}"
        return ParsedOutput(None, None, None, ParseFailure.UNPARSABLE, False, detail)
    tag_failure, tag_detail = _check_tags(text)
    think = _inner(text, THINK_OPEN, THINK_CLOSE)
    answer_text = _inner(text, ANSWER_OPEN, ANSWER_CLOSE)
    poses, body_failure, body_detail = (None, None, "")
    if answer_text is not None:
        poses, body_failure, body_detail = _parse_poses(answer_text)
    failure, detail = (tag_failure, tag_detail) if tag_failure is not None else (body_failure, body_detail)
    return ParsedOutput(think, answer_text, poses, failure, tag_failure is None, detail)


def format_poses(poses: np.ndarray) -> str:
    """The canonical answer body: `[[x, y, h], ...]` with 2 decimals; parses back to the rounded poses."""
    arr = np.asarray(poses, dtype=np.float64)
    if arr.shape != (N_POSES, 3):
        raise ValueError(f"poses must have shape ({N_POSES}, 3), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("poses must be finite to be formatted")
    # round to 2 decimals; beyond 1e15 there are no decimals left to round (and np.round would
    # overflow to inf near the float maximum). + 0.0 turns -0.0 into 0.0: never "-0.00"
    arr = np.where(np.abs(arr) < 1e15, np.round(np.clip(arr, -1e15, 1e15), 2), arr) + 0.0
    return "[" + ", ".join("[" + ", ".join(f"{v:.2f}" for v in row) + "]" for row in arr) + "]"


def format_output(think: str, poses: np.ndarray) -> str:
    """A full well-formed student output (used for SFT targets and tests)."""
    return f"{THINK_OPEN}{think}{THINK_CLOSE}{ANSWER_OPEN}{format_poses(poses)}{ANSWER_CLOSE}"


def _check_tags(text: str) -> tuple[ParseFailure | None, str]:
    counts = {tag: text.count(tag) for tag in (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)}
    for tag, n in counts.items():
        if n > 1:
            return ParseFailure.DUPLICATE_TAG, f"{tag} appears {n} times"
    for failure, open_tag, close_tag in (
        (ParseFailure.MISSING_THINK, THINK_OPEN, THINK_CLOSE),
        (ParseFailure.MISSING_ANSWER, ANSWER_OPEN, ANSWER_CLOSE),
    ):
        missing = [t for t in (open_tag, close_tag) if counts[t] == 0]
        if missing:
            return failure, f"missing {' and '.join(missing)}"
    for open_tag, close_tag in ((THINK_OPEN, THINK_CLOSE), (ANSWER_OPEN, ANSWER_CLOSE)):
        if text.index(close_tag) < text.index(open_tag):
            return ParseFailure.TAGS_OUT_OF_ORDER, f"{close_tag} comes before {open_tag}"
    if text.index(ANSWER_OPEN) < text.index(THINK_CLOSE):
        return ParseFailure.TAGS_OUT_OF_ORDER, f"{ANSWER_OPEN} comes before {THINK_CLOSE}"
    return None, ""


def _inner(text: str, open_tag: str, close_tag: str) -> str | None:
    """Text between a tag pair that occurs exactly once and in order, else None."""
    if text.count(open_tag) != 1 or text.count(close_tag) != 1:
        return None
    start, end = text.index(open_tag) + len(open_tag), text.index(close_tag)
    return text[start:end].strip() if start <= end else None


def _parse_poses(body: str) -> tuple[np.ndarray | None, ParseFailure | None, str]:
    triples = POSE_TRIPLE.findall(body)
    residue = POSE_TRIPLE.sub(" ", body)
    if not _ALLOWED_RESIDUE.fullmatch(residue):
        stray = " ".join(residue.split())[:40]
        return None, ParseFailure.UNPARSABLE, f"answer has content that is not a pose triple: {stray!r}"
    if not triples:
        return None, ParseFailure.UNPARSABLE, "answer has no pose triples"
    if len(triples) != N_POSES:
        return None, ParseFailure.WRONG_POSE_COUNT, f"found {len(triples)} pose triples, expected {N_POSES}"
    poses = np.array([[float(v) for v in t] for t in triples])  # float("1e400") == inf
    if not np.isfinite(poses).all():
        return None, ParseFailure.NON_FINITE, "answer has a NaN or infinite number"
    poses.setflags(write=False)
    return poses, None, ""
