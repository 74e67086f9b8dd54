"""The PDM scorer: NAVSIM v1.1 PDMS and v2 EPDMS for G candidate trajectories of one scene.

Every candidate gets its official single-trajectory value: NAVSIM scores [reference, candidate]
together, so the EP normaliser of a candidate is max(reference masked progress, its own), not
the best of the group. Per scene, the reference plan and the v2 human filter are simulated and
scored once and cached.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

import numpy as np

from elfrl.scene.arrays import scene_arrays
from elfrl.scene.schema import NUM_POSES, Scene
from elfrl.scoring import metrics as M
from elfrl.scoring.comfort import COMFORT_CHECKS, comfort_v1, comfort_v2
from elfrl.scoring.constants import NUM_STATES, V1_WEIGHTS, V2_WEIGHTS, MetricParams, TrackerParams
from elfrl.scoring.simulate import interpolate_poses, relative_to_absolute, simulate
from elfrl.scoring.world import World, build_world, ego_box_corners

V1_KEYS = ("nc", "dac", "ddc", "ttc", "c", "ep", "score")
V2_KEYS = ("nc", "dac", "ddc", "tlc", "ep", "ttc", "lk", "hc", "score")
HUMAN_FILTERED = ("nc", "dac", "ddc", "tlc", "ttc", "lk")  # columns the v2 filter can force to 1


class TrajectoryError(ValueError):
    """Candidate trajectories of the wrong shape or with non-finite values."""


@dataclass(frozen=True)
class VersionScores:
    """Sub-metrics [G] of one scorer version, plus what decided them (for the teacher)."""

    metrics: dict[str, np.ndarray]  # V1_KEYS or V2_KEYS -> [G]
    progress_m: np.ndarray  # [G] raw progress along the centerline
    normaliser_m: np.ndarray  # [G] the EP normaliser max(reference masked, own masked)
    nc_step: np.ndarray  # [G] first counted at-fault collision step, -1 if none
    nc_agent: list[Optional[str]]
    ttc_step: np.ndarray
    ttc_agent: list[Optional[str]]
    dac_step: np.ndarray
    ddc_m: np.ndarray  # worst 1 s of driving against traffic, metres
    comfort_failed: list[list[str]]  # failed comfort checks (C in v1, HC in v2)
    tlc_step: Optional[np.ndarray] = None  # v2
    lk_step: Optional[np.ndarray] = None  # v2
    human_filtered: tuple[str, ...] = ()  # v2: sub-metrics the human filter forced to 1

    @property
    def score(self) -> np.ndarray:
        return self.metrics["score"]

    def records(self) -> list[dict[str, float]]:
        """One {sub-metric: value} dict per candidate (the fixture / results-file layout)."""
        n = len(self.score)
        return [{k: float(v[i]) for k, v in self.metrics.items()} for i in range(n)]


@dataclass(frozen=True)
class SceneScores:
    token: str
    pdms_v1: Optional[VersionScores]  # None when not requested
    epdms_v2: Optional[VersionScores]


@dataclass(frozen=True)
class _Batch:
    """What both versions share for a batch of simulated trajectories."""

    states: np.ndarray  # [B, 41, 11]
    coords: np.ndarray  # [B, 41, 5, 2] box corners and center
    areas: M.Areas
    progress: np.ndarray  # [B] raw progress, metres
    dac: M.Event
    hits: M.Contacts  # ego box vs agents, same step
    ahead: M.Contacts  # TTC projections vs agents


@dataclass
class PreparedScene:
    world: World
    ref_masked_v1: float  # reference plan's progress * NC * DAC (v1.1 EP normaliser)
    ref_masked_v2: float  # reference plan's progress * NC * DAC * DDC * TLC (v2)
    human_filtered: tuple[str, ...]  # v2 sub-metrics the logged human fails (forced to 1)


def _version_scores(metrics, x: _Batch, norm, ids, nc: M.Event, ttc: M.Event, ddc_m, comfort, **extra) -> VersionScores:
    """Sub-metrics plus what decided them (step and agent of NC / TTC, off-road step, ...)."""
    return VersionScores(
        metrics=metrics,
        progress_m=x.progress,
        normaliser_m=norm,
        nc_step=nc.step,
        nc_agent=[ids[i] if i >= 0 else None for i in nc.agent],
        ttc_step=ttc.step,
        ttc_agent=[ids[i] if i >= 0 else None for i in ttc.agent],
        dac_step=x.dac.step,
        ddc_m=ddc_m,
        comfort_failed=[[COMFORT_CHECKS[j] for j in np.flatnonzero(~row)] for row in comfort],
        **extra,
    )


def _ep_v1(masked: np.ndarray, multi: np.ndarray, norm: np.ndarray, threshold: float) -> np.ndarray:
    """v1.1 `_aggregate_scores`: masked progress / normaliser; below the threshold EP = 1, but 0
    where NC*DAC = 0 (a PDM-Closed leftover, navsim issue #56)."""
    above = norm > threshold
    return np.where(above, masked / np.where(above, norm, 1.0), np.where(multi == 0.0, 0.0, 1.0))


def _ep_v2(progress: np.ndarray, norm: np.ndarray, threshold: float) -> np.ndarray:
    """v2 `_aggregate_pdm_scores`: RAW progress / normaliser, clipped to [0, 1]; 1 below the threshold."""
    above = norm > threshold
    return np.where(above, np.clip(progress / np.where(above, norm, 1.0), 0.0, 1.0), 1.0)


class PDMScorer:
    """Scores candidates scene by scene; caches per-scene work for `cache_size` scenes."""

    def __init__(
        self,
        tracker: TrackerParams = TrackerParams(),
        params: MetricParams = MetricParams(),
        cache_size: int = 256,
    ):
        self.tracker = tracker
        self.params = params
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple, PreparedScene] = OrderedDict()

    def prepare(self, scene: Scene) -> PreparedScene:
        """World, reference plan scores and human filter of `scene`, cached. The key is the token
        plus a cheap fingerprint (ego state, map and agent counts), so two different scenes that
        happen to share a token are never confused."""
        e = scene.ego
        key = (scene.token, e.x, e.y, e.heading, e.vx, len(scene.map.polygons), len(scene.agents))
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        arrays = scene_arrays(scene)
        world = build_world(arrays)
        # the reference plan (given at 10 Hz) and, for the v2 human filter, the logged human
        # trajectory are simulated and scored once, in one batch; every row is independent
        plans = [arrays.reference[None]]
        if arrays.human_trajectory is not None:
            origin = world.start[:3]
            plans.append(interpolate_poses(origin, relative_to_absolute(origin, arrays.human_trajectory[None])))
        once = self._batch(world, simulate(world.start, np.concatenate(plans), self.tracker))
        v1 = self._v1(world, once, ref_masked=0.0)
        v2 = self._v2(world, once, ref_masked=0.0, human_filtered=(), history=False)
        ref2 = [v2.metrics[k][0] for k in ("nc", "dac", "ddc", "tlc")]
        human_filtered: tuple[str, ...] = ()
        if len(plans) == 2:  # NAVSIM scores the human alone: EP = 1, no history, so HC = 1
            human_filtered = tuple(k for k in HUMAN_FILTERED if v2.metrics[k][1] == 0.0)
        prepared = PreparedScene(
            world=world,
            ref_masked_v1=float(once.progress[0] * v1.metrics["nc"][0] * v1.metrics["dac"][0]),
            ref_masked_v2=float(once.progress[0] * np.prod(ref2)),
            human_filtered=human_filtered,
        )
        self._cache[key] = prepared
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return prepared

    def score(self, scene: Scene, candidates, versions: tuple[str, ...] = ("v1", "v2")) -> SceneScores:
        """Score candidates [G, 8, 3] (x, y, heading relative to the current rear axle).

        `versions` picks what to compute ("v1" PDMS v1.1, "v2" EPDMS); the other is None.
        """
        unknown = set(versions) - {"v1", "v2"}
        if unknown:
            raise ValueError(f"unknown scorer versions {sorted(unknown)}; use 'v1' and/or 'v2'")
        candidates = check_candidates(candidates)
        prepared = self.prepare(scene)
        world = prepared.world
        batch = self._batch(world, self._simulate(world, candidates))
        return SceneScores(
            token=scene.token,
            pdms_v1=self._v1(world, batch, prepared.ref_masked_v1) if "v1" in versions else None,
            epdms_v2=self._v2(world, batch, prepared.ref_masked_v2, prepared.human_filtered, history=True)
            if "v2" in versions
            else None,
        )

    def score_plans(self, scene: Scene, plans: np.ndarray) -> VersionScores:
        """PDMS v1.1 of global rear-axle plans [G, 41, 3] at 0.0..4.0 s, scored together the way
        PDM-Closed scores its proposals: ONE EP normaliser, the group's best masked progress.

        Uses nothing of `scene.reference`, so it can build one (elfrl.planning.pdm_closed).
        """
        plans = np.asarray(plans, dtype=np.float64)
        if plans.ndim != 3 or plans.shape[1:] != (NUM_STATES, 3) or not np.isfinite(plans).all():
            raise TrajectoryError(f"plans must be finite [G, {NUM_STATES}, 3] global poses, got {list(plans.shape)}")
        world = build_world(scene_arrays(scene))  # not cached: drafts share tokens with their final scene
        return self._v1(world, self._batch(world, simulate(world.start, plans, self.tracker)), ref_masked=None)

    def _simulate(self, world: World, relative: np.ndarray) -> np.ndarray:
        origin = world.start[:3]
        poses = interpolate_poses(origin, relative_to_absolute(origin, relative))
        return simulate(world.start, poses, self.tracker)

    def _batch(self, world: World, states: np.ndarray) -> _Batch:
        coords = ego_box_corners(states)
        areas = M.ego_areas(world, states, coords)
        return _Batch(
            states=states,
            coords=coords,
            areas=areas,
            progress=M.progress(world, coords),
            dac=M.drivable_area_compliance(areas),
            hits=M.collision_contacts(coords, world.obs),
            ahead=M.ttc_contacts(states, coords, world.obs, self.params.ttc_offsets),
        )

    def _v1(self, world: World, x: _Batch, ref_masked: Optional[float]) -> VersionScores:
        """NAVSIM v1.1 PDMScorer: NC, DAC multipliers; EP, TTC, C weighted 5/5/2 (DDC weight 0).

        EP normaliser per candidate: max(ref_masked, own); ref_masked None: the group's best.
        """
        p, obs = self.params, world.obs
        nc = M.no_at_fault_collision(x.states, x.coords, x.areas, obs, x.hits, p)
        ttc = M.time_to_collision(world, x.states, x.areas, obs, x.ahead, p)
        ddc, ddc_m = M.driving_direction_compliance(x.coords, x.areas, exclude_intersection=False, p=p)
        comfort = comfort_v1(x.states)
        multi = nc.score * x.dac.score
        masked = x.progress * multi
        norm = np.full_like(masked, masked.max(initial=0.0)) if ref_masked is None else np.maximum(ref_masked, masked)
        ep = _ep_v1(masked, multi, norm, p.progress_distance_threshold)
        c = comfort.all(-1).astype(np.float64)
        w = V1_WEIGHTS
        weighted = (ep * w["ep"] + ttc.score * w["ttc"] + c * w["c"]) / sum(w.values())
        metrics = {"nc": nc.score, "dac": x.dac.score, "ddc": ddc, "ttc": ttc.score, "c": c, "ep": ep}
        metrics["score"] = multi * weighted
        return _version_scores(metrics, x, norm, obs.ids, nc, ttc, ddc_m, comfort)

    def _v2(
        self, world: World, x: _Batch, ref_masked: float, human_filtered: tuple[str, ...], history: bool
    ) -> VersionScores:
        """NAVSIM v2 PDMScorer with log-replay agents, the human filter and EC dropped (/14)."""
        p, obs = self.params, world.obs
        n = len(x.states)
        # v2 log replay drops agents overlapping the ego at step 0 and observes steps 0..40, so
        # TTC is evaluated while t + max(offset) stays within the 40 simulated steps
        kept = ~world.replay_dropped
        hits = x.hits.where(kept[x.hits.a])
        ahead = x.ahead.where(kept[x.ahead.a] & (x.ahead.t <= NUM_STATES - 1 - max(p.ttc_offsets)))
        nc = M.no_at_fault_collision(x.states, x.coords, x.areas, obs, hits, p)
        ttc = M.time_to_collision(world, x.states, x.areas, obs, ahead, p)
        ddc, ddc_m = M.driving_direction_compliance(x.coords, x.areas, exclude_intersection=True, p=p)
        tlc = M.traffic_light_compliance(world, x.coords)
        lk = M.lane_keeping(world, x.coords, x.areas, p)
        if history:  # HC: the 14 logged states before t = 0 are prepended
            past = np.broadcast_to(world.history, (n,) + world.history.shape)
            comfort = comfort_v2(np.concatenate([past, x.states], axis=1))
        else:  # no past trajectory (human-filter pass): HC = 1
            comfort = np.ones((n, len(COMFORT_CHECKS)), dtype=bool)
        masked = x.progress * nc.score * x.dac.score * ddc * tlc.score
        norm = np.maximum(ref_masked, masked)
        metrics = {
            "nc": nc.score,
            "dac": x.dac.score,
            "ddc": ddc,
            "tlc": tlc.score,
            "ep": _ep_v2(x.progress, norm, p.progress_distance_threshold),
            "ttc": ttc.score,
            "lk": lk.score,
            "hc": comfort.all(-1).astype(np.float64),
        }
        for key in human_filtered:  # the logged human fails this metric too: forgive it
            metrics[key] = np.ones(n)
        w = V2_WEIGHTS
        multi = metrics["nc"] * metrics["dac"] * metrics["ddc"] * metrics["tlc"]
        metrics["score"] = multi * sum(metrics[k] * w[k] for k in w) / sum(w.values())
        return _version_scores(
            metrics, x, norm, obs.ids, nc, ttc, ddc_m, comfort, tlc_step=tlc.step, lk_step=lk.step,
            human_filtered=human_filtered,
        )


def check_candidates(candidates) -> np.ndarray:
    """Candidates as a float64 [G, 8, 3] array, or a TrajectoryError saying what is wrong."""
    arr = np.asarray(candidates, dtype=np.float64)
    if arr.ndim == 2 and arr.shape == (NUM_POSES, 3):
        raise TrajectoryError("got one trajectory [8, 3]; pass a batch [G, 8, 3] (e.g. traj[None])")
    if arr.ndim != 3 or arr.shape[1:] != (NUM_POSES, 3):
        raise TrajectoryError(
            f"candidates must have shape [G, {NUM_POSES}, 3] (x, y, heading at 0.5..4.0 s), got {list(arr.shape)}"
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        g, t, c = np.argwhere(bad)[0]
        raise TrajectoryError(
            f"candidate {g} pose {t} has a non-finite {('x', 'y', 'heading')[c]} ({arr[g, t, c]}); "
            f"{int(bad.any(axis=(1, 2)).sum())} candidate(s) affected: replace unparsable outputs before scoring"
        )
    return arr
