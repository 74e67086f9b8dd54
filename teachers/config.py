"""The teacher service's config (`python -m teachers.server --config configs/teacher.yaml`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import Field

from elfrl.config import StrictModel


class OpenAIBackendConfig(StrictModel):
    """An OpenAI-compatible chat-completions endpoint, e.g. `vllm serve Qwen/Qwen3-VL-32B-Instruct`."""

    base_url: str = Field("http://127.0.0.1:8000/v1", description="the server's /v1 root")
    model: str = Field("Qwen/Qwen3-VL-32B-Instruct", description="model name the endpoint serves")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the key, if any")
    timeout_s: float = Field(120.0, gt=0, description="per HTTP call")
    temperature: float = Field(0.0, ge=0)
    max_tokens: int = Field(2048, ge=64)
    max_attempts: int = Field(3, ge=1, description="calls per case before falling back (malformed output, errors)")


class TransformersBackendConfig(StrictModel):
    """A local Qwen3-VL checkpoint run with transformers (`elfrl.models.load_teacher`)."""

    model: Optional[Path] = Field(None, description="checkpoint directory; required when backend is transformers")
    max_new_tokens: int = Field(1024, ge=16)
    max_attempts: int = Field(2, ge=1)


class TeacherConfig(StrictModel):
    backend: Literal["analytic", "openai", "transformers"] = Field(
        "analytic", description="who writes the reports; the analytic backend is always the fallback"
    )
    openai: OpenAIBackendConfig = OpenAIBackendConfig()
    transformers: TransformersBackendConfig = TransformersBackendConfig()
    cache_dir: Optional[Path] = Field(None, description="content-addressed report cache on disk; null: no cache")
    max_batch: int = Field(256, ge=1, description="cases per POST /v1/reports")
    max_body_bytes: int = Field(64 * 1024 * 1024, ge=1024, description="request body limit (images are inline)")
    concurrency: int = Field(8, ge=1, description="cases in flight toward the backend at once")
    case_timeout_s: float = Field(300.0, gt=0, description="per case, all attempts included; then fallback")
    token_env: str = Field("ELFRL_TEACHER_TOKEN", description="bearer token variable; unset or empty: no auth")
