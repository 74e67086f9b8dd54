"""Export NAVSIM scenes (OpenScene logs + metric caches) as `elfrl.scene/1` scene packs.

    python -m elfrl.scene.navsim LOGS SENSOR_BLOBS METRIC_CACHE OUT --split navtest

`load_navsim` builds NAVSIM's loaders (NAVSIM and nuPlan are imported only there and in `main`);
`export_scenes` writes `OUT/scenes/TOKEN.json` (one scene object each) and `OUT/manifest.jsonl`
(one `ManifestRecord` a line; `scene` is relative to the manifest's folder).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Optional, Sequence

from pydantic import BaseModel, ConfigDict

from elfrl.scene.navsim.common import _attr, _note
from elfrl.scene.navsim.frames import cam_f0_path, scene_from_navsim


class ManifestRecord(BaseModel):
    """One line of `manifest.jsonl`: a scene pack and the camera images that go with it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str
    family: Literal["navsim"] = "navsim"
    split: str
    scene: str  # relative to the manifest's folder
    images: dict[str, str]  # camera name -> image file (under the sensor blobs root when it was given)


@dataclass
class ExportSummary:
    """What `export_scenes` did: files written, tokens skipped and why, every count of drops/defaults."""

    out_dir: Path
    manifest: Path
    paths: list[Path] = field(default_factory=list)
    missing_metric_cache: list[str] = field(default_factory=list)
    missing_scene: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)


def export_scenes(
    scene_loader: Any,
    metric_cache_loader: Any,
    out_dir: str | Path,
    tokens: Optional[Iterable[str]] = None,
    *,
    split: str,
    sensor_blobs_path: Optional[str | Path] = None,
    agents_from: Literal["metric_cache", "frames"] = "metric_cache",
    console: Any = None,
) -> ExportSummary:
    """Export scenes token by token: `out_dir/scenes/TOKEN.json` and `out_dir/manifest.jsonl`.

    tokens: default `scene_loader.tokens`. A token without a metric cache or without a scene is
    logged, counted and listed in the summary; a scene that fails to convert raises (the error
    names the token and the attribute). sensor_blobs_path: root the CAM_F0 paths are joined to
    (default: the relative paths of the logs). Prints a summary with rich; returns it.
    """
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    console = console or Console(stderr=True)
    out_dir = Path(out_dir)
    (out_dir / "scenes").mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(out_dir=out_dir, manifest=out_dir / "manifest.jsonl")
    loader_tokens = list(_attr(scene_loader, "scene_loader", "tokens", "SceneLoader"))
    tokens = loader_tokens if tokens is None else list(tokens)
    scene_tokens = set(loader_tokens)
    cache_tokens = set(_attr(metric_cache_loader, "metric_cache_loader", "tokens", "MetricCacheLoader"))
    counts = summary.counts

    with open(summary.manifest, "w", encoding="utf-8") as manifest, Progress(console=console, transient=True) as bar:
        task = bar.add_task("exporting NAVSIM scenes", total=len(tokens))
        for token in tokens:
            bar.advance(task)
            if token not in scene_tokens:
                summary.missing_scene.append(token)
                _note(counts, "missing_scene", logging.WARNING, f"token {token}: not in the SceneLoader; skipped")
                continue
            if token not in cache_tokens:
                summary.missing_metric_cache.append(token)
                _note(counts, "missing_metric_cache", logging.WARNING, f"token {token}: no metric cache; skipped")
                continue
            try:
                metric_cache = metric_cache_loader.get_from_token(token)
            except FileNotFoundError as err:  # listed in the cache's metadata csv, file gone
                summary.missing_metric_cache.append(token)
                message = f"token {token}: metric cache listed but not found ({err})"
                _note(counts, "missing_metric_cache", logging.WARNING, message)
                continue
            scene = scene_loader.get_scene_from_token(token)
            exported = scene_from_navsim(scene, metric_cache, token, agents_from=agents_from, counts=counts)
            path = out_dir / "scenes" / f"{token}.json"
            path.write_text(exported.model_dump_json(exclude_none=True) + "\n", encoding="utf-8")
            images = {}
            image = cam_f0_path(scene, scene_loader, token)
            if image is None:
                _note(counts, "no_image_path", logging.WARNING, f"token {token}: no CAM_F0 path in the scene or log")
            else:
                images["CAM_F0"] = str(Path(sensor_blobs_path) / image) if sensor_blobs_path else image
            if exported.human_trajectory is None:
                _note(counts, "no_human_trajectory", logging.INFO, f"token {token}: no logged human trajectory")
            record = ManifestRecord(
                token=token, split=split, scene=path.relative_to(out_dir).as_posix(), images=images
            )
            manifest.write(record.model_dump_json() + "\n")
            summary.paths.append(path)

    table = Table(title=f"NAVSIM export to {out_dir} (split {split})")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("tokens asked", str(len(tokens)))
    table.add_row("scenes written", str(len(summary.paths)))
    for key, value in sorted(counts.items()):
        table.add_row(key.replace("_", " "), str(value))
    console.print(table)
    if summary.missing_metric_cache:
        missing = summary.missing_metric_cache
        console.print(f"no metric cache for {len(missing)} tokens, e.g. {missing[:5]}")
    console.print(f"manifest: {summary.manifest}")
    return summary


def load_navsim(
    logs_path: str | Path,
    sensor_blobs_path: str | Path,
    metric_cache_path: str | Path,
    tokens: Optional[Sequence[str]] = None,
    num_history_frames: int = 4,
    num_future_frames: int = 10,
    frame_interval: int = 1,
) -> tuple[Any, Any]:
    """NAVSIM's SceneLoader (no sensors loaded) and MetricCacheLoader. Needs NAVSIM installed.

    num_future_frames=10 (5 s) keeps the frames that `agents_from="frames"` uses; frame_interval=1
    is what navtest / navtrain use."""
    try:
        from navsim.common.dataclasses import SceneFilter, SensorConfig
        from navsim.common.dataloader import MetricCacheLoader, SceneLoader
    except ImportError as err:
        raise ImportError(
            "load_navsim needs NAVSIM (github.com/autonomousvision/navsim, v1.1 or v2) and nuplan-devkit "
            f"installed; they are not on PyPI ({err})"
        ) from err
    scene_filter = SceneFilter(
        num_history_frames=num_history_frames,
        num_future_frames=num_future_frames,
        frame_interval=frame_interval,
        has_route=True,
        tokens=list(tokens) if tokens is not None else None,
    )
    # positional: (data_path, sensor path, scene_filter) is the order of v1.1 and v2
    no_sensors = SensorConfig.build_no_sensors()
    scene_loader = SceneLoader(Path(logs_path), Path(sensor_blobs_path), scene_filter, sensor_config=no_sensors)
    return scene_loader, MetricCacheLoader(Path(metric_cache_path))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """python -m elfrl.scene.navsim LOGS SENSOR_BLOBS METRIC_CACHE OUT --split navtest"""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m elfrl.scene.navsim", description=__doc__.splitlines()[0])
    parser.add_argument("logs", help="navsim_logs/<split> folder of OpenScene log pickles")
    parser.add_argument("sensor_blobs", help="sensor_blobs/<split> folder (CAM_F0 paths are joined to it)")
    parser.add_argument("metric_cache", help="metric cache folder (with metadata/*.csv)")
    parser.add_argument("out", help="output folder: scenes/TOKEN.json and manifest.jsonl")
    parser.add_argument("--split", required=True, help="split name written into the manifest")
    parser.add_argument("--tokens", help="file with one token a line (default: every scene of the logs)")
    parser.add_argument("--agents-from", choices=("metric_cache", "frames"), default="metric_cache")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    tokens = Path(args.tokens).read_text().split() if args.tokens else None
    scene_loader, cache_loader = load_navsim(args.logs, args.sensor_blobs, args.metric_cache, tokens=tokens)
    export_scenes(
        scene_loader,
        cache_loader,
        args.out,
        tokens,
        split=args.split,
        sensor_blobs_path=args.sensor_blobs,
        agents_from=args.agents_from,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
