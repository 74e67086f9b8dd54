"""Evaluate a student (or a baseline) on a scene set: PDMS / EPDMS and sub-metrics, planning accuracy,
open-loop L2 and collisions, format validity, total failure (elfrl.evaluation):

    python launch/evaluate.py --config configs/evaluate.yaml --set checkpoint=outputs/grpo/final
    python launch/evaluate.py --config configs/evaluate.yaml --set policy=expert --set checkpoint=null \\
        --set output_dir=outputs/eval/expert                        # the references
    python launch/evaluate.py --config configs/evaluate.yaml --set samples=8 --set temperature=1.0   # + total failure
    python launch/evaluate.py --config configs/evaluate.yaml --set workers=4                          # 4 shards
    python launch/evaluate.py --config configs/evaluate.yaml \\
        --set "compare=[outputs/eval/sft,outputs/eval/grpo]" --set output_dir=outputs/eval/compare

Writes metrics.json, per_scene.csv and report.html to output_dir. Rerunning continues from the records
already on disk (output_dir/records/).
"""

from __future__ import annotations

import logging

from elfrl.config import load_config, parse_recipe_args, run_recipe
from elfrl.evaluation.config import EvaluateConfig
from elfrl.evaluation.pipeline import evaluate
from elfrl.evaluation.records import RecordsError
from elfrl.evaluation.runner import SceneSetError
from elfrl.models.loading import CheckpointError


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_recipe_args(__doc__, "configs/evaluate.yaml", argv)
    evaluate(load_config(EvaluateConfig, args.config, args.overrides))


if __name__ == "__main__":
    run_recipe(main, (FileNotFoundError, CheckpointError, SceneSetError, RecordsError))
