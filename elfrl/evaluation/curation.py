"""Hard-sample curation, ELF-VLA §3.3 (`curation/select_hard.py`): K rollouts per training scene from the
SFT student, PDMS mean and variance per scene, and a category per scene:

| category  | rule (m = mastered_mean, v = variance_threshold) | kept |
|-----------|---------------------------------------------------|------|
| ambiguous | var > v: the student sometimes solves it           | yes  |
| hard      | var <= v and mean < m: it fails consistently       | yes  |
| mastered  | var <= v and mean >= m: it always solves it        | no   |

The reward is PDMS v1.1 with an unparsable answer scoring 0 (the trajectory reward of GRPO); the variance
is the population variance over the K samples. With `target_size`, the kept scenes are cut down in
proportion to their category counts, so the hard / ambiguous mix of the thresholds is preserved, keeping
the hardest scenes of each (`select`). The paper keeps 24k of 85k NAVSIM training scenes.

Writes subset.jsonl (token, mean, var, category: usable as GRPO `subset`), stats.json and scatter.png.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from elfrl.evaluation.config import CurationConfig
from elfrl.evaluation.metrics import pdms_matrix
from elfrl.evaluation.pipeline import rollouts
from elfrl.evaluation.records import SceneRecord, write_json

CATEGORIES = ("hard", "ambiguous", "mastered")
KEPT = ("hard", "ambiguous")
COLOURS = {"hard": "#d62728", "ambiguous": "#ff7f0e", "mastered": "#2ca02c"}


def categorise(mean: np.ndarray, var: np.ndarray, mastered_mean: float, variance_threshold: float) -> np.ndarray:
    """Category [N] of scenes with reward mean [N] and variance [N]."""
    return np.where(var > variance_threshold, "ambiguous", np.where(mean >= mastered_mean, "mastered", "hard"))


def select(categories: np.ndarray, mean: np.ndarray, var: np.ndarray, target_size: Optional[int]) -> np.ndarray:
    """Indices of the kept scenes (sorted): every hard and ambiguous one; with `target_size`, quotas in
    proportion to the two categories (largest remainder), each filled with its hardest scenes: lowest mean
    first, then highest variance, then manifest order. ELF-VLA learns from failures; the near-mastered
    scenes (ambiguous with a high mean) go first."""
    kept = {c: np.flatnonzero(categories == c) for c in KEPT}
    total = sum(len(v) for v in kept.values())
    if target_size is None or target_size >= total:
        return np.sort(np.concatenate(list(kept.values())))
    exact = {c: target_size * len(v) / total for c, v in kept.items()}
    quota = {c: int(np.floor(x)) for c, x in exact.items()}
    for c in sorted(KEPT, key=lambda c: exact[c] - quota[c], reverse=True)[: target_size - sum(quota.values())]:
        quota[c] += 1
    hardest = {c: idx[np.lexsort((idx, -var[idx], mean[idx]))] for c, idx in kept.items()}
    return np.sort(np.concatenate([hardest[c][: quota[c]] for c in KEPT]))


def family_shares(families: Sequence[str], kept: np.ndarray) -> dict[str, dict]:
    """Per family: scenes in the input and in the subset, and their shares of each."""
    fam = np.asarray(families)
    sub = fam[kept]
    out = {}
    for f in sorted(set(families)):
        n_in, n_kept = int((fam == f).sum()), int((sub == f).sum())
        out[f] = {"input": n_in, "kept": n_kept, "input_share": n_in / len(fam),
                  "kept_share": n_kept / len(sub) if len(sub) else 0.0}
    return out


def scatter_figure(mean, var, categories, kept, cfg: CurationConfig) -> Figure:
    fig = Figure(figsize=(7, 5))
    ax = fig.subplots()
    in_subset = np.zeros(len(mean), dtype=bool)
    in_subset[kept] = True
    for c in CATEGORIES:
        m = categories == c
        if c not in KEPT:
            ax.scatter(mean[m], var[m], s=18, color=COLOURS[c], label=c)
            continue
        ax.scatter(mean[m & in_subset], var[m & in_subset], s=18, color=COLOURS[c], label=f"{c} (kept)")
        if (m & ~in_subset).any():
            ax.scatter(mean[m & ~in_subset], var[m & ~in_subset], s=18, facecolors="none", edgecolors=COLOURS[c],
                       label=f"{c} (over target size)")
    ax.axhline(cfg.variance_threshold, color="grey", lw=0.8, ls="--")
    ax.axvline(cfg.mastered_mean, color="grey", lw=0.8, ls=":")
    ax.set_xlabel(f"mean PDMS over {cfg.samples} samples")
    ax.set_ylabel("PDMS variance")
    ax.set_title(f"{len(kept)} of {len(mean)} scenes kept")
    ax.legend(fontsize=8)
    return fig


def curate(records: Sequence[SceneRecord], cfg: CurationConfig, out: Path) -> dict:
    """Categorise and select; write subset.jsonl, stats.json and scatter.png to `out`; return the stats."""
    rewards = pdms_matrix(records)  # [N, K]
    mean, var = rewards.mean(axis=1), rewards.var(axis=1)
    categories = categorise(mean, var, cfg.mastered_mean, cfg.variance_threshold)
    kept = select(categories, mean, var, cfg.target_size)
    with open(out / "subset.jsonl", "w") as f:
        for i in kept:
            row = {"token": records[i].token, "mean": round(float(mean[i]), 6), "var": round(float(var[i]), 6),
                   "category": str(categories[i])}
            f.write(json.dumps(row) + "\n")
    counts = Counter(categories.tolist())
    kept_counts = Counter(categories[kept].tolist())
    stats = {
        "scenes": len(records),
        "samples_per_scene": rewards.shape[1],
        "reward": "PDMS v1.1 per sample, unparsable = 0; variance over the samples (ddof 0)",
        "thresholds": {"mastered_mean": cfg.mastered_mean, "variance_threshold": cfg.variance_threshold,
                       "target_size": cfg.target_size},
        "input": {c: counts.get(c, 0) for c in CATEGORIES},
        "kept": {c: kept_counts.get(c, 0) for c in CATEGORIES},
        "kept_total": len(kept),
        "dropped_mastered": counts.get("mastered", 0),
        "dropped_over_target": sum(counts.get(c, 0) for c in KEPT) - len(kept),
        "mean_pdms": {"input": float(mean.mean()), "kept": float(mean[kept].mean()) if len(kept) else float("nan")},
        "by_family": family_shares([r.family or "-" for r in records], kept),
    }
    write_json(out / "stats.json", stats)
    scatter_figure(mean, var, categories, kept, cfg).savefig(out / "scatter.png", dpi=110, bbox_inches="tight")
    return stats


def summary_table(stats: dict) -> Table:
    table = Table(title=f"curation: {stats['kept_total']} of {stats['scenes']} scenes kept")
    for col in ("family", "input", "kept", "input share", "kept share"):
        table.add_column(col, justify="left" if col == "family" else "right")
    for f, v in stats["by_family"].items():
        table.add_row(f, str(v["input"]), str(v["kept"]), f"{v['input_share']:.1%}", f"{v['kept_share']:.1%}")
    cats = ", ".join(f"{c} {stats['input'][c]} -> {stats['kept'][c]}" for c in CATEGORIES)
    table.caption = f"{cats}; over target size {stats['dropped_over_target']}"
    return table


def run_curation(cfg: CurationConfig, console: Optional[Console] = None) -> Optional[dict]:
    console = console or Console()
    _, spec, records = rollouts(cfg, "curation")
    if cfg.shard_index is not None:
        console.print(f"shard {cfg.shard_index} of {spec.num_shards} recorded; run again without shard_index to select")
        return None
    stats = curate(records, cfg, cfg.output_dir)
    console.print(summary_table(stats))
    out = cfg.output_dir
    console.print(f"results: {out / 'subset.jsonl'}, {out / 'stats.json'}, {out / 'scatter.png'}")
    return stats
