"""The rollout-and-score runner shared by `launch/evaluate.py` and `curation/select_hard.py`.

    rows = select_scenes(scene_dir, split, limit, need_images=True)   # manifest rows, in manifest order
    records = run(spec, rows, out_dir, workers=2)            # -> [SceneRecord] in `rows` order

Sharding: shard i of n takes rows[i::n] and appends to its own JSONL file; `workers` > 1 runs the
shards in spawned processes (one model each), the parent shows one progress bar over all of them.
On a cluster, run one shard per process (`shard_index`); a final run with no shard_index finds every
record on disk and only aggregates.

Resumption: scenes already in a shard file are skipped, so a rerun continues where a killed run stopped.
Batches are fixed slices of the shard (`batch_size` scenes) seeded by `seed` + the selection index of
their first scene (unique over all shards), so a batch redone after a kill samples exactly what it
would have (given the same batch_size, num_shards and torch threads per process: float results, and
so samples, can change with the thread count).
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Optional

from PIL import Image
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from elfrl.evaluation.policies import ConstantVelocityPolicy, ExpertPolicy, ModelPolicy, Policy
from elfrl.evaluation.records import RecordsError, RunSpec, SceneRecord, append_records, read_records, shard_path
from elfrl.evaluation.score import score_scene
from elfrl.scene import read_manifest, read_scenes
from elfrl.scoring import PDMScorer

log = logging.getLogger(__name__)


class SceneSetError(ValueError):
    """The scene selection is empty, or lacks what the policy needs (front images)."""


def select_scenes(scene_dir: str | Path, split: Optional[str], limit: Optional[int], need_images: bool) -> list[dict]:
    """Manifest rows of `split` ("all" or None: every row), the first `limit`, in manifest order; with
    `need_images`, an error if any of them has no front image."""
    rows = read_manifest(scene_dir)  # a FileNotFoundError that says how to make one when it is missing
    picked = [r for r in rows if split in (None, "all") or r.get("split") == split][:limit]
    if not picked:
        splits = sorted({str(r.get("split")) for r in rows})
        raise SceneSetError(
            f"no scenes of split {split!r} in {scene_dir} ({len(rows)} manifest rows, splits {splits}); "
            "pick another split or scene_dir"
        )
    # Not filtered: a model and the baselines must be evaluated on the same scenes to be compared.
    blind = [r["token"] for r in picked if not r.get("images")] if need_images else []
    if blind:
        raise SceneSetError(
            f"{len(blind)} of the {len(picked)} selected scenes have no front image (e.g. {blind[0]}); a model needs "
            "one per scene: generate the scenes with images, or pick a split that has them"
        )
    return picked


def build_policy(spec: RunSpec, dtype: str = "float32", device: str = "cpu") -> Policy:
    if spec.policy == "expert":
        return ExpertPolicy()
    if spec.policy == "constant_velocity":
        return ConstantVelocityPolicy()
    return ModelPolicy(spec.checkpoint, spec.max_new_tokens, dtype, device)


def _shard_indices(spec: RunSpec, rows: list[dict], shard: int) -> range:
    """Indices into `rows` of shard `shard`: every num_shards-th scene."""
    return range(shard, len(rows), spec.num_shards)


def recorded_tokens(out_dir: Path, spec: RunSpec, shard: int) -> set[str]:
    """Tokens of the scenes shard `shard` has on disk (a torn last line is cut off here, see read_records)."""
    return {r.token for r in read_records(shard_path(out_dir, shard, spec.num_shards))}


def run_shard(spec: RunSpec, rows: list[dict], out_dir: Path, shard: int, done: set[str], *,
              dtype: str = "float32", device: str = "cpu", on_batch: Optional[Callable[[int], None]] = None,
              policy: Optional[Policy] = None) -> int:
    """Answer and score the scenes of shard `shard` whose tokens are not in `done` (`recorded_tokens`);
    returns how many it did. The policy (a model load) is built only when there is work left."""
    path = shard_path(out_dir, shard, spec.num_shards)
    mine = _shard_indices(spec, rows, shard)
    scorer, count = PDMScorer(), 0
    for start in range(0, len(mine), spec.batch_size):
        batch = mine[start : start + spec.batch_size]
        if all(rows[i]["token"] in done for i in batch):
            continue
        # The whole batch is generated again even if part of it is on disk (a torn last line), so every
        # scene is sampled in the batch, with the seed, it would have had in an uninterrupted run.
        policy = policy or build_policy(spec, dtype, device)
        scene_dir = Path(spec.scene_dir)
        scenes = [read_scenes(scene_dir / rows[i]["scene"])[0] for i in batch]
        images = [_front_image(scene_dir, rows[i]) if policy.needs_images else None for i in batch]
        texts = policy.answer(scenes, images, spec.samples, spec.temperature, spec.seed + batch[0])
        records = [score_scene(s, t, scorer, rows[i].get("family"))
                   for s, t, i in zip(scenes, texts, batch) if rows[i]["token"] not in done]
        append_records(path, records)
        count += len(records)
        if on_batch is not None:
            on_batch(len(records))
    return count


def _front_image(scene_dir: Path, row: dict) -> Image.Image:
    return Image.open(scene_dir / row["images"][0]).convert("RGB")


class _Rate(ProgressColumn):
    """Scenes per second over this session (not counting scenes found on disk)."""

    def render(self, task) -> Text:
        start, new = task.fields.get("t0"), task.completed - task.fields.get("resumed", 0)
        if not start or new <= 0:
            return Text("- scenes/s", style="progress.data.speed")
        return Text(f"{new / max(time.monotonic() - start, 1e-9):.2f} scenes/s", style="progress.data.speed")


def _progress(label: str, total: int, resumed: int, show: bool) -> tuple[Progress, int]:
    progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), _Rate(), TimeRemainingColumn(),
                        disable=not show)
    task = progress.add_task(label, total=total, completed=resumed, resumed=resumed, t0=time.monotonic())
    return progress, task


def _worker(args) -> int:
    spec, rows, out_dir, shard, done, dtype, device, threads = args
    import torch

    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.WARNING)
    return run_shard(spec, rows, out_dir, shard, done, dtype=dtype, device=device)


def _device_for(device: str, shard: int) -> str:
    if device != "cuda":
        return device
    import torch

    return f"cuda:{shard % max(torch.cuda.device_count(), 1)}"


def run(spec: RunSpec, rows: list[dict], out_dir: Path, *, workers: int = 1, shard_index: Optional[int] = None,
        dtype: str = "float32", device: str = "cpu", label: str = "rollouts", policy: Optional[Policy] = None,
        show_progress: bool = True) -> list[SceneRecord]:
    """Run the shards not finished (all, or only `shard_index`) and return the records on disk, in `rows`
    order (only those of `shard_index` when given)."""
    out_dir = Path(out_dir)
    shards = list(range(spec.num_shards)) if shard_index is None else [shard_index]
    done = {s: recorded_tokens(out_dir, spec, s) for s in shards}
    on_disk = sum(len(d) for d in done.values())
    total = sum(len(_shard_indices(spec, rows, s)) for s in shards)
    pending = [s for s in shards if len(done[s]) < len(_shard_indices(spec, rows, s))]  # finished: no process
    if on_disk:
        log.info("%s: %d of %d scenes already on disk in %s; continuing", label, on_disk, total, out_dir)
    progress, task = _progress(label, total, on_disk, show_progress)
    with progress:
        if workers <= 1 or len(shards) == 1:
            for s in pending:
                run_shard(spec, rows, out_dir, s, done[s], dtype=dtype, device=_device_for(device, s), policy=policy,
                          on_batch=lambda n: progress.advance(task, n))
        else:
            threads = max(1, (os.cpu_count() or 1) // workers)
            jobs = [(spec, rows, out_dir, s, done[s], dtype, _device_for(device, s), threads) for s in pending]
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(_worker, job) for job in jobs]
                while not all(f.done() for f in futures):
                    time.sleep(1.0)
                    count = sum(_line_count(shard_path(out_dir, s, spec.num_shards)) for s in shards)
                    progress.update(task, completed=count)
                for f in futures:
                    f.result()  # re-raise a worker's error here
            progress.update(task, completed=total)
    return ordered_records(out_dir, spec, rows, shards)


def _line_count(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def ordered_records(out_dir: Path, spec: RunSpec, rows: list[dict], shards: list[int]) -> list[SceneRecord]:
    """The records of `shards`, one per selected scene, in manifest order; an error if any is missing or
    doubled (which would bias every mean)."""
    by_token: dict[str, SceneRecord] = {}
    for s in shards:
        for r in read_records(shard_path(out_dir, s, spec.num_shards)):
            if r.token in by_token:
                raise RecordsError(f"scene {r.token} is recorded twice in {out_dir}/records; delete one copy")
            by_token[r.token] = r
    wanted = [rows[i]["token"] for s in shards for i in _shard_indices(spec, rows, s)]
    missing = [t for t in wanted if t not in by_token]
    if missing:
        raise RecordsError(f"{len(missing)} scenes have no record in {out_dir} (e.g. {missing[:3]}); rerun to finish")
    order = {r["token"]: i for i, r in enumerate(rows)}
    return sorted((by_token[t] for t in wanted), key=lambda r: order[r.token])
