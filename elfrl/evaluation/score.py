"""One scene's K answers -> a `SceneRecord`: parse, PDMS v1.1 and EPDMS v2 sub-scores (one batched
scorer call per scene), meta-action labels stated and implied, L2 and collisions at 0.5..3.0 s."""

from __future__ import annotations

import re
from typing import Optional, Sequence, get_args

import numpy as np

from elfrl.data.labels import PathAction, SpeedAction, gt_poses, scene_meta_action
from elfrl.data.output import parse_output
from elfrl.evaluation.openloop import SceneCollisions, l2_per_step
from elfrl.evaluation.records import SampleRecord, SceneRecord
from elfrl.scene.schema import EPDMSv2Record, PDMSv1Record, Scene
from elfrl.scoring import PDMScorer

SPEED_ACTIONS, PATH_ACTIONS = set(get_args(SpeedAction)), set(get_args(PathAction))
_META = re.compile(r"Meta action:\s*([a-z ]+?)\s*,\s*([a-z ]+?)\s*(?:\.|$)", re.IGNORECASE | re.MULTILINE)


def stated_meta_action(think: Optional[str]) -> Optional[tuple[str, str]]:
    """(speed, path) named by "Meta action: <speed>, <path>." in the CoT; None when absent or not a known
    label (`elfrl.data.labels`), which planning accuracy counts as wrong."""
    match = _META.search(think or "")
    if match is None:
        return None
    speed, path = match.group(1).lower(), match.group(2).lower()
    return (speed, path) if speed in SPEED_ACTIONS and path in PATH_ACTIONS else None


def score_scene(scene: Scene, texts: Sequence[str], scorer: PDMScorer, family: Optional[str] = None) -> SceneRecord:
    parsed = [parse_output(t) for t in texts]
    ok = [i for i, p in enumerate(parsed) if p.poses is not None]
    v1 = v2 = None
    if ok:
        scores = scorer.score(scene, np.stack([parsed[i].poses for i in ok]), ("v1", "v2"))
        v1, v2 = scores.pdms_v1.records(), scores.epdms_v2.records()
    gt = gt_poses(scene)
    label = scene_meta_action(scene)
    collide = SceneCollisions(scene)
    samples = []
    for i, (text, p) in enumerate(zip(texts, parsed)):
        fields = dict(text=text, failure=None if p.failure is None else p.failure.value,
                      stated=stated_meta_action(p.think))
        if p.poses is not None:  # scored: row ok.index(i) of the scorer's output
            row, meta = ok.index(i), scene_meta_action(scene, p.poses)
            fields.update(poses=p.poses.tolist(), pdms=PDMSv1Record(**v1[row]), epdms=EPDMSv2Record(**v2[row]),
                          implied=(meta.speed.action, meta.path.action), l2=l2_per_step(p.poses, gt).tolist(),
                          collision=collide(p.poses).tolist())
        samples.append(SampleRecord(**fields))
    return SceneRecord(token=scene.token, family=family, gt=(label.speed.action, label.path.action),
                       gt_collision=collide.gt.tolist(), samples=samples)
