"""A complete, valid failure case (a constant-velocity plan into a stopped car), shown in the OpenAPI
schema so clients and checks can post it as is. Regenerate with `python -m teachers.example`."""

from __future__ import annotations

import json
from pathlib import Path

EXAMPLE_FILE = Path(__file__).parent / "example_case.json"
EXAMPLE_CASE: dict = json.loads(EXAMPLE_FILE.read_text())


def regenerate(path: Path = EXAMPLE_FILE) -> dict:
    import tempfile

    import numpy as np

    from elfrl.data.prompts import scene_answer
    from elfrl.feedback import build_case
    from elfrl.scene import read_scenes
    from elfrl.scoring import PDMScorer
    from elfrl.synth.command import generate_dataset

    with tempfile.TemporaryDirectory() as tmp:
        generate_dataset(1, seed=3, out=Path(tmp), families=["stopped_lead"], images=False)
        (scene,) = read_scenes(next((Path(tmp) / "scenes").glob("*.json")))
    crash = np.zeros((8, 3))
    crash[:, 0] = scene.ego.vx * np.arange(1, 9) * 0.5
    scores = PDMScorer().score(scene, crash[None], ("v1",)).pdms_v1
    case = build_case(scene, scene_answer(scene, crash), crash, scores, 0, "example-0")
    data = case.model_dump(mode="json")
    path.write_text(json.dumps(data, indent=1) + "\n")
    return data


if __name__ == "__main__":
    regenerate()
