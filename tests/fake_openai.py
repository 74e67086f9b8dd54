"""A small OpenAI-compatible chat-completions server for teacher tests, served by uvicorn on loopback.

Modes: `good` (the analytic report of the case in the prompt, inside a code fence: needs a repair),
`garbage` (not JSON), `violating` (JSON that breaks the schema), `slow` (answers after `delay_s`),
`flaky` (garbage on every other call). `served` counts calls; `stop()` kills it mid-batch.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI, Request

from elfrl.feedback import DiagnosticReport


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeOpenAI:
    def __init__(self, mode: str = "good", delay_s: float = 0.0):
        self.mode, self.delay_s, self.served, self.requests = mode, delay_s, 0, []
        app = FastAPI()

        @app.get("/v1/models")
        async def models():
            return {"data": [{"id": "fake"}]}

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            self.requests.append(body)
            self.served += 1
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            return {"choices": [{"message": {"role": "assistant", "content": self._answer(body)}}]}

        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def _answer(self, body: dict) -> str:
        mode = self.mode
        if mode == "flaky":
            mode = "garbage" if self.served % 2 else "good"
        if mode == "garbage":
            return "I think the car should slow down."
        if mode == "violating":
            return json.dumps({"summary": "slow down", "correction": {"lateral": "left"}})
        text = body["messages"][1]["content"][-1]["text"]
        analytic = re.search(r"Analytic diagnosis \(from the simulator; trust its numbers\):\n(.*)\n", text).group(1)
        report = DiagnosticReport.model_validate_json(analytic)
        report = report.model_copy(update={"summary": "From the fake VLM. " + report.summary})
        return "```json\n" + report.model_dump_json(indent=1) + "\n```"

    def start(self) -> "FakeOpenAI":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextmanager
def serve(app):
    """Serve any ASGI app with uvicorn on a free loopback port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def fake_openai(mode: str = "good", delay_s: float = 0.0):
    server = FakeOpenAI(mode, delay_s).start()
    try:
        yield server
    finally:
        server.stop()
