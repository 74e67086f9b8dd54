"""Scorer speed: milliseconds per scene and candidates per second, beside the official NAVSIM figures.

    python benchmarks/scorer.py [--fixtures tests/data/pdms_dev.json.gz] [--out benchmarks/results/scorer.json]

For G = 1, 8 and 64 candidates per scene and each version (v1.1 PDMS, v2 EPDMS) it times
`PDMScorer.score` over every fixture scene:
  * warm: the scene's world, reference plan and human filter are cached (GRPO revisits scenes);
  * cold: a fresh scorer, so the per-scene preparation is included.
G = 8 and 64 use the fixture candidates (64 = the 8 repeated with small noise); G = 1 the first.
Parity with the official values is re-checked on the way (G = 8), so speed never hides a change.

The official figures are those recorded with the fixtures (shared/fixtures/pdms/README.md, 2-vCPU
AMD EPYC VM, official code only): NAVSIM v1.1 `pdm_score`, one candidate (reference + candidate),
37-43 ms on sparse scenes and ~50 ms on the dense one. The speed-up column divides 37 ms (the
fastest official per-candidate figure) by our milliseconds per candidate; a second column uses the
same version's fastest official figure (v2: 53 ms; both: 37 + 53 ms).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from elfrl.scene import read_scenes
from elfrl.scoring import PDMScorer
from elfrl.scoring.results import compare_with_expected

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL = {
    "source": "shared/fixtures/pdms/README.md (official NAVSIM code, 2-vCPU AMD EPYC VM, median)",
    "v1_pdm_score_one_candidate_ms": {"sparse": [37, 43], "dense": [48, 51]},
    "v2_pdm_score_one_candidate_ms": {"sparse": [53, 79], "dense": [77, 84]},
    "v1_batched_8_candidates_ms": {"sparse": [31, 50], "dense": [72, 76]},
}
OFFICIAL_V1_MS_PER_CANDIDATE = 37.0  # fastest official v1.1 per-candidate figure: the conservative divisor
# the same version's fastest official per-candidate figure ("both" = a v1.1 call plus a v2 call)
OFFICIAL_SAME_VERSION_MS = {"v1.1 PDMS": 37.0, "v2 EPDMS": 53.0, "both": 37.0 + 53.0}


def candidate_sets(scene, g: int, rng: np.random.Generator) -> np.ndarray:
    base = np.asarray(scene.candidates)
    if g <= len(base):
        return base[:g]
    reps = -(-g // len(base))
    noisy = np.tile(base, (reps, 1, 1))[:g].copy()
    noisy[len(base):, :, :2] += rng.normal(scale=0.05, size=noisy[len(base):, :, :2].shape)
    return noisy


def time_scoring(scenes, g: int, versions: tuple[str, ...], warm: bool, repeats: int) -> list[float]:
    """Seconds per scene (median over repeats) for every scene."""
    rng = np.random.default_rng(0)
    batches = [candidate_sets(s, g, rng) for s in scenes]
    cached = PDMScorer()
    if warm:
        for s in scenes:
            cached.prepare(s)
    per_scene = []
    for scene, cands in zip(scenes, batches):
        runs = []
        for _ in range(repeats):
            scorer = cached if warm else PDMScorer()
            start = time.perf_counter()
            scorer.score(scene, cands, versions=versions)
            runs.append(time.perf_counter() - start)
        per_scene.append(statistics.median(runs))
    return per_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", default=str(ROOT / "tests" / "data" / "pdms_dev.json.gz"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scorer.json"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    console = Console(width=max(120, Console().width))
    scenes = read_scenes(args.fixtures)

    scorer = PDMScorer()  # compile the numba kernels and check parity before timing
    mismatched = sum(len(compare_with_expected(s, scorer.score(s, s.candidates))) for s in scenes)

    rows = []
    for versions, label in ((("v1",), "v1.1 PDMS"), (("v2",), "v2 EPDMS"), (("v1", "v2"), "both")):
        for g in (1, 8, 64):
            for warm in (True, False):
                secs = time_scoring(scenes, g, versions, warm, args.repeats)
                mean_ms = 1000 * statistics.mean(secs)
                rows.append(
                    {
                        "version": label,
                        "candidates": g,
                        "cache": "warm" if warm else "cold",
                        "ms_per_scene": round(mean_ms, 3),
                        "ms_per_scene_p90": round(1000 * float(np.percentile(secs, 90)), 3),
                        "ms_per_candidate": round(mean_ms / g, 4),
                        "candidates_per_s": round(1000 * g / mean_ms, 1),
                        "speedup_vs_official_v1": round(OFFICIAL_V1_MS_PER_CANDIDATE / (mean_ms / g), 1),
                        "speedup_vs_official_same_version": round(OFFICIAL_SAME_VERSION_MS[label] / (mean_ms / g), 1),
                    }
                )

    table = Table(title=f"PDM scorer, {len(scenes)} scenes ({platform.processor() or platform.machine()})")
    for col in ("version", "G", "cache", "ms/scene", "p90", "ms/cand", "cand/s", "x off. v1.1", "x off. same"):
        table.add_column(col, justify="left" if col in ("version", "cache") else "right")
    for r in rows:
        table.add_row(
            r["version"], str(r["candidates"]), r["cache"], f"{r['ms_per_scene']:.2f}", f"{r['ms_per_scene_p90']:.2f}",
            f"{r['ms_per_candidate']:.3f}", f"{r['candidates_per_s']:.0f}", f"{r['speedup_vs_official_v1']:.0f}x",
            f"{r['speedup_vs_official_same_version']:.0f}x",
        )
    console.print(table)
    console.print(
        "official pdm_score per candidate: v1.1 37-43 ms, v2 53-79 ms (sparse); 'x off. v1.1' = 37 ms / ours, "
        f"'x off. same' = the same version's 37 / 53 / 90 ms / ours. Parity mismatches during the run: {mismatched}"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "fixtures": str(args.fixtures),
                "scenes": len(scenes),
                "repeats": args.repeats,
                "machine": {"processor": platform.processor(), "python": platform.python_version()},
                "parity_mismatches": mismatched,
                "official": OFFICIAL,
                "rows": rows,
            },
            indent=1,
        )
        + "\n"
    )
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
