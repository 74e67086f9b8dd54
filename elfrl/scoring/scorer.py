"""The PDM scorer: NAVSIM v1.1 PDMS and v2 EPDMS for G candidate trajectories of one scene.

Every candidate gets its official single-trajectory value: NAVSIM scores [reference, candidate]
together, so the EP normaliser of a candidate is max(reference masked progress, its own), not
the best of the group. Per scene, the reference plan and the v2 human filter are simulated and
scored once and cached.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
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
    pdms_v1: VersionScores
    epdms_v2: VersionScores


@dataclass(frozen=True)
class _Raw:
    """Unaggregated metrics of a batch of simulated trajectories."""

    progress: np.ndarray
    dac: M.Event
    nc1: M.Event
    ttc1: M.Event
    ddc1: tuple[np.ndarray, np.ndarray]
    comfort1: np.ndarray  # [B, 6]
    nc2: M.Event
    ttc2: M.Event
    ddc2: tuple[np.ndarray, np.ndarray]
    tlc: M.Event
    lk: M.Event
    comfort2: Optional[np.ndarray]  # [B, 6], None without history (HC = 1)
    ids: tuple[str, ...]  # agent ids of the observation


@dataclass
class PreparedScene:
    world: World
    ref_masked_v1: float
    ref_masked_v2: float
    human_filtered: tuple[str, ...]
    uses: int = field(default=0)


def _agent_names(ids: tuple[str, ...], idx: np.ndarray) -> list[Optional[str]]:
    return [ids[i] if i >= 0 else None for i in idx]


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
        self._cache: OrderedDict[str, PreparedScene] = OrderedDict()

    # ---- per-scene, cached -------------------------------------------------------------------
    def prepare(self, scene: Scene) -> PreparedScene:
        """World, reference plan scores and human filter of `scene` (cached by token)."""
        hit = self._cache.get(scene.token)
        if hit is not None:
            self._cache.move_to_end(scene.token)
            return hit
        arrays = scene_arrays(scene)
        world = build_world(arrays)
        ref = self._raw(world, simulate(world.start, arrays.reference[None], self.tracker), with_history=False)
        human_filtered: tuple[str, ...] = ()
        if arrays.human_trajectory is not None:
            human = self._raw(world, self._simulate(world, arrays.human_trajectory[None]), with_history=False)
            v2 = self._v2(human, ref_masked=0.0, human_filtered=(), single=True)
            human_filtered = tuple(k for k in HUMAN_FILTERED if v2.metrics[k][0] == 0.0)
        prepared = PreparedScene(
            world=world,
            ref_masked_v1=float(ref.progress[0] * ref.nc1.score[0] * ref.dac.score[0]),
            ref_masked_v2=float(
                ref.progress[0] * ref.nc2.score[0] * ref.dac.score[0] * ref.ddc2[0][0] * ref.tlc.score[0]
            ),
            human_filtered=human_filtered,
        )
        self._cache[scene.token] = prepared
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return prepared

    # ---- per batch ---------------------------------------------------------------------------
    def score(self, scene: Scene, candidates) -> SceneScores:
        """Score candidates [G, 8, 3] (x, y, heading relative to the current rear axle)."""
        candidates = check_candidates(candidates)
        prepared = self.prepare(scene)
        prepared.uses += 1
        world = prepared.world
        if len(candidates) == 0:
            empty = self._raw(world, np.zeros((0, 41, 11)), with_history=True)
            return SceneScores(scene.token, self._v1(empty, 0.0), self._v2(empty, 0.0, ()))
        raw = self._raw(world, self._simulate(world, candidates), with_history=True)
        return SceneScores(
            token=scene.token,
            pdms_v1=self._v1(raw, prepared.ref_masked_v1),
            epdms_v2=self._v2(raw, prepared.ref_masked_v2, prepared.human_filtered),
        )

    def _simulate(self, world: World, relative: np.ndarray) -> np.ndarray:
        origin = world.start[:3]
        poses = interpolate_poses(origin, relative_to_absolute(origin, relative))
        return simulate(world.start, poses, self.tracker)

    def _raw(self, world: World, states: np.ndarray, with_history: bool) -> _Raw:
        p = self.params
        coords = ego_box_corners(states)  # [B, 41, 5, 2]
        areas = M.ego_areas(world, states, coords)
        comfort2 = None
        if with_history:
            history = np.broadcast_to(world.history, (len(states),) + world.history.shape)
            comfort2 = comfort_v2(np.concatenate([history, states], axis=1))
        # v2 sees steps 0..40 without the agents log replay drops, so its contacts are a subset
        obs, kept = world.obs, ~world.replay_dropped
        hits = M.collision_contacts(coords, obs)
        ahead = M.ttc_contacts(states, coords, obs, p.ttc_offsets)
        hits2 = hits.where(kept[hits.a])
        # v2 TTC: t + max(offset) must stay within the 40 simulated steps
        ahead2 = ahead.where(kept[ahead.a] & (ahead.t <= NUM_STATES - 1 - max(p.ttc_offsets)))
        return _Raw(
            progress=M.progress(world, coords),
            dac=M.drivable_area_compliance(areas),
            nc1=M.no_at_fault_collision(states, coords, areas, obs, hits, p),
            ttc1=M.time_to_collision(states, areas, obs, ahead, p),
            ddc1=M.driving_direction_compliance(coords, areas, exclude_intersection=False, p=p),
            comfort1=comfort_v1(states),
            nc2=M.no_at_fault_collision(states, coords, areas, obs, hits2, p),
            ttc2=M.time_to_collision(states, areas, obs, ahead2, p),
            ddc2=M.driving_direction_compliance(coords, areas, exclude_intersection=True, p=p),
            tlc=M.traffic_light_compliance(world, coords),
            lk=M.lane_keeping(world, coords, areas, p),
            comfort2=comfort2,
            ids=obs.ids,
        )

    # ---- aggregation -------------------------------------------------------------------------
    def _v1(self, raw: _Raw, ref_masked: float) -> VersionScores:
        """PDMScorer._aggregate_scores (v1.1): EP of masked progress, zeroed where NC*DAC = 0."""
        multi = raw.nc1.score * raw.dac.score
        masked = raw.progress * multi
        norm = np.maximum(ref_masked, masked)
        above = norm > self.params.progress_distance_threshold
        ep = np.where(above, masked / np.where(above, norm, 1.0), np.where(multi == 0.0, 0.0, 1.0))
        c = raw.comfort1.all(-1).astype(np.float64)
        w = V1_WEIGHTS
        weighted = (ep * w["ep"] + raw.ttc1.score * w["ttc"] + c * w["c"] + raw.ddc1[0] * 0.0) / sum(w.values())
        metrics = {
            "nc": raw.nc1.score,
            "dac": raw.dac.score,
            "ddc": raw.ddc1[0],
            "ttc": raw.ttc1.score,
            "c": c,
            "ep": ep,
            "score": multi * weighted,
        }
        return VersionScores(
            metrics=metrics,
            progress_m=raw.progress,
            normaliser_m=norm,
            nc_step=raw.nc1.step,
            nc_agent=_agent_names(raw.ids, raw.nc1.agent),
            ttc_step=raw.ttc1.step,
            ttc_agent=_agent_names(raw.ids, raw.ttc1.agent),
            dac_step=raw.dac.step,
            ddc_m=raw.ddc1[1],
            comfort_failed=[[COMFORT_CHECKS[j] for j in np.flatnonzero(~row)] for row in raw.comfort1],
        )

    def _v2(self, raw: _Raw, ref_masked: float, human_filtered: tuple[str, ...], single: bool = False) -> VersionScores:
        """PDMScorer._aggregate_pdm_scores (v2) + the human filter + EC dropped (/14)."""
        n = len(raw.progress)
        multi = raw.nc2.score * raw.dac.score * raw.ddc2[0] * raw.tlc.score
        masked = raw.progress * multi
        norm = masked if single else np.maximum(ref_masked, masked)
        above = norm > self.params.progress_distance_threshold
        ep = np.where(above, np.clip(raw.progress / np.where(above, norm, 1.0), 0.0, 1.0), 1.0)
        hc = np.ones(n) if raw.comfort2 is None else raw.comfort2.all(-1).astype(np.float64)
        metrics = {
            "nc": raw.nc2.score,
            "dac": raw.dac.score,
            "ddc": raw.ddc2[0],
            "tlc": raw.tlc.score,
            "ep": ep,
            "ttc": raw.ttc2.score,
            "lk": raw.lk.score,
            "hc": hc,
        }
        for key in human_filtered:  # the logged human fails this metric too: forgive it
            metrics[key] = np.ones(n)
        w = V2_WEIGHTS
        multi = metrics["nc"] * metrics["dac"] * metrics["ddc"] * metrics["tlc"]
        weighted = sum(metrics[k] * w[k] for k in ("ep", "ttc", "lk", "hc")) / sum(w.values())
        metrics["score"] = multi * weighted
        comfort = raw.comfort2 if raw.comfort2 is not None else np.ones((n, len(COMFORT_CHECKS)), bool)
        return VersionScores(
            metrics=metrics,
            progress_m=raw.progress,
            normaliser_m=norm,
            nc_step=raw.nc2.step,
            nc_agent=_agent_names(raw.ids, raw.nc2.agent),
            ttc_step=raw.ttc2.step,
            ttc_agent=_agent_names(raw.ids, raw.ttc2.agent),
            dac_step=raw.dac.step,
            ddc_m=raw.ddc2[1],
            comfort_failed=[[COMFORT_CHECKS[j] for j in np.flatnonzero(~row)] for row in comfort],
            tlc_step=raw.tlc.step,
            lk_step=raw.lk.step,
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
