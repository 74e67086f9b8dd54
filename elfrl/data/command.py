"""`elfrl sft-data --scenes DIR --out DIR`: SFT rows (trajectory, QA, feedback) from generated scenes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from elfrl.data.datasets import QA_KINDS, build_sft_data, perturbed_responder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenes", type=Path, required=True, help="generated scene directory (manifest.jsonl)")
    parser.add_argument("--out", type=Path, required=True, help="output directory: train.jsonl, val.jsonl, counts.json")
    parser.add_argument(
        "--qa-per-scene", type=int, default=QA_KINDS, choices=range(QA_KINDS + 1),
        help=f"driving-QA rows per scene, questions rotating over scenes (default: all {QA_KINDS})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the perturbed answers behind the feedback rows")


def run(args: argparse.Namespace, console: Console) -> int:
    build_rows(args.scenes, args.out, args.qa_per_scene, args.seed, console)
    return 0


def build_rows(scenes: Path, out: Path, qa_per_scene: int = QA_KINDS, seed: int = 0,
               console: Console | None = None) -> dict:
    """`build_sft_data` with a progress bar and a count table; returns the counts."""
    console = console or Console(stderr=True)
    manifest = scenes / "manifest.jsonl"
    total = sum(1 for line in manifest.read_text().splitlines() if line) if manifest.is_file() else None
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("building SFT rows", total=total)
        counts = build_sft_data(scenes, out, responder=perturbed_responder(seed), qa_per_scene=qa_per_scene,
                                progress=lambda: progress.advance(task))
    table = Table(title=f"SFT rows in {out}")
    kinds = sorted({k for split in counts.values() for k in split})
    table.add_column("split")
    for kind in kinds:
        table.add_column(kind, justify="right")
    for split, file in (("train", "train.jsonl"), ("test", "val.jsonl")):
        table.add_row(f"{split} ({file})", *(str(counts.get(split, {}).get(k, 0)) for k in kinds))
    console.print(table)
    console.print(f"counts: {json.dumps(counts)}")
    return counts
