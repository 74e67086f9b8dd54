"""Shared fixtures: the golden NAVSIM scoring fixtures shipped with the tests, a small generated scene set."""

from pathlib import Path

import os

import pytest

DATA = Path(__file__).parent / "data"
# 150 scenes x 8 candidates scored by the official NAVSIM v1.1 / v2 code (shared/fixtures/pdms/dev.json).
# ELFRL_PDMS_FIXTURES points the parity tests at another fixture file of the same format.
PDMS_FIXTURES = Path(os.environ.get("ELFRL_PDMS_FIXTURES", DATA / "pdms_dev.json.gz"))


@pytest.fixture(scope="session")
def dev_scenes():
    from elfrl.scene import read_scenes

    return read_scenes(PDMS_FIXTURES)


@pytest.fixture(scope="session")
def scorer():
    from elfrl.scoring import PDMScorer

    return PDMScorer()


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """6 generated scenes with images (stopped lead, lane follow, curve): manifest, packs, front images."""
    from elfrl.cli import main

    out = tmp_path_factory.mktemp("gen") / "scenes"
    args = ["scenes", "generate", "--n", "6", "--seed", "9", "--out", str(out), "--workers", "1"]
    assert main(args + ["--families", "stopped_lead,lane_follow,curve"]) == 0
    return out
