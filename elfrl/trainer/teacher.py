"""The trainer's view of a teacher: failure cases in, diagnoses out, in order.

`AnalyticTeacher` diagnoses in-process from the scorer's internals (elfrl.feedback.analytic) and is
what the trainer uses when no teacher service is configured. `teachers.client.SyncTeacher` is the
same interface over HTTP to `teachers/server.py` (Qwen3-VL behind vLLM in production); it falls
back to the analytic report when the service is down and marks those diagnoses `fallback`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol, Sequence

from elfrl.feedback import DiagnosticReport, FailureCase, analytic_report


@dataclass(frozen=True)
class Diagnosis:
    report: DiagnosticReport
    source: str  # "analytic", "openai", "transformers", ...
    fallback: bool  # the wanted teacher did not answer; this is the analytic stand-in
    error: Optional[str] = None


class Teacher(Protocol):
    def diagnose(self, cases: Sequence[FailureCase]) -> list[Diagnosis]: ...

    def close(self) -> None: ...


class AnalyticTeacher:
    """No model, no server: the report comes from which metric failed, when and against what."""

    def diagnose(self, cases: Sequence[FailureCase]) -> list[Diagnosis]:
        return [Diagnosis(analytic_report(case), "analytic", False) for case in cases]

    def close(self) -> None:
        pass
