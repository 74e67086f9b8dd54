"""Offline report generation, resumable:

    python -m teachers.generate --cases CASES.jsonl --out REPORTS.jsonl --server http://host:8100
    python -m teachers.generate --cases CASES.jsonl --out REPORTS.jsonl --backend analytic
    python -m teachers.generate --scenes SCENES --write-cases CASES.jsonl     # failure cases from scenes

CASES.jsonl holds one `FailureCase` per line; REPORTS.jsonl gets one `ReportResult` per line, appended
batch by batch. A rerun skips the case ids already in REPORTS.jsonl (a torn last line from a killed run
is dropped), so an interrupted run continues where it stopped. `--server` reads the bearer token from
ELFRL_TEACHER_TOKEN.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Optional

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from elfrl.config import load_config
from elfrl.feedback import FailureCase
from teachers.client import TeacherClient
from teachers.config import TeacherConfig
from teachers.service import ReportResult, TeacherService


def read_cases(path: Path) -> list[FailureCase]:
    if not path.is_file():
        raise SystemExit(f"error: {path} does not exist (write cases with --scenes DIR --write-cases {path})")
    cases = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            cases.append(FailureCase.model_validate_json(line))
        except ValidationError as err:
            raise SystemExit(f"error: {path}:{n} is not a failure case: {err.errors()[0]['msg']} "
                             f"at {'.'.join(map(str, err.errors()[0]['loc']))}") from None
    ids = [c.case_id for c in cases]
    if len(set(ids)) != len(ids):
        raise SystemExit(f"error: {path} repeats case ids; each case needs its own case_id")
    return cases


def done_ids(path: Path) -> set[str]:
    """Case ids already answered in `path`; drops a torn last line left by a killed run."""
    if not path.is_file():
        return set()
    lines, done = path.read_text().splitlines(keepends=True), set()
    keep = 0
    for line in lines:
        try:
            done.add(ReportResult.model_validate_json(line).case_id)
        except ValidationError:
            break
        keep += len(line.encode())
    with open(path, "r+b") as fh:
        fh.truncate(keep)
    return done


async def generate(cases: list[FailureCase], out: Path, server: Optional[str], config: Optional[TeacherConfig],
                   batch_size: int, console: Console) -> dict:
    done = done_ids(out)
    todo = [c for c in cases if c.case_id not in done]
    console.print(f"{len(cases)} cases, {len(done)} already in {out}, {len(todo)} to do")
    if server:
        teacher = TeacherClient(server, token=os.environ.get("ELFRL_TEACHER_TOKEN") or None, batch_size=batch_size)
    else:
        teacher = TeacherService(config or TeacherConfig())
    counts = {"written": 0, "fallback": 0, "cached": 0}
    start = time.perf_counter()
    columns = [TextColumn("reports"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    try:
        with Progress(*columns, console=console) as progress, open(out, "a") as fh:
            task = progress.add_task("reports", total=len(todo))
            for i in range(0, len(todo), batch_size):
                results = await teacher.reports(todo[i : i + batch_size])
                fh.write("".join(r.model_dump_json() + "\n" for r in results))
                fh.flush()
                counts["written"] += len(results)
                counts["fallback"] += sum(r.fallback for r in results)
                counts["cached"] += sum(r.cached for r in results)
                progress.advance(task, len(results))
    finally:
        await teacher.aclose()
    counts["seconds"] = round(time.perf_counter() - start, 2)
    counts["total_in_file"] = len(done) + counts["written"]
    return counts


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=Path, help="CASES.jsonl: one FailureCase per line")
    parser.add_argument("--out", type=Path, help="REPORTS.jsonl, appended; a rerun skips done case ids")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--server", help="teacher service URL, e.g. http://127.0.0.1:8100")
    where.add_argument("--backend", choices=["analytic"], help="in-process analytic teacher, no server")
    where.add_argument("--config", type=Path, help="in-process teacher from a configs/teacher.yaml")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--scenes", type=Path, help="with --write-cases: a generated scene directory")
    parser.add_argument("--write-cases", type=Path, help="write the failure cases of --scenes to this JSONL and stop")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    if args.write_cases:
        if not args.scenes:
            parser.error("--write-cases needs --scenes DIR")
        from elfrl.feedback.cases import failure_cases

        n = 0
        with open(args.write_cases, "w") as fh:
            for case in failure_cases(args.scenes):
                fh.write(case.model_dump_json() + "\n")
                n += 1
        console.print(f"wrote {n} failure cases to {args.write_cases}")
        return 0
    if not (args.cases and args.out):
        parser.error("--cases and --out are required (or --scenes with --write-cases)")
    if not (args.server or args.backend or args.config):
        parser.error("say where reports come from: --server URL, --backend analytic or --config FILE")
    config = load_config(TeacherConfig, args.config) if args.config else None
    counts = asyncio.run(generate(read_cases(args.cases), args.out, args.server, config, args.batch_size, console))
    console.print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
