"""Generate synthetic scene packs: seeded, deterministic, with camera images and a summary.

    elfrl scenes generate --n 200 --seed 0 --out data/synth [--families stopped_lead,curve]

Writes DIR/scenes/TOKEN.json, DIR/images/TOKEN/CAM_F0_{0,1,2,3}.png (now, +1, +2, +3 s),
DIR/manifest.jsonl (token, family, split, paths) and DIR/summary.json. Scene i uses the
generator seeded with (seed, i) and family i mod len(families), so a scene depends only on its
seed and index. Its split is a function of the same pair: about 1 in 5 is "test".
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Optional, Sequence

import numpy as np
from pydantic import ValidationError

from elfrl.planning import pdm_closed
from elfrl.planning.paths import Path
from elfrl.scene.schema import Scene
from elfrl.scoring import PDMScorer
from elfrl.scene.frames import to_ego_frame
from elfrl.synth.expert import drive
from elfrl.synth.families import FAMILIES, PERSISTENT_FAILURES, STEPS, Draft

HORIZON = np.arange(5, 41, 5)  # 0.5 .. 4.0 s at 10 Hz


class GenerationError(ValueError):
    """Bad generation request (unknown family, n <= 0, unwritable output folder)."""


@dataclass(frozen=True)
class Generated:
    scene: Scene
    family: str
    split: str
    expert_pdms: float
    constant_velocity_pdms: float


def split_of(seed: int, index: int) -> str:
    return "test" if zlib.crc32(f"{seed}:{index}".encode()) % 5 == 0 else "train"


def _rounded(a) -> list:
    return np.round(np.asarray(a, dtype=np.float64), 4).tolist()


def _command(route, s0: float) -> str:
    turn = float(route.pose(s0 + 40.0)[2] - route.pose(s0)[2])
    return "left" if turn > 0.5 else "right" if turn < -0.5 else "straight"


def build_scene(draft: Draft, token: str, scorer: PDMScorer) -> Scene:
    """Ego, history, map, agents, the expert's trajectory and the PDM-Closed reference."""
    route = draft.layout.route
    ego = route.pose(draft.ego_s)
    past = np.array([-1.5, -1.0, -0.5, 0.0])
    hist = route.pose(draft.ego_s + draft.ego_v * past)
    red = {lt["lane_connector_id"]: np.isin(np.arange(STEPS), lt["red_steps"]) for lt in draft.traffic_lights}
    stops = [(s, red[lc]) for lc, s in draft.layout.stop_lines.items() if lc in red]
    expert = drive(draft.expert_path, ego[:2], draft.ego_v, draft.expert_speed, draft.agents, stops)
    raw = {
        "token": token,
        "ego": {"x": ego[0], "y": ego[1], "heading": ego[2], "vx": draft.ego_v, "vy": 0.0, "ax": 0.0, "ay": 0.0},
        "ego_history": [[t, *_rounded(p), draft.ego_v, 0.0, 0.0, 0.0] for t, p in zip(past, hist)],
        "driving_command": _command(route, draft.ego_s),
        "map": {"polygons": draft.layout.polygons},
        "route_lane_ids": draft.layout.route_lane_ids,
        "centerline": _rounded(np.concatenate([route.xy, route.heading[:, None]], 1)),
        "reference": _rounded(np.repeat(ego[None], 41, axis=0)),  # replaced by PDM-Closed below
        "agents": draft.agents,
        "traffic_lights": draft.traffic_lights,
        "human_trajectory": _rounded(to_ego_frame(ego, expert[HORIZON])),
    }
    raw["ego"] = {k: round(float(v), 4) for k, v in raw["ego"].items()}
    scene = Scene.model_validate(raw)
    # PDM-Closed needs the ego as written (rounded), so it plans on the validated draft
    ego_pose = np.array([scene.ego.x, scene.ego.y, scene.ego.heading])
    stop_lines = {lc: s for lc, s in draft.layout.stop_lines.items()}
    plan = pdm_closed.plan(scene, route, draft.layout.speed_limit, scorer, stop_lines)
    reference = plan.poses.copy()
    reference[0] = ego_pose
    return Scene.model_validate({**raw, "ego": scene.ego.model_dump(), "reference": _rounded(reference)})


def constant_velocity(scene: Scene, route=None) -> np.ndarray:
    """The naive baseline [8, 3]: follow the route centreline (default: the scene's) at the current speed."""
    if route is None:
        route = Path.from_points(np.asarray(scene.centerline, dtype=np.float64)[:, :2])
    ego = np.array([scene.ego.x, scene.ego.y, scene.ego.heading])
    s0 = float(route.project(ego[:2])[0])
    return to_ego_frame(ego, route.pose(s0 + scene.ego.vx * HORIZON * 0.1))


def generate_one(seed: int, index: int, families: Sequence[str], scorer: PDMScorer) -> Generated:
    family = families[index % len(families)]
    rng = np.random.default_rng([seed, index])
    draft = FAMILIES[family](rng)
    token = f"synth_{family}_{seed}_{index:05d}"
    try:
        scene = build_scene(draft, token, scorer)
    except ValidationError as err:  # a generator bug, not user input: say which scene
        raise RuntimeError(f"family {family!r} produced an invalid scene {token}: {err}") from err
    scores = scorer.score(scene, np.stack([scene.human_trajectory, constant_velocity(scene, draft.layout.route)]), ("v1",))
    expert, naive = scores.pdms_v1.score
    return Generated(scene, family, split_of(seed, index), float(expert), float(naive))


def check_request(n: int, families: Optional[Sequence[str]], out: FsPath) -> list[str]:
    if n <= 0:
        raise GenerationError(f"--n must be a positive number of scenes, got {n}")
    chosen = list(families) if families else list(FAMILIES)
    unknown = [f for f in chosen if f not in FAMILIES]
    if unknown:
        raise GenerationError(f"unknown families {unknown}; choose from {sorted(FAMILIES)}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise GenerationError(f"cannot create the output folder {out}: {err.strerror}") from None
    if not os.access(out, os.W_OK):
        raise GenerationError(f"the output folder {out} is not writable")
    return chosen


def write_scene(out: FsPath, g: Generated, images: Optional[list[FsPath]]) -> dict:
    path = out / "scenes" / f"{g.scene.token}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(g.scene.model_dump_json(exclude_none=True))
    return {
        "token": g.scene.token,
        "family": g.family,
        "split": g.split,
        "scene": str(path.relative_to(out)),
        "images": [str(p.relative_to(out)) for p in images] if images else [],
        "expert_pdms": round(g.expert_pdms, 4),
        "constant_velocity_pdms": round(g.constant_velocity_pdms, 4),
    }


def summarise(rows: list[dict]) -> dict:
    """Per family and overall: scenes, expert PDMS, constant-velocity PDMS, share where CV = 0."""

    def stats(sel: list[dict]) -> dict:
        e = np.array([r["expert_pdms"] for r in sel])
        c = np.array([r["constant_velocity_pdms"] for r in sel])
        return {
            "scenes": len(sel),
            "expert_pdms": round(float(e.mean()), 4),
            "constant_velocity_pdms": round(float(c.mean()), 4),
            "constant_velocity_zero": round(float((c == 0.0).mean()), 4),
        }

    families = sorted({r["family"] for r in rows})
    persistent = [r for r in rows if r["family"] in PERSISTENT_FAILURES]
    return {
        "families": {f: stats([r for r in rows if r["family"] == f]) for f in families},
        "all": stats(rows),
        "persistent_failures": stats(persistent) if persistent else None,
        "splits": {s: stats([r for r in rows if r["split"] == s]) for s in ("train", "test") if any(r["split"] == s for r in rows)},
    }
