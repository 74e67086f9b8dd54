"""`elfrl score FILE --out RESULTS.json` and `python -m elfrl.demo`, end to end."""

import gzip
import json
import os
import re
import subprocess
import sys

import pytest

from elfrl.cli import main
from tests.conftest import PDMS_FIXTURES

V1 = ["nc", "dac", "ddc", "ttc", "c", "ep", "score"]
V2 = ["nc", "dac", "ddc", "tlc", "ep", "ttc", "lk", "hc", "score"]


@pytest.fixture(scope="module")
def small_fixture(tmp_path_factory):
    with gzip.open(PDMS_FIXTURES, "rt") as fh:
        doc = json.load(fh)
    doc["scenes"] = doc["scenes"][:6]
    path = tmp_path_factory.mktemp("cli") / "six.json"
    path.write_text(json.dumps(doc))
    return path, doc


def test_score_writes_the_fixture_layout(small_fixture, tmp_path):
    path, doc = small_fixture
    out = tmp_path / "results" / "r.json"
    assert main(["score", str(path), "--out", str(out), "--quiet"]) == 0
    res = json.loads(out.read_text())
    assert set(res) == {"scenes", "timing"}
    assert res["timing"]["candidates"] == 48 and res["timing"]["seconds"] > 0
    for got, scene in zip(res["scenes"], doc["scenes"]):
        assert got["token"] == scene["token"]
        assert [list(r) for r in got["pdms_v1"]] == [V1] * 8
        assert [list(r) for r in got["epdms_v2"]] == [V2] * 8
        for version in ("pdms_v1", "epdms_v2"):
            for rec, exp in zip(got[version], scene["expected"][version]):
                for key in rec:
                    assert rec[key] == pytest.approx(exp[key], abs=1e-4), (scene["token"], version, key)


def test_score_details_and_one_version(small_fixture, tmp_path):
    path, _ = small_fixture
    out = tmp_path / "r.json"
    args = ["score", str(path), "--out", str(out), "--set", "versions=[v2]", "--set", "details=true", "--quiet"]
    assert main(args) == 0
    scene = json.loads(out.read_text())["scenes"][0]
    assert "pdms_v1" not in scene and len(scene["epdms_v2"]) == 8
    assert {"progress_m", "ep_normaliser_m", "nc_step", "ttc_agent", "comfort_failed"} <= set(scene["details_v2"][0])


def test_bad_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "elfrl.scene-fixtures/1", "scenes": [{"token": "t0", "map": {"polygons": []}}]}')
    assert main(["score", str(bad), "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "scene 't0' is invalid" in err and "map.polygons" in err and "the map is empty" in err
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize(
    "override, message",
    [
        ("versions=[v3]", r"versions\[0\]"),
        ("versions=[]", r"v1 and/or v2 once each"),
        ("verions=[v1]", r"unknown key 'verions'.*did you mean 'versions'"),
        ("cache_size=0", r"cache_size"),
    ],
)
def test_bad_config_is_a_clear_error(small_fixture, tmp_path, capsys, override, message):
    assert main(["score", str(small_fixture[0]), "--out", str(tmp_path / "r.json"), "--set", override]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "r.json").exists()


def test_shipped_score_config(small_fixture, tmp_path):
    out = tmp_path / "r.json"
    assert main(["score", str(small_fixture[0]), "--out", str(out), "--config", "configs/score.yaml", "--quiet"]) == 0
    assert {"pdms_v1", "epdms_v2"} <= set(json.loads(out.read_text())["scenes"][0])


def test_console_script_and_demo(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "elfrl.demo", "--out", str(tmp_path / "demo"), "--smoke"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert run.returncode == 0, run.stderr + run.stdout
    assert "0 sub-metric mismatches" in run.stdout
    for name in ("results.json", "report.md", "scores.png"):
        assert (tmp_path / "demo" / name).stat().st_size > 0
    report = (tmp_path / "demo" / "report.md").read_text()
    assert "96/96 candidates identical" in report and "## The tiny student: SFT on synthetic scenes" in report
    result = json.loads((tmp_path / "demo" / "sft_eval.json").read_text())
    evaluation = result["evaluation"]
    assert list(evaluation) == ["sft_stage1", "sft_stage2", "feedback GRPO"]
    assert all(0.0 <= r["answers"]["parsable"] <= 1.0 for r in evaluation.values())
    assert result["grpo"]["steps"] == 2 and result["grpo"]["feedback_mode"] == "teacher"
    assert (tmp_path / "demo" / "grpo" / "metrics.jsonl").is_file()
    assert "students on" in run.stdout and "before (SFT stage 2)" in run.stdout and "after (feedback GRPO)" in run.stdout
    assert "- feedback GRPO (teacher): 2 steps" in report


def test_score_needs_candidates(tmp_path, capsys):
    from elfrl.scene import read_scenes, write_scenes

    scene = read_scenes(PDMS_FIXTURES)[0].model_copy(update={"candidates": [], "expected": None})
    path = write_scenes(tmp_path / "pack.json", [scene])
    assert main(["score", str(path), "--out", str(tmp_path / "r.json")]) == 2
    assert "no scene has `candidates` to score" in capsys.readouterr().err
