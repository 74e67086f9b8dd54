"""The strict config of `launch/grpo_feedback.py` (one YAML + `--set` overrides)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, model_validator

from elfrl.config import StrictModel
from elfrl.data.prompts import DEFAULT_TAU
from elfrl.rewards import GoalTiers, RewardWeights


class TeacherEndpoint(StrictModel):
    """The teacher service (`python -m teachers.server`); absent: the in-process analytic teacher."""

    url: str = Field(description="base URL, e.g. http://teacher-host:8100")
    token_env: Optional[str] = Field(None, description="environment variable holding the bearer token, if any")
    timeout_s: float = Field(120.0, gt=0, description="per-request timeout; after the retries the case falls back")
    max_attempts: int = Field(3, ge=1, description="attempts per batch (transport errors, 5xx, 429 are retried)")
    batch_size: int = Field(32, ge=1, description="cases per request")


class GRPOFeedbackConfig(StrictModel):
    """`deepspeed launch/grpo_feedback.py --config configs/grpo_feedback.yaml [--set key=value]`."""

    # --- what to train, on what
    model: Optional[Path] = Field(None, description="the SFT student checkpoint directory (stage 2's final/)")
    tiny: bool = Field(False, description="build the embedded random tiny student instead (smoke runs only)")
    scenes: Path = Field(description="scene directory with manifest.jsonl (elfrl scenes generate, or the NAVSIM exporter)")
    split: str = Field("train", description="manifest split to train on")
    subset: Optional[Path] = Field(
        None, description="JSONL with a `token` per line (curation/select_hard.py's subset.jsonl): train on these only"
    )
    max_scenes: Optional[int] = Field(None, ge=1, description="use the first N scenes (after subset filtering)")
    output_dir: Path = Field(description="checkpoints, final/, metrics.jsonl, summary.json, curves.png")

    # --- ELF-VLA Alg. 1
    feedback_mode: Literal["none", "gt", "rule", "teacher"] = Field(
        "teacher", description="none: plain GRPO; gt: inject the ground truth; rule: refine from rule-only "
        "feedback; teacher: refine from the teacher's report (ELF-VLA)"
    )
    group_size: int = Field(8, ge=2, description="G, original rollouts per scene (paper: 8)")
    num_refinements: int = Field(1, ge=1, description="N_ref, slots for refined samples per group (paper: 1)")
    tau: float = Field(DEFAULT_TAU, ge=0, le=1, description="PDMS at or above which a rollout is correct (paper: 0.8)")
    gamma: float = Field(0.1, gt=0, description="policy shaping f(p) = p/(p+gamma) on refined samples (paper: 0.1)")
    temperature: float = Field(1.2, gt=0, description="sampling temperature of the originals (paper: 1.2)")
    refine_temperature: Optional[float] = Field(
        None, ge=0, description="sampling temperature of the refinements; null: the same as `temperature`; 0: greedy"
    )
    refine_scope: Literal["all", "failed"] = Field(
        "all", description="all: every original gets a feedback input, correct ones rule-based positive feedback "
        "(the paper's Alg. 1); failed: only originals below tau (cheaper)"
    )
    accept_on: Literal["pdms", "total"] = Field(
        "pdms", description="a refinement joins the group when this beats the best original's (paper: PDMS)"
    )
    loss_weighting: Literal["split", "joint"] = Field(
        "split", description="split: originals averaged over n, refined over k, then added (paper eq. 6 read "
        "literally); joint: one mean over all samples"
    )
    num_iterations: int = Field(2, ge=1, description="optimizer passes over each generation batch (paper: 2)")
    beta: float = Field(0.04, ge=0, description="KL coefficient to the SFT reference (the paper does not give it)")
    epsilon: float = Field(0.2, gt=0, lt=1, description="PPO clip range of the originals")
    max_completion_length: int = Field(256, ge=8, description="new tokens per rollout and per refinement")
    rewards: RewardWeights = Field(RewardWeights(), description="weights of pdms, format and goal in the reward")
    goal_tiers: GoalTiers = Field(GoalTiers(), description="goal reward by end-point L1 distance")
    teacher: Optional[TeacherEndpoint] = Field(None, description="teacher service; null: in-process analytic teacher")

    # --- optimisation
    scenes_per_step: int = Field(1, ge=1, description="scenes (groups) per device per optimizer step")
    gradient_accumulation_steps: int = Field(1, ge=1, description="micro-batches per optimizer step")
    max_steps: int = Field(100, ge=1, description="optimizer steps")
    learning_rate: float = Field(2e-6, gt=0, description="peak learning rate (paper: 2e-6)")
    lr_scheduler_type: Literal["constant", "cosine", "linear", "constant_with_warmup"] = "constant"
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    max_nonfinite_steps: int = Field(3, ge=1, description="stop after this many non-finite steps in a row")
    seed: int = 0
    rollout_batch_size: int = Field(32, ge=1, description="prompts per generate call of the HF rollout engine")

    # --- bookkeeping and machine
    logging_steps: int = Field(1, ge=1)
    save_steps: Optional[int] = Field(None, ge=1, description="resumable checkpoint every N steps (a multiple of "
                                      "num_iterations); null: only final/")
    save_total_limit: int = Field(2, ge=1)
    resume_from_checkpoint: Optional[str] = Field(
        None, description="a checkpoint-N directory, or `latest` for the newest under output_dir"
    )
    eval_scenes: Optional[int] = Field(
        None, ge=1, description="held-out (test split) scenes scored greedily before and after training; null: none"
    )
    bf16: bool = False
    gradient_checkpointing: bool = False
    use_cpu: bool = False
    deepspeed: Optional[Path] = Field(None, description="configs/deepspeed/zero3.json for 8B; needs the gpu extra")
    report_to: Literal["none", "tensorboard", "wandb"] = "none"

    @model_validator(mode="after")
    def _check(self) -> "GRPOFeedbackConfig":
        if self.tiny == (self.model is not None):
            raise ValueError(f"set exactly one of `model` and `tiny: true`; got model={self.model} tiny={self.tiny}")
        if self.save_steps is not None and self.save_steps % self.num_iterations:
            raise ValueError(
                f"save_steps ({self.save_steps}) must be a multiple of num_iterations ({self.num_iterations}): a "
                "checkpoint between the passes over one generation batch could not resume exactly"
            )
        if self.bf16 and self.use_cpu:
            raise ValueError("bf16 needs a CUDA GPU, but use_cpu is true; set bf16=false to train on the CPU")
        return self

    @property
    def slots(self) -> int:
        """N_ref slots per group: none in plain GRPO."""
        return 0 if self.feedback_mode == "none" else self.num_refinements
