"""The teacher service over HTTP: the example case, auth, size limits, malformed requests, cache, metrics, fuzzing."""

import copy
import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elfrl.feedback import DiagnosticReport
from teachers.config import TeacherConfig
from teachers.example import EXAMPLE_CASE
from teachers.server import build_app


@pytest.fixture()
def client(tmp_path, monkeypatch):
    monkeypatch.delenv("ELFRL_TEACHER_TOKEN", raising=False)
    config = TeacherConfig(cache_dir=tmp_path / "cache", max_batch=8, max_body_bytes=200_000)
    with TestClient(build_app(config)) as c:
        yield c


def test_the_openapi_example_posts_as_is(client):
    example = client.get("/openapi.json").json()["components"]["schemas"]["ReportsRequest"]["examples"][0]
    response = client.post("/v1/reports", json=example)
    assert response.status_code == 200, response.text
    (result,) = response.json()["reports"]
    assert result["case_id"] == "example-0" and result["source"] == "analytic" and not result["fallback"]
    report = DiagnosticReport.model_validate(result["report"])
    assert report.correction.longitudinal.action in ("decelerate", "stop")  # a stopped car ahead
    assert result["latency_ms"] >= 0


def test_reports_come_back_in_order_and_from_the_cache(client):
    cases = [dict(EXAMPLE_CASE, case_id=f"c{i}") for i in range(3)]
    first = client.post("/v1/reports", json={"cases": cases}).json()["reports"]
    assert [r["case_id"] for r in first] == ["c0", "c1", "c2"]
    again = client.post("/v1/reports", json={"cases": cases[:1]}).json()["reports"]
    assert again[0]["cached"] and again[0]["report"] == first[0]["report"]
    metrics = client.get("/metrics").text
    assert "teacher_cache_hits_total 1.0" in metrics  # the batch ran concurrently (3 misses); the repeat hit
    assert 'teacher_cases_total{source="analytic"} 4.0' in metrics


def test_schema_and_health(client):
    schema = client.get("/v1/schema").json()
    assert "correction" in schema["report"]["properties"] and "scores" in schema["case"]["properties"]
    assert client.get("/health").json() == {"status": "ok", "backend": "analytic", "backend_ok": True}


def test_token_is_required_when_set(tmp_path, monkeypatch):
    monkeypatch.setenv("ELFRL_TEACHER_TOKEN", "s3cret")
    with TestClient(build_app(TeacherConfig())) as c:
        denied = c.post("/v1/reports", json={"cases": [EXAMPLE_CASE]})
        assert denied.status_code == 401
        assert "Authorization: Bearer" in denied.json()["error"]["message"]
        assert c.get("/metrics").status_code == 401
        assert c.get("/health").status_code == 200
        ok = c.post("/v1/reports", json={"cases": [EXAMPLE_CASE]}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_oversize_and_too_many(client):
    big = dict(EXAMPLE_CASE, image="data:image/png;base64," + "A" * 300_000)
    response = client.post("/v1/reports", json={"cases": [big]})
    assert response.status_code == 413 and "max_body_bytes=200000" in response.json()["error"]["message"]
    many = [dict(EXAMPLE_CASE, case_id=f"c{i}") for i in range(9)]
    response = client.post("/v1/reports", json={"cases": many})
    assert response.status_code == 413 and "max_batch=8" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "body, says",
    [
        (b"{not json", "JSON"),
        (json.dumps({"cases": []}).encode(), "cases"),
        (json.dumps({"cases": [{**EXAMPLE_CASE, "poses": [[0, 0, 0]]}]}).encode(), "poses"),
        (json.dumps({"cases": [{**EXAMPLE_CASE, "surprise": 1}]}).encode(), "surprise"),
        (json.dumps({"cases": [{**EXAMPLE_CASE, "poses": [[1e300, 0, 0]] * 8}]}).encode(), "poses.0.0"),
        (b'{"cases": [{"case_id": NaN}]}', "case_id"),
        (json.dumps({"cases": [EXAMPLE_CASE, EXAMPLE_CASE]}).encode(), "unique"),
    ],
)
def test_malformed_requests_get_422_that_say_what_to_fix(client, body, says):
    response = client.post("/v1/reports", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert says in response.json()["error"]["message"]


_json = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def _mutate(case: dict, path: list, value):
    case = copy.deepcopy(case)
    node = case
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return case


_paths = st.sampled_from([["token"], ["poses"], ["scores", "nc"], ["scores", "nc_time_s"], ["base_input", "command"],
                          ["objects"], ["correct_meta", "speed"], ["gt_poses", 0], ["agents"], ["image"]])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_json | st.builds(lambda p, v: {"cases": [_mutate(EXAMPLE_CASE, p, v)]}, _paths, _json))
def test_fuzzed_requests_never_get_a_5xx(client, body):
    response = client.post("/v1/reports", json=body)
    assert response.status_code in (200, 413, 422), response.text
    if response.status_code != 200:
        assert response.json()["error"]["message"]


def test_server_command_serves_the_config(tmp_path):
    import subprocess
    import sys
    import time

    import httpx

    from tests.fake_openai import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "teachers.server", "--config", "configs/teacher.yaml", "--port", str(port),
         "--set", f"cache_dir={tmp_path / 'cache'}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.poll() else ""
                time.sleep(0.2)
        assert health.json()["backend"] == "analytic"
        reply = httpx.post(f"http://127.0.0.1:{port}/v1/reports", json={"cases": [EXAMPLE_CASE]}, timeout=30)
        assert reply.status_code == 200 and reply.json()["reports"][0]["case_id"] == "example-0"
        assert any((tmp_path / "cache").rglob("*.json"))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
