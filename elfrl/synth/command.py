"""`elfrl scenes generate`: scene packs, images, manifest, summary table and summary.json."""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Optional, Sequence

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from elfrl.scoring import PDMScorer
from elfrl.synth.families import FAMILIES, PERSISTENT_FAILURES
from elfrl.synth.generate import check_request, generate_one, summarise, write_scene

# what the done-when of the synthetic world asks of it (checked in the summary)
EXPERT_MIN_PDMS = 0.9
MIN_GAP_TO_BASELINE = 0.2
PERSISTENT_ZERO_SHARE = 0.8

_WORKER: dict = {}


def _work(job: tuple) -> dict:
    """One scene in a worker process: generate, render, write; returns its manifest row."""
    seed, index, families, out, images, width, height = job
    if "scorer" not in _WORKER:
        _WORKER["scorer"] = PDMScorer(cache_size=4)
    g = generate_one(seed, index, families, _WORKER["scorer"])
    frames = None
    if images:
        from elfrl.render.camera import CameraConfig, render_frames

        frames = render_frames(g.scene, Path(out) / "images" / g.scene.token, CameraConfig(width=width, height=height))
    return write_scene(Path(out), g, frames)


def generate_dataset(
    n: int,
    seed: int,
    out: Path,
    families: Optional[Sequence[str]] = None,
    images: bool = True,
    width: int = 256,
    height: int = 144,
    workers: int = 1,
    console: Optional[Console] = None,
) -> dict:
    """Generate n scenes into `out`; returns the summary (also written to out/summary.json)."""
    chosen = check_request(n, families, out)
    console = console or Console(stderr=True)
    jobs = [(seed, i, tuple(chosen), str(out), images, width, height) for i in range(n)]
    start = time.perf_counter()
    rows = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"generating {n} scenes", total=n)
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for row in pool.map(_work, jobs, chunksize=4):
                    rows.append(row)
                    progress.advance(task)
        else:
            for job in jobs:
                rows.append(_work(job))
                progress.advance(task)
    with open(out / "manifest.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    summary = summarise(rows)
    summary.update(seed=seed, n=n, seconds=round(time.perf_counter() - start, 2), families_requested=chosen)
    summary["checks"] = _checks(summary)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _checks(summary: dict) -> dict:
    overall = summary["all"]
    checks = {
        f"expert mean PDMS >= {EXPERT_MIN_PDMS}": overall["expert_pdms"] >= EXPERT_MIN_PDMS,
        f"constant velocity >= {MIN_GAP_TO_BASELINE} lower": overall["expert_pdms"] - overall["constant_velocity_pdms"]
        >= MIN_GAP_TO_BASELINE,
    }
    if summary["persistent_failures"]:
        share = summary["persistent_failures"]["constant_velocity_zero"]
        checks[f"constant velocity = 0 on >= {PERSISTENT_ZERO_SHARE:.0%} of persistent-failure scenes"] = (
            share >= PERSISTENT_ZERO_SHARE
        )
    return checks


def print_summary(console: Console, summary: dict, out: Path) -> None:
    table = Table(title=f"{summary['n']} synthetic scenes (seed {summary['seed']}) in {summary['seconds']} s")
    for col in ("family", "scenes", "expert PDMS", "const. velocity PDMS", "CV = 0"):
        table.add_column(col, justify="left" if col == "family" else "right")
    for family, s in summary["families"].items():
        mark = " *" if family in PERSISTENT_FAILURES else ""
        table.add_row(
            family + mark, str(s["scenes"]), f"{s['expert_pdms']:.3f}", f"{s['constant_velocity_pdms']:.3f}",
            f"{s['constant_velocity_zero']:.0%}",
        )
    a = summary["all"]
    table.add_row("all", str(a["scenes"]), f"{a['expert_pdms']:.3f}", f"{a['constant_velocity_pdms']:.3f}", f"{a['constant_velocity_zero']:.0%}", style="bold")
    console.print(table)
    console.print("* persistent-failure family (a constant-velocity lane follower collides)")
    for name, ok in summary["checks"].items():
        console.print(f"  [{'green' if ok else 'red'}]{'ok  ' if ok else 'FAIL'}[/] {name}")
    for split, s in summary["splits"].items():
        console.print(
            f"{split}: {s['scenes']} scenes, expert PDMS {s['expert_pdms']:.3f}, "
            f"constant velocity {s['constant_velocity_pdms']:.3f}"
        )
    console.print(f"wrote {out / 'manifest.jsonl'}, {out / 'summary.json'}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, required=True, help="number of scenes")
    parser.add_argument("--seed", type=int, default=0, help="scene i is seeded with (seed, i)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--families", default=None, help=f"comma-separated subset of {', '.join(FAMILIES)}")
    parser.add_argument("--no-images", action="store_true", help="skip the camera frames")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=144)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="processes (default: 2)")


def run(args: argparse.Namespace, console: Console) -> int:
    families = [f.strip() for f in args.families.split(",") if f.strip()] if args.families else None
    summary = generate_dataset(
        args.n, args.seed, args.out, families, not args.no_images, args.width, args.height, args.workers, console
    )
    print_summary(console, summary, args.out)
    return 0
