"""The client the trainer and the offline generator use to talk to the teacher service.

    async with TeacherClient("http://teacher:8100", token=...) as client:
        results = await client.reports(cases)        # one ReportResult per case, in order

Batches of `batch_size` cases go out with at most `max_in_flight` requests open at once; each
request has a timeout, and transport errors, 5xx and 429 are retried with exponential backoff and
jitter up to `max_attempts`. A batch that still fails (or gets a 4xx, which retrying cannot fix)
falls back to the in-process analytic teacher, marked `fallback: true` with the reason: training
never blocks past the timeouts and never silently drops a case. `stats` counts every call.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

import httpx

from elfrl.feedback import FailureCase, analytic_report
from elfrl.trainer.teacher import Diagnosis
from teachers.service import ReportResult

RETRY_STATUS = {429, 500, 502, 503, 504}


@dataclass
class ClientStats:
    """Per-call counters, for the trainer's `feedback/*` and `time/teacher` metrics."""

    requests: int = 0  # HTTP requests sent, retries included
    retries: int = 0
    failed_batches: int = 0  # batches that fell back after all attempts
    cases: int = 0
    fallbacks: int = 0  # cases answered by the in-process analytic teacher
    server_fallbacks: int = 0  # cases the server itself answered with its analytic fallback
    cache_hits: int = 0
    latencies_s: list[float] = field(default_factory=list)  # one per successful request

    def as_dict(self) -> dict:
        lat = sorted(self.latencies_s)
        pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0.0  # noqa: E731
        return {
            "requests": self.requests, "retries": self.retries, "failed_batches": self.failed_batches,
            "cases": self.cases, "fallbacks": self.fallbacks, "server_fallbacks": self.server_fallbacks,
            "cache_hits": self.cache_hits, "latency_p50_s": pick(0.5), "latency_p99_s": pick(0.99),
        }


class TeacherClient:
    def __init__(self, url: str, token: Optional[str] = None, timeout_s: float = 120.0, max_attempts: int = 3,
                 backoff_s: float = 0.5, batch_size: int = 32, max_in_flight: int = 4,
                 transport: Optional[httpx.AsyncBaseTransport] = None):
        if max_attempts < 1 or batch_size < 1 or max_in_flight < 1:
            raise ValueError("max_attempts, batch_size and max_in_flight must be at least 1")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.AsyncClient(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s,
                                      transport=transport)
        self.max_attempts, self.backoff_s, self.batch_size = max_attempts, backoff_s, batch_size
        self.slots = asyncio.Semaphore(max_in_flight)
        self.stats = ClientStats()

    async def __aenter__(self) -> "TeacherClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def health(self) -> bool:
        try:
            return (await self.http.get("/health", timeout=5.0)).status_code == 200
        except httpx.HTTPError:
            return False

    async def reports(self, cases: Sequence[FailureCase]) -> list[ReportResult]:
        batches = [list(cases[i : i + self.batch_size]) for i in range(0, len(cases), self.batch_size)]
        done = await asyncio.gather(*(self._batch(b) for b in batches))
        return [r for batch in done for r in batch]

    async def _batch(self, cases: list[FailureCase]) -> list[ReportResult]:
        body = {"cases": [c.model_dump(mode="json") for c in cases]}
        error = "no attempt"
        async with self.slots:
            for attempt in range(self.max_attempts):
                if attempt:
                    self.stats.retries += 1
                    await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1) * (0.5 + random.random()))
                start = time.perf_counter()
                self.stats.requests += 1
                try:
                    response = await self.http.post("/v1/reports", json=body)
                except httpx.HTTPError as err:
                    error = f"{type(err).__name__}: {err}"
                    continue
                if response.status_code == 200:
                    self.stats.latencies_s.append(time.perf_counter() - start)
                    return self._accept(cases, response.json()["reports"])
                error = f"HTTP {response.status_code}: {response.text[:300]}"
                if response.status_code not in RETRY_STATUS:
                    break  # a 4xx says the request is wrong: retrying cannot help
        self.stats.failed_batches += 1
        return [self._fallback(case, error) for case in cases]

    def _accept(self, cases: list[FailureCase], rows: list[dict]) -> list[ReportResult]:
        results = [ReportResult.model_validate(row) for row in rows]
        if [r.case_id for r in results] != [c.case_id for c in cases]:
            raise RuntimeError("the teacher answered other case ids than it was sent; is it an elfrl teacher?")
        self.stats.cases += len(results)
        self.stats.server_fallbacks += sum(r.fallback for r in results)
        self.stats.cache_hits += sum(r.cached for r in results)
        return results

    def _fallback(self, case: FailureCase, error: str) -> ReportResult:
        start = time.perf_counter()
        report = analytic_report(case)
        self.stats.cases += 1
        self.stats.fallbacks += 1
        return ReportResult(case_id=case.case_id, report=report, source="analytic", cached=False, repaired=False,
                            fallback=True, error=f"teacher service unavailable: {error}",
                            latency_ms=round(1000 * (time.perf_counter() - start), 3))


class SyncTeacher:
    """The trainer's `Teacher` interface (elfrl.trainer.teacher) over `TeacherClient`, on a private event loop."""

    def __init__(self, url: str, **client_kwargs):
        self.loop = asyncio.new_event_loop()
        self.client = TeacherClient(url, **client_kwargs)

    def diagnose(self, cases: Sequence[FailureCase]) -> list[Diagnosis]:
        results = self.loop.run_until_complete(self.client.reports(list(cases)))
        return [Diagnosis(r.report, r.source, r.fallback, r.error) for r in results]

    def close(self) -> None:
        if not self.loop.is_closed():
            self.loop.run_until_complete(self.client.aclose())
            self.loop.close()
