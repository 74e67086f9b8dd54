"""`elfrl` command line: `elfrl score FILE --out RESULTS.json`, `elfrl scenes generate ...`,
`elfrl sft-data --scenes DIR --out DIR`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from elfrl.config import ConfigError, add_config_args, load_config
from elfrl.data import command as sft_data_command
from elfrl.scene import SceneFormatError, read_scenes
from elfrl.scoring import PDMScorer, TrajectoryError
from elfrl.scoring.config import ScoreConfig
from elfrl.scoring.results import ResultsFile, Timing, compare_with_expected, scene_result
from elfrl.synth import command as synth_command
from elfrl.synth.generate import GenerationError

VERSIONS = {"v1": "pdms_v1", "v2": "epdms_v2"}


def score_command(args: argparse.Namespace, console: Console) -> int:
    config = load_config(ScoreConfig, args.config, args.overrides)
    versions = tuple(config.versions)
    scenes = read_scenes(args.file)
    if not any(s.candidates for s in scenes):
        raise SceneFormatError(f"{args.file}: no scene has `candidates` to score")
    scorer = PDMScorer(cache_size=config.cache_size)
    results, mismatches, n_candidates, seconds = [], [], 0, 0.0
    with Progress(console=console, transient=True, disable=args.quiet) as progress:
        task = progress.add_task("scoring", total=len(scenes))
        for scene in scenes:
            start = time.perf_counter()
            scores = scorer.score(scene, scene.candidates, versions=versions)
            seconds += time.perf_counter() - start
            n_candidates += len(scene.candidates)
            results.append(scene_result(scores, details=config.details))
            mismatches += compare_with_expected(scene, scores)
            progress.advance(task)
    out = ResultsFile(scenes=results, timing=Timing(candidates=n_candidates, seconds=round(seconds, 6)))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(out.to_json())
    if not args.quiet:
        _summary(console, scenes, results, mismatches, args.file, args.out, versions, n_candidates, seconds)
    return 0


def _summary(console, scenes, results, mismatches, file, out, versions, n_candidates, seconds) -> None:
    table = Table(title=f"{file}: {len(scenes)} scenes, {n_candidates} candidates")
    table.add_column("version")
    table.add_column("mean score", justify="right")
    table.add_column("score = 0", justify="right")
    has_expected = any(s.expected is not None for s in scenes)
    if has_expected:
        table.add_column("parity (all sub-metrics)", justify="right")
    for v in versions:
        key = VERSIONS[v]
        scores = [rec.score for r in results for rec in getattr(r, key)]
        row = [key, f"{sum(scores) / max(len(scores), 1):.4f}", str(sum(s == 0.0 for s in scores))]
        if has_expected:
            bad = {(m.token, m.candidate) for m in mismatches if m.version == key}
            row.append(f"{100.0 * (1 - len(bad) / max(n_candidates, 1)):.2f}%")
        table.add_row(*row)
    console.print(table)
    for m in mismatches[:20]:
        console.print(f"  mismatch {m.version} {m.token} #{m.candidate} {m.metric}: {m.got:.6f} != {m.expected:.6f}")
    per = 1000.0 * seconds / max(n_candidates, 1)
    console.print(f"scored in {seconds:.2f} s ({per:.3f} ms per candidate); results: {out}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="elfrl", description="elfrl: RL post-training for driving VLAs")
    sub = parser.add_subparsers(dest="command", required=True)
    score = sub.add_parser("score", help="score the candidates of a fixture or scene-pack file with PDMS / EPDMS")
    score.add_argument("file", help="scene pack or fixture (.json, .json.gz, .jsonl) whose scenes carry `candidates`")
    score.add_argument("--out", required=True, help="results JSON to write")
    add_config_args(score)  # --config configs/score.yaml, --set versions=[v2] --set details=true
    score.add_argument("--quiet", action="store_true", help="no progress bar or summary table")
    scenes = sub.add_parser("scenes", help="synthetic scene packs")
    scenes_sub = scenes.add_subparsers(dest="scenes_command", required=True)
    generate = scenes_sub.add_parser("generate", help="generate seeded synthetic scenes with images and a summary")
    synth_command.add_arguments(generate)
    sft_data = sub.add_parser("sft-data", help="SFT rows (trajectory + CoT, driving QA, feedback) from generated scenes")
    sft_data_command.add_arguments(sft_data)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=True)
    try:
        if args.command == "score":
            return score_command(args, console)
        if args.command == "scenes" and args.scenes_command == "generate":
            return synth_command.run(args, console)
        if args.command == "sft-data":
            try:
                return sft_data_command.run(args, console)
            except (FileNotFoundError, ValueError) as err:  # a missing manifest, scenes without images
                raise ConfigError(str(err)) from None
    except (ConfigError, SceneFormatError, TrajectoryError, GenerationError) as err:
        console.print(f"[red]error:[/red] {escape(str(err))}", highlight=False, soft_wrap=True)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
