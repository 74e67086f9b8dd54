"""The teacher service over HTTP (FastAPI).

    python -m teachers.server --config configs/teacher.yaml [--host 127.0.0.1] [--port 8100]

Routes:
- `POST /v1/reports`: `{"cases": [FailureCase, ...]}` -> `{"reports": [ReportResult, ...]}` in order;
  each result names its source backend, whether it came from the cache or the analytic fallback,
  and its latency.
- `GET /v1/schema`: the JSON schemas of the report and of a case.
- `GET /health`: `{"status": "ok", "backend": ..., "backend_ok": ...}`.
- `GET /metrics`: Prometheus text (requests, latency, backend errors, cache hits, fallbacks).

With `ELFRL_TEACHER_TOKEN` (the config's `token_env`) set, every route but /health needs
`Authorization: Bearer <token>` (401 otherwise). Bodies over `max_body_bytes` get 413, batches over
`max_batch` 413, chunked bodies 411, malformed requests 422; every error body is `{"error": {"type", "message"}}`
with a message that says what to fix.
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import time
from contextlib import asynccontextmanager
from typing import Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from elfrl.config import add_config_args, load_config
from elfrl.feedback import DiagnosticReport, FailureCase
from teachers.example import EXAMPLE_CASE
from teachers.service import ReportResult, TeacherService
from teachers.config import TeacherConfig


class ReportsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"cases": [EXAMPLE_CASE]}]})

    cases: list[FailureCase] = Field(min_length=1, description="failure cases; case_id unique within the request")


class ReportsResponse(BaseModel):
    reports: list[ReportResult]


class ErrorBody(BaseModel):
    type: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"type": kind, "message": message}})


def build_app(config: TeacherConfig, service: Optional[TeacherService] = None) -> FastAPI:
    """The app for one config; `service` replaces the one built from the config (tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await app.state.service.aclose()

    app = FastAPI(title="elfrl teacher", version="1", lifespan=lifespan,
                  responses={401: {"model": ErrorResponse}, 411: {"model": ErrorResponse}, 413: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})
    app.state.service = service or TeacherService(config)
    metrics = app.state.service.metrics

    @app.middleware("http")
    async def guard(request: Request, call_next):
        start = time.perf_counter()
        route = request.url.path
        response = await _checked(request, call_next, config)
        metrics.requests.labels(route if route in KNOWN_ROUTES else "other", str(response.status_code)).inc()
        metrics.request_latency.observe(time.perf_counter() - start)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()[:10])
        return _error(422, "invalid_request", f"the request does not match the schema (GET /v1/schema): {problems}")

    @app.post("/v1/reports", response_model=ReportsResponse)
    async def reports(body: ReportsRequest):
        if len(body.cases) > config.max_batch:
            return _error(413, "batch_too_large",
                          f"{len(body.cases)} cases in one request; send at most max_batch={config.max_batch}")
        ids = [c.case_id for c in body.cases]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
            return _error(422, "duplicate_case_id", f"case_id must be unique within a request; repeated: {dup}")
        return ReportsResponse(reports=await app.state.service.reports(body.cases))

    @app.get("/v1/schema")
    async def schema():
        return {"report": DiagnosticReport.model_json_schema(), "case": FailureCase.model_json_schema()}

    @app.get("/health")
    async def health():
        backend = app.state.service.backend
        return {"status": "ok", "backend": backend.name, "backend_ok": await backend.health()}

    @app.get("/metrics")
    async def prometheus():
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


KNOWN_ROUTES = {"/v1/reports", "/v1/schema", "/health", "/metrics", "/docs", "/openapi.json"}


async def _checked(request: Request, call_next, config: TeacherConfig):
    token = os.environ.get(config.token_env, "")
    if token and request.url.path != "/health":
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return _error(401, "unauthorized", f"send the header 'Authorization: Bearer <token>' with the "
                          f"token in {config.token_env} on the server")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > config.max_body_bytes:
        return _error(413, "body_too_large", f"request body of {length} bytes is over max_body_bytes="
                      f"{config.max_body_bytes}; split the batch or shrink the images")
    if request.method == "POST" and length is None:  # chunked: the size limit cannot be checked up front
        return _error(411, "length_required", "send the body with a Content-Length header (no chunked uploads)")
    return await call_next(request)


def main(argv: Optional[list[str]] = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(parser)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args(argv)
    config = load_config(TeacherConfig, args.config, args.overrides)
    print(json.dumps({"backend": config.backend, "host": args.host, "port": args.port}))
    uvicorn.run(build_app(config), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
