"""The OpenAI-compatible backend against a fake server: guided decoding request, repairs, garbage, timeouts,
a backend killed mid-batch; every affected case falls back to the analytic report and is counted."""

import asyncio
import threading
import time

import pytest

from elfrl.feedback import FailureCase
from teachers.config import OpenAIBackendConfig, TeacherConfig
from teachers.example import EXAMPLE_CASE
from teachers.repair import ReportParseError, parse_report
from teachers.service import TeacherService
from tests.fake_openai import fake_openai

PIXEL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def cases(n: int) -> list[FailureCase]:
    return [FailureCase.model_validate({**EXAMPLE_CASE, "case_id": f"c{i}", "response": f"{i}"}) for i in range(n)]


def service(url: str, **overrides) -> TeacherService:
    openai = OpenAIBackendConfig(base_url=url, model="fake", max_attempts=overrides.pop("max_attempts", 2),
                                 timeout_s=overrides.pop("timeout_s", 5.0))
    return TeacherService(TeacherConfig(backend="openai", openai=openai, **overrides))


def run(svc: TeacherService, batch: list[FailureCase]):
    async def go():
        try:
            return await svc.reports(batch)
        finally:
            await svc.aclose()

    return asyncio.run(go())


def counter(svc: TeacherService, name: str, **labels) -> float:
    return svc.metrics.registry.get_sample_value(name, labels or None) or 0.0


def test_good_reports_are_repaired_and_sent_with_the_schema():
    with fake_openai("good") as fake:
        svc = service(fake.url)
        batch = cases(3)
        batch[0] = batch[0].model_copy(update={"image": PIXEL})
        results = run(svc, batch)
    assert [r.source for r in results] == ["openai"] * 3 and not any(r.fallback for r in results)
    assert all(r.repaired and r.report.summary.startswith("From the fake VLM.") for r in results)
    first = next(b for b in fake.requests if b["messages"][1]["content"][0]["type"] == "image_url")
    assert first["response_format"]["type"] == "json_schema"
    assert "correction" in first["response_format"]["json_schema"]["schema"]["properties"]
    assert counter(svc, "teacher_repaired_total") == 3 and counter(svc, "teacher_fallbacks_total") == 0


@pytest.mark.parametrize("mode, reason", [("garbage", "not JSON"), ("violating", "schema violation")])
def test_bad_output_falls_back_after_the_retry_budget(mode, reason):
    with fake_openai(mode) as fake:
        svc = service(fake.url, max_attempts=3)
        results = run(svc, cases(4))
    assert all(r.fallback and r.source == "analytic" for r in results)
    assert all(reason in r.error and "after 3 attempts" in r.error for r in results)
    assert fake.served == 12  # 3 attempts x 4 cases
    assert counter(svc, "teacher_fallbacks_total") == 4
    assert counter(svc, "teacher_backend_errors_total", kind="gave_up") == 4
    assert counter(svc, "teacher_cases_total", source="analytic") == 4


def test_flaky_output_is_retried():
    with fake_openai("flaky") as fake:
        results = run(service(fake.url, max_attempts=2, concurrency=1), cases(3))
    assert [r.source for r in results] == ["openai"] * 3


def test_a_slow_backend_times_out_per_case():
    with fake_openai("good", delay_s=5.0) as fake:
        svc = service(fake.url, case_timeout_s=0.5, concurrency=4)
        start = time.monotonic()
        results = run(svc, cases(4))
        elapsed = time.monotonic() - start
    assert elapsed < 3.0  # nobody waits for the 5 s answers
    assert all(r.fallback and "case_timeout_s=0.5" in r.error for r in results)
    assert counter(svc, "teacher_backend_errors_total", kind="timeout") == 4


def test_killing_the_backend_mid_batch():
    with fake_openai("good", delay_s=0.2) as fake:
        svc = service(fake.url, concurrency=1, max_attempts=2, timeout_s=2.0)

        def kill_after_two():
            while fake.served < 2:
                time.sleep(0.01)
            fake.stop()

        killer = threading.Thread(target=kill_after_two)
        killer.start()
        start = time.monotonic()
        results = run(svc, cases(6))
        killer.join()
    assert time.monotonic() - start < 20
    served = [r for r in results if r.source == "openai"]
    fell = [r for r in results if r.fallback]
    assert len(served) + len(fell) == 6 and len(fell) >= 3 and 1 <= len(served) <= 3
    assert all("talking to" in r.error or "HTTP" in r.error for r in fell)
    assert [r.case_id for r in results] == [f"c{i}" for i in range(6)]
    assert counter(svc, "teacher_fallbacks_total") == len(fell)
    assert counter(svc, "teacher_cases_total", source="openai") == len(served)


def test_repair_is_safe():
    good = FailureCase.model_validate(EXAMPLE_CASE)
    from elfrl.feedback import analytic_report

    text = analytic_report(good).model_dump_json()
    assert parse_report(text)[1] is False
    assert parse_report("Sure! Here it is:\n```json\n" + text + "\n```\nHope it helps.")[1] is True
    assert parse_report(text[:-1] + ",}")[1] is True  # a trailing comma
    with pytest.raises(ReportParseError, match="not JSON"):
        parse_report(text[: len(text) // 2])  # truncated: never guessed
    with pytest.raises(ReportParseError, match="empty"):
        parse_report("  ")


def test_local_transformers_backend_runs_the_tiny_qwen3_vl(tmp_path):
    from elfrl.models import build_tiny_teacher
    from teachers.config import TransformersBackendConfig

    model = build_tiny_teacher(tmp_path / "teacher")
    config = TeacherConfig(backend="transformers",
                           transformers=TransformersBackendConfig(model=model, max_new_tokens=16, max_attempts=2))
    svc = TeacherService(config)
    (result,) = run(svc, [cases(1)[0].model_copy(update={"image": PIXEL})])
    # random weights write no JSON: the backend ran the model twice, then the analytic report stands in
    assert result.fallback and "transformers backend gave up after 2 attempts" in result.error
    assert counter(svc, "teacher_backend_errors_total", kind="gave_up") == 1


def test_transformers_backend_needs_a_model():
    from teachers.backends import TransformersBackend
    from teachers.config import TransformersBackendConfig

    with pytest.raises(ValueError, match="transformers.model"):
        TransformersBackend(TransformersBackendConfig())
