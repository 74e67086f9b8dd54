"""SFT recipe, ELF-VLA stages 1 and 2 (elfrl.training.sft):

    python launch/sft.py --config configs/sft_stage1.yaml [--set max_steps=2]
    deepspeed launch/sft.py --config configs/sft_stage1.yaml        # with `deepspeed:` set in the config
    python launch/sft.py --config configs/demo/sft_stage1.yaml     # tiny student on the CPU, a few minutes
"""

from __future__ import annotations

import argparse
import logging

from rich.console import Console
from rich.markup import escape

from elfrl.config import ConfigError, add_config_args, load_config
from elfrl.training.sft import SFTStageConfig, run_stage


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(parser)
    # The deepspeed launcher appends --local_rank=N; transformers reads LOCAL_RANK from the environment instead.
    parser.add_argument("--local_rank", "--local-rank", type=int, default=-1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.config is None:
        parser.error("--config is required, e.g. --config configs/sft_stage1.yaml")
    return args


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    run_stage(load_config(SFTStageConfig, args.config, args.overrides))


if __name__ == "__main__":
    try:
        main()
    except ConfigError as err:  # a wrong config or a machine that cannot run it: the message says the fix
        Console(stderr=True).print(f"[red]error:[/red] {escape(str(err))}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
