"""Per-step metrics to OUTPUT_DIR/metrics.jsonl and a one-line console summary per logged step."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

from rich.console import Console
from transformers import TrainerCallback

# Shown on the console line, in this order, when present in the step's logs.
CONSOLE_KEYS = ("reward/pdms", "failure/all_fail_pdms", "feedback/refined_accepted", "loss", "kl", "clip_frac",
                "shaped_ratio_mean", "tokens_per_s")


class MetricsFile(TrainerCallback):
    """Appends every log of training steps (not the final train summary) as one JSON line.

    On resume the file is cut back to the checkpoint's step first, so it reads as one run.
    """

    def __init__(self, path: Path, console: Optional[Console] = None):
        self.path, self.console = Path(path), console

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():  # a resumed run (global_step > 0) keeps the lines up to its checkpoint
            keep = [line for line in self.path.read_text().splitlines()
                    if line and json.loads(line)["step"] <= state.global_step]
            self.path.write_text("".join(line + "\n" for line in keep))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "train_runtime" in logs:
            return
        row = {"step": state.global_step, **{k: _clean(v) for k, v in logs.items()}}
        with self.path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        if self.console is not None:
            parts = [f"{k} {_fmt(row[k])}" for k in CONSOLE_KEYS if row.get(k) is not None]
            self.console.print(f"step {state.global_step}/{state.max_steps}  " + "  ".join(parts), highlight=False,
                               soft_wrap=True)


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None  # JSON has no NaN; the key stays so a reader sees the step had no value
    return v


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def read_metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line]
