"""Teacher backends behind one interface: `await backend.report(case) -> (report, repaired)`.

- `AnalyticBackend`: `elfrl.feedback.analytic_report`, no model; also the fallback of the others.
- `OpenAIBackend`: chat completions against an OpenAI-compatible server (`vllm serve` of Qwen3-VL)
  with `response_format` = the report's JSON schema (guided decoding), the image inline.
- `TransformersBackend`: a local Qwen3-VL checkpoint (`elfrl.models.load_teacher`), generation in a
  worker thread, one at a time.

A VLM backend retries malformed output and transport errors up to `max_attempts`, then raises
`BackendError`; the service turns that into an analytic fallback, marked and counted.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import threading
from typing import Protocol

import httpx

from elfrl.feedback import DiagnosticReport, FailureCase, analytic_report
from teachers.config import OpenAIBackendConfig, TransformersBackendConfig
from teachers.prompt import messages
from teachers.repair import ReportParseError, parse_report


class BackendError(RuntimeError):
    """A backend gave up on a case; the message says what went wrong on the last attempt."""


class Backend(Protocol):
    name: str

    async def report(self, case: FailureCase) -> tuple[DiagnosticReport, bool]: ...

    async def health(self) -> bool: ...

    async def aclose(self) -> None: ...


class AnalyticBackend:
    name = "analytic"

    async def report(self, case: FailureCase) -> tuple[DiagnosticReport, bool]:
        return analytic_report(case), False

    async def health(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


def response_format() -> dict:
    """OpenAI `response_format` for guided decoding (vLLM accepts the same shape)."""
    schema = DiagnosticReport.model_json_schema()
    return {"type": "json_schema", "json_schema": {"name": "diagnostic_report", "schema": schema, "strict": True}}


class OpenAIBackend:
    name = "openai"

    def __init__(self, config: OpenAIBackendConfig, transport: httpx.AsyncBaseTransport | None = None):
        self.config = config
        key = os.environ.get(config.api_key_env, "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.AsyncClient(
            base_url=config.base_url.rstrip("/"), headers=headers, timeout=config.timeout_s, transport=transport
        )
        self.format = response_format()

    async def report(self, case: FailureCase) -> tuple[DiagnosticReport, bool]:
        body = {
            "model": self.config.model,
            "messages": messages(case),
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
            "response_format": self.format,
        }
        last = "no attempt"
        for attempt in range(self.config.max_attempts):
            try:
                response = await self.client.post("/chat/completions", json=body)
                response.raise_for_status()
                text = response.json()["choices"][0]["message"]["content"]
                return parse_report(text)
            except ReportParseError as err:
                last = f"malformed report: {err}"
            except httpx.HTTPStatusError as err:
                last = f"HTTP {err.response.status_code} from {err.request.url}"
            except httpx.HTTPError as err:
                last = f"{type(err).__name__} talking to {self.config.base_url}: {err}"
            except (KeyError, IndexError, TypeError, ValueError) as err:
                last = f"unexpected response shape: {err!r}"
            await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
        raise BackendError(f"openai backend gave up after {self.config.max_attempts} attempts; last: {last}")

    async def health(self) -> bool:
        try:
            return (await self.client.get("/models", timeout=5.0)).status_code == 200
        except httpx.HTTPError:
            return False

    async def aclose(self) -> None:
        await self.client.aclose()


def decode_image(url: str | None):
    """A PIL image from a `data:image/...;base64,` URL; None for no image or another kind of URL."""
    if not url or not url.startswith("data:image/") or ";base64," not in url:
        return None
    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(url.split(";base64,", 1)[1]))).convert("RGB")


class TransformersBackend:
    name = "transformers"

    def __init__(self, config: TransformersBackendConfig):
        from elfrl.models import load_teacher

        if config.model is None:
            raise ValueError("backend transformers needs transformers.model: a Qwen3-VL checkpoint directory")
        self.config = config
        self.model, self.processor = load_teacher(config.model)
        self.lock = threading.Lock()

    def _generate(self, case: FailureCase) -> str:
        from elfrl.models.generation import generate

        chat = messages(case)
        image = decode_image(case.image)
        content = ([{"type": "image"}] if image is not None else []) + [chat[1]["content"][-1]]
        prompt = [chat[0], {"role": "user", "content": content}]
        with self.lock:  # one generation at a time on this model
            (text,) = generate(self.model, self.processor, [image], [prompt], self.config.max_new_tokens)
        return text

    async def report(self, case: FailureCase) -> tuple[DiagnosticReport, bool]:
        last = "no attempt"
        for _ in range(self.config.max_attempts):
            text = await asyncio.to_thread(self._generate, case)
            try:
                return parse_report(text)
            except ReportParseError as err:
                last = f"malformed report: {err}"
        raise BackendError(f"transformers backend gave up after {self.config.max_attempts} attempts; last: {last}")

    async def health(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None
