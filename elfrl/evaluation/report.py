"""`report.html` of one evaluation and `comparison.html` of several: self-contained pages (plots embedded
as PNG data URIs) a person opens in a browser, plus the console tables printed at the end of a run.

One run: the headline table, L2 / collision under both conventions, sub-metric bars, the score
histogram, per-family means, and BEV plots of the worst scenes (ground truth in black, the samples
coloured by their PDMS).
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from rich.table import Table

from elfrl.config import ConfigError
from elfrl.evaluation.records import SceneRecord
from elfrl.scene import read_scenes

# (label, path into metrics.json, format); missing paths (e.g. total_failure when K = 1) show "-"
HEADLINE = (
    ("PDMS v1.1", "pdms", "{:.3f}"),
    ("EPDMS v2", "epdms", "{:.3f}"),
    ("format validity", "format_validity", "{:.1%}"),
    ("parsable (8 poses)", "parsable", "{:.1%}"),
    ("planning acc. speed", "planning_accuracy.speed", "{:.1%}"),
    ("planning acc. path", "planning_accuracy.path", "{:.1%}"),
    ("planning acc. overall", "planning_accuracy.overall", "{:.1%}"),
    ("L2 avg (ST-P3) m", "l2.stp3.avg", "{:.3f}"),
    ("L2 avg (UniAD) m", "l2.uniad.avg", "{:.3f}"),
    ("collision avg (ST-P3)", "collision_rate.stp3.avg", "{:.2%}"),
    ("collision avg (UniAD)", "collision_rate.uniad.avg", "{:.2%}"),
    ("total failure PDMS", "total_failure.pdms", "{:.1%}"),
    ("total failure DAC", "total_failure.dac", "{:.1%}"),
    ("total failure NC", "total_failure.nc", "{:.1%}"),
)


def lookup(metrics: dict, dotted: str):
    value = metrics
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _fmt(value, fmt: str) -> str:
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else fmt.format(value)


def headline_rows(metrics: dict) -> list[tuple[str, str]]:
    return [(label, _fmt(lookup(metrics, key), fmt)) for label, key, fmt in HEADLINE]


def console_table(name: str, metrics: dict) -> Table:
    table = Table(title=f"{name}: {metrics['scenes']} scenes x {metrics['samples_per_scene']} samples")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for label, value in headline_rows(metrics):
        table.add_row(label, value)
    return table


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def sub_metric_figure(metrics: dict) -> Figure:
    fig = Figure(figsize=(10, 3.4))
    for ax, version in zip(fig.subplots(1, 2), ("pdms_v1", "epdms_v2")):
        subs = metrics["sub_metrics"][version]
        names, values = list(subs), [0.0 if np.isnan(v) else v for v in subs.values()]
        bars = ax.bar(names, values, color="#4a7fc1")
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
        ax.set_ylim(0, 1.1)
        ax.set_title(f"{version} sub-metrics (parsable answers)")
    return fig


def histogram_figure(records: Sequence[SceneRecord]) -> Figure:
    fig = Figure(figsize=(6, 3.4))
    ax = fig.subplots()
    v1 = [s.pdms_score for r in records for s in r.samples]
    v2 = [s.epdms_score for r in records for s in r.samples]
    ax.hist([v1, v2], bins=20, range=(0, 1), label=["PDMS v1.1", "EPDMS v2"])
    ax.set_xlabel("score (unparsable = 0)")
    ax.set_ylabel("samples")
    ax.legend()
    return fig


def worst_scene_figures(records: Sequence[SceneRecord], scene_dir: Path, rows: Sequence[dict], n: int) -> list[str]:
    """BEV plots (as <img>) of the n scenes with the lowest mean PDMS, samples coloured by PDMS."""
    from elfrl.render.bev import plot_bev

    where = {r["token"]: r["scene"] for r in rows}
    worst = sorted(records, key=lambda r: r.mean_pdms)[:n]
    out = []
    for r in worst:
        (scene,) = read_scenes(Path(scene_dir) / where[r.token])
        ok = [s for s in r.samples if s.poses is not None]
        cand = np.array([s.poses for s in ok]) if ok else None
        scores = np.array([s.pdms.score for s in ok]) if ok else None
        title = f"{r.token} ({r.family or '-'}): mean PDMS {r.mean_pdms:.2f}, {len(ok)}/{len(r.samples)} parsable"
        fig = Figure(figsize=(6.2, 5.8))
        plot_bev(scene, candidates=cand, scores=scores, ax=fig.subplots(), title=title)
        out.append(_png(fig))
    return out


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


_STYLE = """<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1300px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
td:first-child,th:first-child{text-align:left}img{max-width:100%;margin:4px}
.grid{display:flex;flex-wrap:wrap}.grid img{width:48%}</style>"""


def _page(title: str, sections: list[str]) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>{_STYLE}</head>"
            f"<body><h1>{html.escape(title)}</h1>{''.join(sections)}</body></html>")


def _horizon_rows(metrics: dict) -> list[list[str]]:
    rows = []
    for key, fmt in (("l2", "{:.3f}"), ("collision_rate", "{:.2%}")):
        for conv in ("stp3", "uniad"):
            values = metrics[key][conv]
            rows.append([f"{key} ({conv})"] + [_fmt(values[h], fmt) for h in ("1s", "2s", "3s", "avg")])
    return rows


def write_report(path: Path, name: str, metrics: dict, spec: dict, records: Sequence[SceneRecord],
                 rows: Sequence[dict], worst: int) -> Path:
    what = spec["checkpoint"] or spec["policy"]
    sections = [
        f"<p>{html.escape(str(what))} on {metrics['scenes']} scenes of <code>{html.escape(spec['scene_dir'])}</code> "
        f"(split {html.escape(spec['split'])}), {metrics['samples_per_scene']} sample(s) per scene at temperature "
        f"{spec['temperature']}. Unparsable answers score 0 in PDMS / EPDMS; sub-metrics, L2 and collisions "
        "are over parsable answers.</p>",
        "<h2>Headline</h2>" + _table(["metric", "value"], headline_rows(metrics)),
        "<h2>Open loop (L2 m, collision rate)</h2>" + _table(["", "1 s", "2 s", "3 s", "avg"], _horizon_rows(metrics)),
        "<h2>Sub-metrics and scores</h2>" + _png(sub_metric_figure(metrics)) + _png(histogram_figure(records)),
        "<h2>By family</h2>" + _table(["family", "scenes", "mean PDMS"], [
            [f, v["scenes"], f"{v['pdms']:.3f}"] for f, v in metrics["by_family"].items()]),
    ]
    if worst:
        figs = worst_scene_figures(records, Path(spec["scene_dir"]), rows, worst)
        sections.append(f"<h2>The {len(figs)} worst scenes</h2><p>Ground truth in black, reference plan dashed, "
                        f"samples coloured by PDMS.</p><div class='grid'>{''.join(figs)}</div>")
    path.write_text(_page(f"elfrl evaluation: {name}", sections))
    return path


def comparison(run_dirs: Sequence[Path]) -> tuple[list[str], list[list[str]], dict]:
    """Header (metric, then one column per run) and rows (one per headline metric) of finished evaluations,
    and their raw metrics by run name."""
    runs = {}
    for d in run_dirs:
        file = Path(d) / "metrics.json"
        if not file.is_file():
            raise FileNotFoundError(f"{d} has no metrics.json; run launch/evaluate.py into it first")
        metrics = json.loads(file.read_text())
        name = metrics.get("name") or Path(d).name
        if name in runs:
            raise ConfigError(f"two runs in `compare` are called {name!r}; give them distinct names (`name` when "
                              "evaluating) or compare other directories")
        runs[name] = metrics
    header = ["metric", *runs]
    rows = [["scenes x samples", *(f"{m['scenes']} x {m['samples_per_scene']}" for m in runs.values())]]
    rows += [[label, *(_fmt(lookup(m, key), fmt) for m in runs.values())] for label, key, fmt in HEADLINE]
    return header, rows, runs


def write_comparison(out_dir: Path, run_dirs: Sequence[Path]) -> Table:
    """comparison.json + comparison.html in out_dir; returns the console table."""
    header, rows, runs = comparison(run_dirs)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "comparison.json").write_text(json.dumps(runs, indent=2) + "\n")
    (out_dir / "comparison.html").write_text(_page("elfrl evaluation: comparison", [_table(header, rows)]))
    table = Table(title=f"{len(runs)} runs side by side")
    for h in header:
        table.add_column(h, justify="left" if h == "metric" else "right")
    for row in rows:
        table.add_row(*row)
    return table
