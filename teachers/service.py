"""The teacher service core: a batch of cases -> reports in order, with bounded concurrency toward the
backend, the report cache, per-case timeouts and the analytic fallback, and Prometheus metrics.

Every case gets a report: from the cache, from the backend, or, when the backend fails or runs past
`case_timeout_s`, from the analytic backend, marked `fallback: true` with the reason. Nothing is
silent: each outcome is counted (`GET /metrics`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Literal, Optional

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import BaseModel, ConfigDict, Field

from elfrl.feedback import DiagnosticReport, FailureCase, analytic_report
from teachers.backends import AnalyticBackend, Backend, BackendError, OpenAIBackend, TransformersBackend
from teachers.cache import ReportCache, cache_key
from teachers.config import TeacherConfig

Source = Literal["analytic", "openai", "transformers"]


class ReportResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_id: str
    report: DiagnosticReport
    source: Source = Field(description="the backend that wrote the report")
    cached: bool = Field(description="served from the report cache")
    repaired: bool = Field(description="the model's JSON needed a safe repair (fences, surrounding text, commas)")
    fallback: bool = Field(description="the configured backend failed; the analytic backend wrote it")
    error: Optional[str] = Field(None, description="why the configured backend failed, when fallback")
    latency_ms: float


class Metrics:
    """Prometheus metrics of one service (own registry, so several apps can live in one process)."""

    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("teacher_requests", "HTTP requests by route and status", ["route", "status"], registry=r)
        self.cases = Counter("teacher_cases", "cases answered, by source", ["source"], registry=r)
        self.cache_hits = Counter("teacher_cache_hits", "cases served from the report cache", registry=r)
        self.fallbacks = Counter("teacher_fallbacks", "cases answered by the analytic fallback", registry=r)
        self.backend_errors = Counter(
            "teacher_backend_errors", "backend failures (after retries) by kind", ["kind"], registry=r
        )
        self.repaired = Counter("teacher_repaired", "model reports that needed a safe JSON repair", registry=r)
        self.case_latency = Histogram(
            "teacher_case_latency_seconds", "per-case latency", registry=r,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
        )
        self.request_latency = Histogram("teacher_request_latency_seconds", "per-request latency", registry=r)
        self.in_flight = Gauge("teacher_cases_in_flight", "cases being worked on", registry=r)


def build_backend(config: TeacherConfig) -> Backend:
    if config.backend == "openai":
        return OpenAIBackend(config.openai)
    if config.backend == "transformers":
        return TransformersBackend(config.transformers)
    return AnalyticBackend()


class TeacherService:
    def __init__(self, config: TeacherConfig, backend: Optional[Backend] = None):
        self.config = config
        self.backend = backend or build_backend(config)
        self.model = config.openai.model if self.backend.name == "openai" else str(config.transformers.model or "")
        self.cache = ReportCache(config.cache_dir) if config.cache_dir else None
        self.metrics = Metrics()
        self.slots = asyncio.Semaphore(config.concurrency)

    async def reports(self, cases: list[FailureCase]) -> list[ReportResult]:
        return list(await asyncio.gather(*(self.one(case) for case in cases)))

    async def one(self, case: FailureCase) -> ReportResult:
        start = time.perf_counter()
        key = cache_key(case, self.backend.name, self.model) if self.cache else None
        if key is not None and (hit := self.cache.get(key)) is not None:
            self.metrics.cache_hits.inc()
            return self._done(case, hit, self.backend.name, start, cached=True)
        async with self.slots:
            self.metrics.in_flight.inc()
            try:
                report, repaired = await asyncio.wait_for(self.backend.report(case), self.config.case_timeout_s)
            except (BackendError, asyncio.TimeoutError) as err:
                reason = str(err) or f"no report within case_timeout_s={self.config.case_timeout_s}"
                kind = "timeout" if isinstance(err, asyncio.TimeoutError) else "gave_up"
                self.metrics.backend_errors.labels(kind).inc()
                self.metrics.fallbacks.inc()
                return self._done(case, analytic_report(case), "analytic", start, fallback=True, error=reason)
            finally:
                self.metrics.in_flight.dec()
        if repaired:
            self.metrics.repaired.inc()
        if key is not None:
            self.cache.put(key, report)
        return self._done(case, report, self.backend.name, start, repaired=repaired)

    def _done(self, case, report, source, start, cached=False, repaired=False, fallback=False, error=None):
        seconds = time.perf_counter() - start
        self.metrics.cases.labels(source).inc()
        self.metrics.case_latency.observe(seconds)
        return ReportResult(case_id=case.case_id, report=report, source=source, cached=cached, repaired=repaired,
                            fallback=fallback, error=error, latency_ms=round(1000 * seconds, 3))

    async def aclose(self) -> None:
        await self.backend.aclose()
