"""The demo pipeline on synthetic scenes (`make demo`, after the scoring section of `elfrl.demo`):
generate scenes -> SFT rows -> SFT stage 1 -> SFT stage 2 -> feedback GRPO -> held-out table of PDMS
before and after GRPO (with each SFT stage, constant velocity and the expert on the same scenes).

Stage configs are the repository's `configs/demo/sft_stage{1,2}.yaml` and `configs/demo/grpo_feedback.yaml`,
with their data, output and start paths pointed into the demo's output folder. `smoke=True` shrinks
everything (a dozen scenes, two optimizer steps) so tests can run the same code in seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from rich.console import Console
from rich.table import Table

from elfrl.config import load_config
from elfrl.data.command import build_rows
from elfrl.models import load_student
from elfrl.trainer.config import GRPOFeedbackConfig
from elfrl.trainer.recipe import run as run_grpo
from elfrl.synth.command import generate_dataset, print_summary
from elfrl.training.sft import FINAL_DIR, SFTStageConfig, run_stage
from elfrl.training.sft_eval import (
    EVALUATION_COLUMNS,
    HeldOut,
    evaluate_answers,
    evaluate_feedback_direction,
    evaluation_rows,
    evaluation_table,
    model_responder,
)

DEMO_CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "demo"
SCENE_SEED = 1  # the demo's scenes; tests use other seeds


@dataclass(frozen=True)
class PipelineSize:
    scenes: int
    qa_per_scene: int
    overrides: tuple[str, ...]  # applied to both SFT stage configs
    grpo_overrides: tuple[str, ...]  # applied to the GRPO config
    eval_limit: Optional[int]  # held-out scenes evaluated per stage (None: the whole test split)


FULL = PipelineSize(scenes=800, qa_per_scene=1, overrides=(), grpo_overrides=(), eval_limit=100)
SMOKE = PipelineSize(scenes=12, qa_per_scene=1, overrides=("max_steps=2", "eval_steps=null", "logging_steps=1"),
                     grpo_overrides=("max_steps=2", "group_size=2", "max_completion_length=32", "save_steps=null"),
                     eval_limit=4)


def run_sft_pipeline(out: Path, size: PipelineSize = FULL, console: Optional[Console] = None,
                     workers: int = 2) -> dict:
    """Run every step into `out`; returns the evaluation per model (also written to sft_eval.json)."""
    console = console or Console()
    out = Path(out)
    scenes, data = out / "scenes", out / "sft_data"
    console.rule("synthetic scenes")
    summary = generate_dataset(size.scenes, seed=SCENE_SEED, out=scenes, workers=workers, console=console)
    print_summary(console, summary, scenes)

    console.rule("SFT rows")
    counts = build_rows(scenes, data, size.qa_per_scene, console=console)

    reports, models = {}, {}
    for stage, start in (("sft_stage1", None), ("sft_stage2", out / "sft_stage1" / FINAL_DIR)):
        console.rule(f"SFT {stage}")
        overrides = [f"dataset={data}", f"output_dir={out / stage}", *size.overrides]
        if start is not None:
            overrides.append(f"model={start}")
        cfg = load_config(SFTStageConfig, DEMO_CONFIGS / f"{stage}.yaml", overrides)
        reports[stage] = run_stage(cfg).model_dump()
        models[stage] = out / stage / FINAL_DIR

    console.rule("feedback GRPO")
    grpo_cfg = load_config(GRPOFeedbackConfig, DEMO_CONFIGS / "grpo_feedback.yaml", [
        f"model={models['sft_stage2']}", f"scenes={scenes}", f"output_dir={out / 'grpo'}",
        "eval_scenes=null", *size.grpo_overrides])  # evaluated below with the SFT stages
    grpo = run_grpo(grpo_cfg, console=console)
    models["feedback GRPO"] = out / "grpo" / FINAL_DIR

    console.rule("held-out evaluation")
    held = HeldOut.load(scenes, limit=size.eval_limit)  # loaded once for every student
    results = {}
    for name, path in models.items():
        model, processor = load_student(path)
        respond = model_responder(model, processor)
        results[name] = {"answers": evaluate_answers(respond, held)}
        if name == "sft_stage2":  # the student GRPO starts from must follow feedback (ELF-VLA §3.2)
            results[name]["feedback"] = evaluate_feedback_direction(respond, held)
    result = {"counts": counts, "stages": reports, "grpo": grpo.model_dump(), "evaluation": results}
    (out / "sft_eval.json").write_text(json.dumps(result, indent=2) + "\n")
    console.print(evaluation_table(results))
    console.print(grpo_table(results, grpo_cfg.feedback_mode))
    return result


def grpo_table(results: dict, mode: str) -> Table:
    """PDMS before and after feedback GRPO on the same held-out scenes."""
    before, after = results["sft_stage2"]["answers"], results["feedback GRPO"]["answers"]
    table = Table(title=f"feedback GRPO ({mode}) on {before['scenes']} held-out scenes")
    for col in ("", "parsable", "mean PDMS v1.1"):
        table.add_column(col, justify="left" if not col else "right")
    table.add_row("before (SFT stage 2)", f"{before['parsable']:.1%}", f"{before['pdms']:.3f}")
    table.add_row("after (feedback GRPO)", f"{after['parsable']:.1%}", f"{after['pdms']:.3f}")
    table.add_row("change", f"{after['parsable'] - before['parsable']:+.1%}", f"{after['pdms'] - before['pdms']:+.3f}")
    return table


def report_lines(result: dict) -> list[str]:
    """The pipeline's section of report.md."""
    lines = ["## The tiny student: SFT on synthetic scenes", "", "| " + " | ".join(EVALUATION_COLUMNS) + " |",
             "|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in evaluation_rows(result["evaluation"])]
    lines.append("")
    for stage, rep in result["stages"].items():
        eval_loss = "no eval" if rep["eval_loss"] is None else f"eval loss {rep['eval_loss']:.3f}"
        lines.append(f"- {stage}: {rep['steps']} steps in {rep['seconds']:.0f} s on {rep['train_rows']} rows "
                     f"({' + '.join(rep['kinds'])}), {eval_loss}; loss curve `{stage}/loss_curve.png`")
    g = result["grpo"]
    lines.append(f"- feedback GRPO ({g['feedback_mode']}): {g['steps']} steps in {g['seconds']:.0f} s on "
                 f"{g['train_scenes']} scenes; per-step metrics `grpo/metrics.jsonl`, curves `grpo/curves.png`")
    return lines + [""]
