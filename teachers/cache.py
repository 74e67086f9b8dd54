"""Content-addressed report cache on disk: one JSON file per (backend, model, prompt, case content).

The key hashes the case without its id, the backend's name and model, and the prompt templates,
so a changed prompt or model never serves a stale report. Writes are atomic (temp file + rename),
so concurrent writers and a killed process never leave a torn file; a file that does not parse is
treated as a miss and overwritten.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Optional

from pydantic import ValidationError

from elfrl.feedback import DiagnosticReport, FailureCase
from teachers.prompt import template


def cache_key(case: FailureCase, backend: str, model: str = "") -> str:
    prompt = template("system.txt") + template("user.txt")
    parts = [case.content_key(), backend, model, hashlib.sha256(prompt.encode()).hexdigest()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class ReportCache:
    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> Optional[DiagnosticReport]:
        path = self._path(key)
        try:
            return DiagnosticReport.model_validate_json(path.read_text())
        except (FileNotFoundError, ValidationError):
            return None

    def put(self, key: str, report: DiagnosticReport) -> None:
        path = self._path(key)
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(report.model_dump_json())
        os.replace(tmp, path)
