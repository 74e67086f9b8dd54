"""The client and offline generation against a running teacher server (uvicorn on loopback)."""

import asyncio
import json

import httpx
import pytest

from elfrl.cli import main as elfrl_main
from elfrl.feedback import FailureCase
from elfrl.feedback.cases import failure_cases
from teachers import generate
from teachers.client import TeacherClient
from teachers.config import TeacherConfig
from teachers.example import EXAMPLE_CASE
from teachers.server import build_app
from tests.fake_openai import free_port, serve


@pytest.fixture(scope="module")
def many_cases(tmp_path_factory):
    """At least 1,000 failure cases from 240 generated scenes of every family (no images)."""
    out = tmp_path_factory.mktemp("cases") / "scenes"
    assert elfrl_main(["scenes", "generate", "--n", "240", "--seed", "21", "--out", str(out), "--no-images",
                       "--workers", "2"]) == 0
    cases = list(failure_cases(out))
    assert len(cases) >= 1000, len(cases)
    return cases[:1000]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    config = TeacherConfig(cache_dir=tmp_path_factory.mktemp("cache"), max_batch=128)
    with serve(build_app(config)) as url:
        yield url


def test_a_thousand_cases_get_reports_that_point_the_right_way(many_cases, server_url):
    async def go():
        async with TeacherClient(server_url, batch_size=100, max_in_flight=4) as client:
            return await client.reports(many_cases), client.stats

    results, stats = asyncio.run(go())
    assert [r.case_id for r in results] == [c.case_id for c in many_cases]
    assert stats.cases == 1000 and stats.fallbacks == 0 and stats.requests == 10
    collisions = offroad = 0
    for case, result in zip(many_cases, results):
        assert result.source == "analytic" and not result.fallback
        report = result.report
        for failure in report.safety.failures:
            if failure.metric == "nc" and failure.agent_ahead_m is not None and failure.agent_ahead_m > 0:
                collisions += 1
                assert report.correction.longitudinal.action in ("decelerate", "stop"), case.case_id
            if failure.metric == "dac":
                offroad += 1
                expected = {"left": "move right", "right": "move left"}[failure.side]
                assert report.correction.lateral.action == expected, case.case_id
    assert collisions >= 100 and offroad >= 100  # both rules were exercised, many times


def test_server_down_falls_back_without_hanging():
    case = FailureCase.model_validate(EXAMPLE_CASE)

    async def go():
        async with TeacherClient(f"http://127.0.0.1:{free_port()}", timeout_s=1.0, max_attempts=2,
                                 backoff_s=0.01) as client:
            return await client.reports([case, case.model_copy(update={"case_id": "b"})]), client.stats

    results, stats = asyncio.run(go())
    assert all(r.fallback and r.source == "analytic" and "unavailable" in r.error for r in results)
    assert stats.fallbacks == 2 and stats.requests == 2 and stats.retries == 1 and stats.failed_batches == 1


def test_retries_a_503_then_succeeds_and_does_not_retry_a_422():
    calls = []

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(503, text="busy")
        cases = json.loads(request.content)["cases"]
        if cases[0]["case_id"] == "bad":
            return httpx.Response(422, json={"error": {"type": "invalid_request", "message": "no"}})
        from teachers.service import TeacherService

        results = await TeacherService(TeacherConfig()).reports([FailureCase.model_validate(c) for c in cases])
        return httpx.Response(200, json={"reports": [r.model_dump(mode="json") for r in results]})

    case = FailureCase.model_validate(EXAMPLE_CASE)

    async def go(c):
        async with TeacherClient("http://t", backoff_s=0.01, transport=httpx.MockTransport(handler)) as client:
            return await client.reports([c]), client.stats

    (ok,), stats = asyncio.run(go(case))
    assert not ok.fallback and stats.retries == 1 and len(calls) == 2
    (bad,), stats = asyncio.run(go(case.model_copy(update={"case_id": "bad"})))
    assert bad.fallback and "HTTP 422" in bad.error and stats.requests == 1


def test_offline_generation_resumes(many_cases, server_url, tmp_path):
    cases_file, out = tmp_path / "cases.jsonl", tmp_path / "reports.jsonl"
    cases_file.write_text("".join(c.model_dump_json() + "\n" for c in many_cases[:10]))
    assert generate.main(["--cases", str(cases_file), "--out", str(out), "--backend", "analytic",
                          "--batch-size", "4"]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 10
    out.write_text("\n".join(lines[:3]) + "\n" + lines[3][:40])  # killed mid-write
    assert generate.main(["--cases", str(cases_file), "--out", str(out), "--server", server_url]) == 0
    ids = [json.loads(line)["case_id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == sorted(c.case_id for c in many_cases[:10]) and len(ids) == 10
    before = out.read_text()
    assert generate.main(["--cases", str(cases_file), "--out", str(out), "--backend", "analytic"]) == 0
    assert out.read_text() == before  # nothing left to do


def test_generate_says_what_is_wrong(tmp_path):
    with pytest.raises(SystemExit, match="does not exist"):
        generate.main(["--cases", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o"), "--backend", "analytic"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"case_id": "x"}\n')
    with pytest.raises(SystemExit, match="bad.jsonl:1 is not a failure case"):
        generate.main(["--cases", str(bad), "--out", str(tmp_path / "o"), "--backend", "analytic"])
