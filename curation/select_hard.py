"""Hard-sample curation for GRPO, ELF-VLA §3.3 (elfrl.evaluation.curation): K rollouts per training scene
from the SFT student, keep the hard (low mean, low variance) and ambiguous (high variance) scenes, drop
the mastered ones:

    python curation/select_hard.py --config configs/curation.yaml
    python curation/select_hard.py --config configs/curation.yaml --set target_size=24000 --set workers=8
    python curation/select_hard.py --config configs/curation.yaml --set variance_threshold=0.02   # re-select
                                                                          # from the rollouts on disk

Writes subset.jsonl (token, mean, var, category), stats.json and scatter.png to output_dir; train on the
subset with `launch/grpo_feedback.py --set subset=<output_dir>/subset.jsonl`. Rerunning continues from the
rollouts already on disk (output_dir/records/).
"""

from __future__ import annotations

import logging

from elfrl.config import load_config, parse_recipe_args, run_recipe
from elfrl.evaluation.config import CurationConfig
from elfrl.evaluation.curation import run_curation
from elfrl.evaluation.records import RecordsError
from elfrl.evaluation.runner import SceneSetError
from elfrl.models.loading import CheckpointError


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_recipe_args(__doc__, "configs/curation.yaml", argv)
    run_curation(load_config(CurationConfig, args.config, args.overrides))


if __name__ == "__main__":
    run_recipe(main, (FileNotFoundError, CheckpointError, SceneSetError, RecordsError))
