"""Shared fixtures: the golden NAVSIM scoring fixtures shipped with the tests."""

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
