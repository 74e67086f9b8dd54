"""Log boxes and tracks: ego-frame annotations -> global boxes, 2 Hz -> 10 Hz interpolation, boxes -> agents.

Pure functions over `TrackBox`es; `boxes_from_annotations` reads one NAVSIM `Annotations` by attribute.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from typing import Any, Optional, Sequence

import numpy as np
from pydantic import ValidationError

from elfrl.scene.navsim.common import (
    AGENT_TYPES_BY_NAME,
    FRAME_S,
    MOVING_TYPES,
    STEP_S,
    STEPS_PER_FRAME,
    NavsimExportError,
    TrackBox,
    _attr,
    _describe,
    _note,
    _wrap,
)
from elfrl.scene.schema import MAX_OBSERVATION_STEP, Agent


def interpolate_tracks(frames_2hz: Sequence[Sequence[TrackBox]]) -> list[list[TrackBox]]:
    """Boxes of 2 Hz frames (frame k at k * 0.5 s) -> boxes at every 10 Hz step (step i at i * 0.1 s).

    The rule of the official metric cache, `MetricCacheProcessor._interpolate_gt_observation`
    (navsim/planning/metric_caching/metric_cache_processor.py: main 0a380a9 line 99, the
    once-seen branch line 177; v1.1 3e8291b lines 91 / 165) with `StateInterpolator`
    (navsim/planning/metric_caching/metric_caching_utils.py):
    - a track is linear in x, y, heading (unwrapped over its sightings, then wrapped back with
      arctan2) and velocity between consecutive sightings, gaps included, and present only at
      steps within [first sighting, last sighting]: no extrapolation;
    - a track seen in exactly one frame is present at EVERY step with that one box
      (`if interpolator.start_time == interpolator.end_time: interpolated_tracks.append(initial_detection_track)`);
    - type, length and width come from the first sighting; static types have zero velocity;
    - at every step, tracks are listed in order of first sighting.
    """
    n = len(frames_2hz)
    if n < 1:
        raise NavsimExportError("interpolate_tracks needs at least one frame")
    # times exactly as the metric cache computes them (arange * step), so the [first, last] test agrees
    frame_t = np.arange(n, dtype=float) * FRAME_S
    step_t = np.arange(STEPS_PER_FRAME * (n - 1) + 1, dtype=float) * STEP_S
    sightings: dict[str, list[tuple[float, TrackBox]]] = {}
    for k, frame in enumerate(frames_2hz):
        seen: set[str] = set()
        for box in frame:
            if box.token in seen:
                raise NavsimExportError(f"track {box.token!r} appears twice in 2 Hz frame {k}")
            seen.add(box.token)
            sightings.setdefault(box.token, []).append((frame_t[k], box))

    steps: list[list[TrackBox]] = [[] for _ in step_t]
    for token, track in sightings.items():
        first = track[0][1]
        moving = first.type in MOVING_TYPES
        if len(track) == 1:
            box = first if moving else first._replace(vx=0.0, vy=0.0)
            for row in steps:
                row.append(box)
            continue
        t = np.array([s[0] for s in track])
        states = np.array(
            [[b.x, b.y, b.heading, b.vx if moving else 0.0, b.vy if moving else 0.0] for _, b in track],
            dtype=np.float64,
        )
        states[:, 2] = np.unwrap(states[:, 2])
        inside = np.flatnonzero((t[0] <= step_t) & (step_t <= t[-1]))
        values = np.stack([np.interp(step_t[inside], t, states[:, c]) for c in range(5)], axis=1)
        values[:, 2] = _wrap(values[:, 2])
        for i, (x, y, h, vx, vy) in zip(inside, values.tolist()):
            steps[i].append(TrackBox(token, first.type, x, y, h, first.length, first.width, vx, vy))
    return steps


def agents_from_steps(
    steps: Sequence[Sequence[TrackBox]], counts: Optional[Counter] = None, where: str = "tracks"
) -> list[Agent]:
    """Per-step boxes (step i = list index) -> scene-pack agents, one per track in order of first
    sighting; type and size from the first sighting. Steps past 50 are dropped (and counted)."""
    counts = Counter() if counts is None else counts
    if len(steps) > MAX_OBSERVATION_STEP + 1:
        _note(
            counts,
            "observation_steps_truncated",
            logging.WARNING,
            f"{where}: the observation has {len(steps)} steps; the scene pack keeps steps 0..{MAX_OBSERVATION_STEP}",
        )
        steps = steps[: MAX_OBSERVATION_STEP + 1]
    first: dict[str, TrackBox] = {}
    rows: dict[str, list[tuple]] = {}
    for i, boxes in enumerate(steps):
        for b in boxes:
            if b.token not in first:
                first[b.token] = b
                rows[b.token] = []
            rows[b.token].append((i, b.x, b.y, b.heading, b.vx, b.vy))
    agents = []
    for token, b in first.items():
        try:
            agents.append(Agent(id=token, type=b.type, length=b.length, width=b.width, steps=rows[token]))
        except ValidationError as err:
            message = f"{where}: track {token!r} does not make a valid agent:\n{_describe(err)}"
            raise NavsimExportError(message) from None
    return agents


def boxes_from_annotations(
    annotations: Any, ego_pose: Sequence[float], where: str, counts: Optional[Counter] = None
) -> list[TrackBox]:
    """One log frame's `Annotations` (ego-frame boxes) -> global TrackBoxes.

    As `annotations_to_detection_tracks` / `gt_boxes_oriented_box` (navsim/planning/
    scenario_builder/navsim_scenario_utils.py): the box centre is rotated by the ego heading and
    shifted by the ego (rear-axle) position, heading += ego heading (wrapped), and the velocity of
    vehicles, pedestrians and bicycles (`velocity_3d[:2]`) is rotated by the ego heading.
    """
    counts = Counter() if counts is None else counts
    boxes = np.asarray(_attr(annotations, "annotations", "boxes", where), dtype=np.float64).reshape(-1, 7)
    names = list(_attr(annotations, "annotations", "names", where))
    velocity = np.asarray(_attr(annotations, "annotations", "velocity_3d", where), dtype=np.float64).reshape(-1, 3)
    tokens = [str(t) for t in _attr(annotations, "annotations", "track_tokens", where)]
    if not len(boxes) == len(names) == len(velocity) == len(tokens):
        raise NavsimExportError(
            f"{where}: annotations have {len(boxes)} boxes, {len(names)} names, {len(velocity)} velocities "
            f"and {len(tokens)} track tokens; they must be equal"
        )
    ex, ey, eh = (float(v) for v in ego_pose[:3])
    c, s = math.cos(eh), math.sin(eh)
    out = []
    for box, name, vel, token in zip(boxes, names, velocity, tokens):
        if name == "ego":
            _note(counts, "ego_boxes_skipped", logging.WARNING, f"{where}: skipped a box of type 'ego' ({token})")
            continue
        if name not in AGENT_TYPES_BY_NAME.values():
            raise NavsimExportError(
                f"{where}: box {token!r} has type {name!r}; known types: {sorted(AGENT_TYPES_BY_NAME.values())}"
            )
        lx, ly, lh = box[0], box[1], box[6]
        heading = float(_wrap(_wrap(lh + eh)))  # rotate_state_se2 wraps, then gt_boxes_oriented_box wraps again
        vx = vy = 0.0
        if name in MOVING_TYPES:
            vx, vy = vel[0] * c - vel[1] * s, vel[0] * s + vel[1] * c
        out.append(
            TrackBox(
                token,
                name,
                float(lx * c - ly * s + ex),
                float(lx * s + ly * c + ey),
                heading,
                float(box[3]),
                float(box[4]),
                float(vx),
                float(vy),
            )
        )
    return out
