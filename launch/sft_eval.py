"""Evaluate an SFT student on held-out generated scenes (elfrl.training.sft_eval):

    python launch/sft_eval.py --model outputs/demo/sft_stage2/final --scenes outputs/demo/scenes \
        --out outputs/demo/sft_eval.json

Greedy answers on the test split: share parsable and mean PDMS v1.1 (unparsable = 0) against the
constant-velocity baseline and the expert; then too-fast answers with their analytic diagnosis:
share of refinements that slow down as asked (`--no-feedback` skips it).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from rich.console import Console

from elfrl.models import load_student
from elfrl.training.sft_eval import (
    HeldOut,
    evaluate_answers,
    evaluate_feedback_direction,
    evaluation_table,
    model_responder,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="student checkpoint directory (e.g. .../final)")
    parser.add_argument("--scenes", type=Path, required=True, help="generated scene directory with manifest.jsonl")
    parser.add_argument("--split", default="test", help="manifest split to evaluate on (default: test)")
    parser.add_argument("--limit", type=int, default=None, help="first N scenes of the split (default: all)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--no-feedback", action="store_true", help="skip the feedback-direction check")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    model, processor = load_student(args.model)
    respond = model_responder(model, processor)
    held = HeldOut.load(args.scenes, args.split, args.limit)
    result = {"model": str(args.model), "answers": evaluate_answers(respond, held, args.batch_size)}
    if not args.no_feedback:
        result["feedback"] = evaluate_feedback_direction(respond, held, args.batch_size)
    Console().print(evaluation_table({str(args.model): result}))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
