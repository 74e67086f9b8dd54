"""launch/evaluate.py and the runner under it: the baselines' ordering and the result files, resumption
(a killed run continues and samples what it would have), sharding, comparison mode, and bad inputs."""

import csv
import importlib.util
import json
from pathlib import Path

import pytest

from elfrl.config import ConfigError, load_config
from elfrl.evaluation.config import EvaluateConfig
from elfrl.evaluation.pipeline import evaluate
from elfrl.evaluation.records import read_records, shard_path
from elfrl.evaluation.runner import SceneSetError, run, select_scenes
from elfrl.models import build_tiny_student

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("launch_evaluate", ROOT / "launch" / "evaluate.py")
recipe = importlib.util.module_from_spec(_spec)  # launch/evaluate.py: recipes are scripts, not a package
_spec.loader.exec_module(recipe)
main = recipe.main


CONFIG = str(ROOT / "configs" / "evaluate.yaml")


def _cfg(generated, out, **kw):
    base = dict(policy="expert", scene_dir=str(generated), split="all", output_dir=str(out), worst_scenes=2)
    return EvaluateConfig.model_validate({**base, **kw})


@pytest.fixture(scope="module")
def baselines(generated, tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    out = {}
    for policy in ("expert", "constant_velocity"):
        argv = ["--config", CONFIG, "--set", f"policy={policy}", "--set", "checkpoint=null",
                "--set", f"scene_dir={generated}", "--set", "split=all", "--set", f"output_dir={root / policy}",
                "--set", "worst_scenes=2"]
        main(argv)
        out[policy] = root / policy
    return out


def test_expert_beats_constant_velocity_and_files_are_written(baselines):
    expert = json.loads((baselines["expert"] / "metrics.json").read_text())
    naive = json.loads((baselines["constant_velocity"] / "metrics.json").read_text())
    assert expert["scenes"] == naive["scenes"] == 6
    assert expert["pdms"] > 0.9 > naive["pdms"]  # the stopped-lead scenes: constant velocity drives into the car
    assert expert["planning_accuracy"] == {"speed": 1.0, "path": 1.0, "overall": 1.0}
    assert expert["l2"]["uniad"]["3s"] < 0.01  # the expert's text rounds the ground truth to 2 decimals
    assert naive["collision_rate"]["uniad"]["3s"] > 0.0 == expert["collision_rate"]["uniad"]["3s"]
    assert expert["format_validity"] == 1.0 and "total_failure" not in expert
    with open(baselines["expert"] / "per_scene.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and {r["family"] for r in rows} == {"stopped_lead", "lane_follow", "curve"}
    page = (baselines["constant_velocity"] / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4  # sub-metric bars, histogram, 2 worst scenes
    assert "PDMS v1.1" in page and "UniAD" in page and "stopped_lead" in page


def test_comparison_puts_runs_side_by_side(baselines, tmp_path):
    evaluate(_cfg(baselines["expert"].parent, tmp_path, compare=list(baselines.values())))
    runs = json.loads((tmp_path / "comparison.json").read_text())
    assert list(runs) == ["expert", "constant_velocity"]
    page = (tmp_path / "comparison.html").read_text()
    assert f"{runs['expert']['pdms']:.3f}" in page and f"{runs['constant_velocity']['pdms']:.3f}" in page


class Counting:
    """Wraps a policy and counts the scenes it is asked about."""

    needs_images = False

    def __init__(self, inner):
        self.inner, self.asked = inner, 0

    def answer(self, scenes, images, k, temperature, seed):
        self.asked += len(scenes)
        return self.inner.answer(scenes, images, k, temperature, seed)


def test_a_killed_run_resumes_where_it_stopped(generated, tmp_path):
    from elfrl.evaluation.policies import ExpertPolicy

    cfg = _cfg(generated, tmp_path, batch_size=2, num_shards=2)
    rows = select_scenes(generated, "all", None, need_images=False)
    spec = cfg.spec(len(rows))
    first = Counting(ExpertPolicy())
    full = run(spec, rows, tmp_path, policy=first, show_progress=False)
    assert first.asked == 6 and [r.token for r in full] == [r["token"] for r in rows]
    # kill shard 1 mid-write: its last record is torn in half
    path = shard_path(tmp_path, 1, 2)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]) + lines[-1][:40])
    again = Counting(ExpertPolicy())
    resumed = run(spec, rows, tmp_path, policy=again, show_progress=False)
    assert again.asked == 1  # only the batch of the torn scene (it was alone in it) is redone
    assert [r.model_dump() for r in resumed] == [r.model_dump() for r in full]
    done = Counting(ExpertPolicy())
    run(spec, rows, tmp_path, policy=done, show_progress=False)
    assert done.asked == 0
    # a corrupted line that is not the last one is not silently dropped
    path.write_bytes(b"{}\n" + path.read_bytes())
    with pytest.raises(ValueError, match="line 1 is not a scene record"):
        read_records(path)


def test_model_samples_resume_bit_identically(generated, tmp_path):
    """A tiny random student, K = 2 at temperature 1, two shards in two processes; killed while writing a
    batch, the rerun samples exactly the texts it lost (batches are fixed slots with fixed seeds)."""
    ckpt = build_tiny_student(tmp_path / "student")
    cfg = _cfg(generated, tmp_path / "run", policy="model", checkpoint=str(ckpt), samples=2, temperature=1.0,
               batch_size=2, workers=2, max_new_tokens=24, worst_scenes=1, limit=4)
    metrics = evaluate(cfg)
    assert metrics["scenes"] == 4 and metrics["samples_per_scene"] == 2
    assert set(metrics["total_failure"]) == {"pdms", "dac", "nc"}  # K > 1
    assert metrics["parsable"] == 0.0  # 24 tokens of a random student: never 8 poses
    # so L2 is a mean over nothing: NaN in memory, null (strict JSON) in metrics.json
    assert json.loads((cfg.output_dir / "metrics.json").read_text())["l2"]["uniad"]["3s"] is None
    path = shard_path(cfg.output_dir, 0, 2)
    before = path.read_text().splitlines()
    assert len(before) == 2
    path.write_text(before[0] + "\n" + before[1][:50])  # killed while writing the second scene of the batch
    evaluate(cfg)
    assert path.read_text().splitlines() == before
    with pytest.raises(ValueError, match="different run .*temperature: 1.0 on disk, 0.5 now"):
        evaluate(cfg.model_copy(update={"temperature": 0.5}))


def test_bad_inputs_say_what_to_fix(generated, tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        evaluate(_cfg(generated, tmp_path, policy="model", checkpoint=str(tmp_path / "no_such_checkpoint")))
    with pytest.raises(SceneSetError, match="no scenes of split 'val'"):
        evaluate(_cfg(generated, tmp_path, split="val"))
    with pytest.raises(FileNotFoundError, match="manifest.jsonl does not exist"):
        evaluate(_cfg(tmp_path, tmp_path / "out"))
    assert not (tmp_path / "records").exists()  # nothing was run
    # a model needs every selected scene's front image: refused, not filtered (baselines would see other scenes)
    rows = [json.loads(line) for line in (generated / "manifest.jsonl").read_text().splitlines()]
    rows = [{**r, "scene": str(generated / r["scene"])} for r in rows]
    rows[2]["images"] = []
    blind = tmp_path / "blind"
    blind.mkdir()
    (blind / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert len(select_scenes(blind, "all", None, need_images=False)) == 6
    with pytest.raises(SceneSetError, match=f"1 of the 6 selected scenes have no front image .e.g. {rows[2]['token']}"):
        select_scenes(blind, "all", None, need_images=True)
    with pytest.raises(ConfigError, match="identical greedy answers"):
        load_config(EvaluateConfig, CONFIG, ["samples=4"])
    with pytest.raises(ConfigError, match="needs checkpoint"):
        load_config(EvaluateConfig, CONFIG, ["checkpoint=null"])
    with pytest.raises(SystemExit) as exit_:
        from elfrl.config import run_recipe

        run_recipe(lambda: main(["--config", CONFIG, "--set", f"checkpoint={tmp_path / 'nope'}"]),
                   (FileNotFoundError,))
    assert exit_.value.code == 2 and "does not exist" in capsys.readouterr().err
