"""SFT recipe, ELF-VLA stages 1 and 2 (elfrl.training.sft):

    python launch/sft.py --config configs/sft_stage1.yaml [--set max_steps=2]
    deepspeed launch/sft.py --config configs/sft_stage1.yaml        # with `deepspeed:` set in the config
    python launch/sft.py --config configs/demo/sft_stage1.yaml     # tiny student on the CPU, a few minutes
"""

from __future__ import annotations

import logging

from elfrl.config import load_config, parse_recipe_args, run_recipe
from elfrl.training.sft import SFTStageConfig, run_stage


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_recipe_args(__doc__, "configs/sft_stage1.yaml", argv)
    run_stage(load_config(SFTStageConfig, args.config, args.overrides))


if __name__ == "__main__":
    run_recipe(main)
