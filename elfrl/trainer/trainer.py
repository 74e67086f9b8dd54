"""ELF-VLA's feedback GRPO (Alg. 1) as a subclass of TRL 1.16's GRPOTrainer.

TRL is pinned (`trl==1.16.0`) because the seams are private methods. Four overrides, nothing else:

- `_generate_and_score_completions`: stash the batch rows for `_generate`, attach `is_refined` [B].
- `_generate`: per group, G originals from the rollout engine -> scores -> feedback inputs ->
  refinements -> selection -> the group's G + N_ref rows. Whatever it returns is then padded,
  log-probed (policy, old policy, reference) and turned into advantages by TRL's own code. A
  refined row keeps its group's BASE prompt ids and image, so every log-prob of a refined
  completion is log pi(o_fb | q_base) by construction.
- `_calculate_rewards`: the merged reward matrix `_generate` computed (no second scoring pass).
  TRL then z-scores the summed reward over each group of G + N_ref (ELF-VLA: over r_union).
- `_compute_loss`: `elfrl.trainer.loss.feedback_grpo_loss` (clip on originals, shaping on refined).

TRL's `num_generations` is the group size G + N_ref; the first G rows of each group are generated
from the base prompt, the last N_ref are the slots.
"""

from __future__ import annotations

import math
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from accelerate.utils import gather
from trl import GRPOTrainer
from trl.models import unwrap_model_for_generation

from elfrl.data.prompts import base_input, feedback_messages, scene_answer
from elfrl.feedback.analytic import SceneContext
from elfrl.models.loading import load_weights
from elfrl.rewards import group_failures
from elfrl.rollout import Generation, GenerationRequest, HFEngine, RolloutEngine
from elfrl.rollout.engine import encode_completion
from elfrl.trainer.feedback import FeedbackItem, FeedbackStats, feedback_texts
from elfrl.trainer.groups import group_slices, refine_targets, select_refinements
from elfrl.trainer.loss import feedback_grpo_loss
from elfrl.trainer.scoring import REWARD_NAMES, RolloutScorer, ScoredRollouts
from elfrl.trainer.teacher import Teacher


@dataclass(frozen=True)
class FeedbackSettings:
    mode: str  # none | gt | rule | teacher
    group_size: int  # G originals per scene
    num_refinements: int  # N_ref slots per group (0 in `none` mode)
    tau: float  # PDMS at or above which a rollout is correct
    gamma: float  # policy shaping f(p) = p / (p + gamma)
    refine_scope: str  # all | failed
    accept_on: str  # pdms | total: the score a refinement must beat the best original on
    weighting: str  # split | joint (elfrl.trainer.loss)
    refine_temperature: float
    seed: int


class FeedbackGRPOTrainer(GRPOTrainer):
    def __init__(self, *args, feedback: FeedbackSettings, rollout_scorer: RolloutScorer,
                 teacher: Optional[Teacher] = None, engine: Optional[RolloutEngine] = None,
                 engine_batch_size: int = 32, max_nonfinite_steps: int = 3, **kwargs):
        super().__init__(*args, **kwargs)
        expected = feedback.group_size + feedback.num_refinements
        if self.num_generations != expected:
            raise ValueError(f"TRL num_generations must be G + N_ref = {expected}, got {self.num_generations}")
        self.fb, self.rollout_scorer, self.teacher = feedback, rollout_scorer, teacher
        self.engine = engine or HFEngine(self.processing_class, self._generation_model, engine_batch_size)
        self._contexts: dict[str, SceneContext] = {}  # per scene token, for the teacher's failure cases
        self._gt: dict[str, tuple[list[Generation], list[ScoredRollouts]]] = {}  # per scene token, `gt` mode
        self._stash_inputs = None
        self._stash_rewards: Optional[torch.Tensor] = None
        self._stash_refined: Optional[torch.Tensor] = None
        self.step_times: dict[str, float] = defaultdict(float)  # seconds per phase in this optimizer step
        self._step_wall = 0.0
        self._generated_tokens = 0  # completion tokens the engine produced in this optimizer step
        self._nonfinite = False  # this optimizer step saw a non-finite loss or gradient
        self.nonfinite_in_a_row = 0
        self.max_nonfinite_steps = max_nonfinite_steps

    # --- TRL seams -----------------------------------------------------------------------------

    def training_step(self, model, inputs, num_items_in_batch):
        start = time.perf_counter()
        loss = super().training_step(model, inputs, num_items_in_batch)  # TRL's: counts self._step
        self._step_wall += time.perf_counter() - start
        if self._step % self.current_gradient_accumulation_steps == 0:  # the optimizer steps next
            self._end_of_step(model)
        return loss

    def _generate_and_score_completions(self, inputs):
        self._stash_inputs = inputs
        out = super()._generate_and_score_completions(inputs)
        out["is_refined"] = self._stash_refined.to(out["prompt_ids"].device)
        self._stash_refined = None
        return out

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        if self._stash_rewards is None:
            raise RuntimeError("rewards requested before _generate scored the batch")
        rewards, self._stash_rewards = self._stash_rewards, None
        return gather(rewards.to(self.accelerator.device))  # [B_global, 3], groups are rank-local

    def _generate(self, prompts: list):
        training = self.model.training
        mode = "train" if training else "eval"
        n = self.num_generations if training else self.num_generations_eval
        g = self.fb.group_size if training else n
        inputs = self._stash_inputs
        groups = group_slices(len(prompts), n)
        seed = self._seed(mode)

        t0 = time.perf_counter()
        originals = self.engine.generate(
            [GenerationRequest(prompts[r]) for grp in groups for r in grp[:g]],
            temperature=self.temperature, max_new_tokens=self.max_completion_length, seed=seed,
        )
        t1 = time.perf_counter()
        self._generated_tokens += sum(len(o.completion_ids) for o in originals)
        scored = [self.rollout_scorer.score(inputs[grp.start]["token"], [o.text for o in originals[k * g:(k + 1) * g]])
                  for k, grp in enumerate(groups)]
        t2 = time.perf_counter()
        self.step_times["generate"] += t1 - t0
        self.step_times["score"] += t2 - t1

        rows: list[Generation] = [None] * len(prompts)
        rewards = np.zeros((len(prompts), len(REWARD_NAMES)))
        refined = np.zeros(len(prompts), dtype=bool)
        mine = [originals[k * g:(k + 1) * g] for k in range(len(groups))]  # each group's originals
        for k, grp in enumerate(groups):
            rows[grp.start:grp.start + g], rewards[grp.start:grp.start + g] = mine[k], scored[k].matrix()
        accepted = np.zeros(len(groups), dtype=bool)
        if training and n > g:
            candidates = self._candidates(prompts, inputs, groups, originals, scored, seed)
            for k, grp in enumerate(groups):
                for slot, (row, reward, is_refined) in zip(grp[g:], self._slots(k, n - g, mine[k], scored[k],
                                                                                 *candidates[k])):
                    rows[slot], rewards[slot], refined[slot] = row, reward, is_refined
                accepted[k] = refined[grp.start + g:grp.stop].any()

        self._stash_rewards = torch.tensor(rewards, dtype=torch.float32)
        self._stash_refined = torch.tensor(refined)
        self._log_groups(mode, scored, accepted)
        self._metrics[mode]["completions/mean_length"].append(float(np.mean([len(r.completion_ids) for r in rows])))
        completions = [[{"role": "assistant", "content": row.text}] for row in rows]
        return ([row.prompt_ids for row in rows], [row.completion_ids for row in rows], None, completions, None,
                {}, None, [])

    def _compute_loss(self, model, inputs):
        prompt_ids, prompt_mask = inputs["prompt_ids"], inputs["prompt_mask"]
        completion_ids, completion_mask = inputs["completion_ids"], inputs["completion_mask"]
        logps, _, _ = self._get_per_token_logps_and_entropies(
            model, torch.cat([prompt_ids, completion_ids], 1), torch.cat([prompt_mask, completion_mask], 1),
            completion_ids.size(1), pixel_values=inputs.get("pixel_values"),
            image_grid_thw=inputs.get("image_grid_thw"), num_images=inputs.get("num_images"),
            num_tiles=inputs.get("num_tiles"), image_sizes=inputs.get("image_sizes"),
            mm_token_type_ids=inputs.get("mm_token_type_ids"), token_type_ids=inputs.get("token_type_ids"),
        )  # [B, T] log pi_theta(o_t | q_base, o_<t), temperature-scaled as TRL does
        old = inputs.get("old_per_token_logps")
        terms = feedback_grpo_loss(
            logps, logps.detach() if old is None else old, inputs["advantages"], completion_mask,
            inputs["is_refined"], epsilon_low=self.epsilon_low, epsilon_high=self.epsilon_high,
            gamma=self.fb.gamma, beta=self.beta, ref_logps=inputs.get("ref_per_token_logps"),
            weighting=self.fb.weighting,
        )
        mode = "train" if self.model.training else "eval"
        metrics = self._metrics[mode]
        metrics["kl"].append(self._mean_over_ranks(terms.kl))
        metrics["clip_frac"].append(self._mean_over_ranks(terms.clip_frac))
        if not math.isnan(float(terms.shaped_ratio_mean)):
            metrics["shaped_ratio_mean"].append(float(terms.shaped_ratio_mean))
        metrics["policy_loss"].append(self._mean_over_ranks(terms.loss.detach()))
        loss = terms.loss
        if mode == "train" and not self._all_finite(loss):
            # NaN/inf guard: no gradient from this batch (a zero that keeps the graph); the step is skipped
            # in `_end_of_step`. The trainer stops after `max_nonfinite_steps` such steps in a row.
            self._nonfinite = True
            loss = sum(p.sum() for p in model.parameters() if p.requires_grad) * 0.0
        if mode == "train":
            loss = loss / self.current_gradient_accumulation_steps
        return loss

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        # transformers 5.23 resumes by `load_state_dict(strict=False)` on the raw file, but InternVL checkpoints
        # are saved with renamed keys (`language_model.model.*`), so nothing would load and training would
        # silently restart from the initial weights. Load through from_pretrained, which maps the keys back.
        if self.is_deepspeed_enabled or self.is_fsdp_enabled:
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        load_weights(self.accelerator.unwrap_model(model if model is not None else self.model), resume_from_checkpoint)

    # --- helpers ---------------------------------------------------------------------------------

    def _end_of_step(self, model) -> None:
        """Per optimizer step: skip it if anything was non-finite, and log the time split and tokens/s."""
        m = self._metrics["train"]
        # Gradients accumulate, so a non-finite one in any micro-batch is still non-finite here: one check per step.
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        if grads and not self.is_deepspeed_enabled and not torch.stack([g.isfinite().all() for g in grads]).all():
            self._nonfinite = True
        skipped = self._nonfinite
        if skipped:
            # Without gradients the optimizer leaves every parameter and its moments alone. Under DeepSpeed the
            # engine steps inside backward; there the zero loss above is what keeps the weights unchanged.
            model.zero_grad(set_to_none=True)
            self.nonfinite_in_a_row += 1
        else:
            self.nonfinite_in_a_row = 0
        m["nonfinite/skipped"].append(float(skipped))
        self._nonfinite = False
        phases = dict(self.step_times)
        for name in ("generate", "score", "teacher", "refine"):
            m[f"time/{name}"].append(phases.get(name, 0.0))
        m["time/update"].append(max(0.0, self._step_wall - sum(phases.values())))
        gen_s = phases.get("generate", 0.0) + phases.get("refine", 0.0)
        if gen_s > 0:
            m["tokens_per_s"].append(self._sum_over_ranks(self._generated_tokens) / gen_s)
        self.step_times.clear()
        self._step_wall, self._generated_tokens = 0.0, 0
        if self.nonfinite_in_a_row >= self.max_nonfinite_steps:
            raise NonFiniteTrainingError(
                f"{self.nonfinite_in_a_row} optimizer steps in a row had a non-finite loss or gradient (up to step "
                f"{self.state.global_step + 1}); each was skipped. Lower learning_rate, check the reward inputs, or "
                "resume from the last checkpoint"
            )

    def _all_finite(self, loss: torch.Tensor) -> bool:
        flag = torch.isfinite(loss.detach()).float().reshape(1)
        return bool(self.accelerator.gather(flag).min().item() == 1.0)

    def _generation_model(self):
        return unwrap_model_for_generation(
            self.model_wrapped, self.accelerator, gather_deepspeed3_params=self.args.ds3_gather_for_generation
        )

    def _seed(self, mode: str) -> int:
        """A sampling seed from (seed, step, rank): a resumed run samples what the uninterrupted run sampled."""
        key = f"{self.fb.seed}:{mode}:{self.state.global_step}:{self.accelerator.process_index}".encode()
        return zlib.crc32(key)

    def _context(self, token: str) -> SceneContext:
        if token not in self._contexts:
            self._contexts[token] = SceneContext.of(self.rollout_scorer.scene(token))
        return self._contexts[token]

    def _candidates(self, prompts, inputs, groups, originals, scored: list[ScoredRollouts], seed: int):
        """Per group: the candidate generations for the slots and their scores ([] when there are none)."""
        g = self.fb.group_size
        if self.fb.mode == "gt":
            self._feedback_stats(FeedbackStats(), 0)  # no teacher, no refinement: zeros, so every mode logs them
            return [self._ground_truth(inputs[grp.start]["token"]) for grp in groups]
        items, owner, requests = [], [], []
        for k, grp in enumerate(groups):
            token = inputs[grp.start]["token"]
            scene = self.rollout_scorer.scene(token)
            for i in refine_targets(scored[k].pdms, self.fb.tau, self.fb.refine_scope):
                o = originals[k * g + i]
                items.append(FeedbackItem(scene, self._context(token), o.text, scored[k], int(i),
                                          f"{token}:{self.state.global_step}:{i}"))
                owner.append(k)
        t0 = time.perf_counter()
        texts, stats = feedback_texts(items, self.fb.mode, self.fb.tau, self.teacher) if items else ([], FeedbackStats())
        t1 = time.perf_counter()
        for item, k, text in zip(items, owner, texts):
            grp = groups[k]
            image = _image_block(prompts[grp.start])
            messages = feedback_messages(base_input(item.scene), item.response, text)
            messages[1]["content"][0] = image  # the same front image as the base prompt
            requests.append(GenerationRequest(messages))
        refinements = self.engine.generate(
            requests, temperature=self.fb.refine_temperature, max_new_tokens=self.max_completion_length,
            seed=seed + 7919,
        ) if requests else []
        t2 = time.perf_counter()
        self._generated_tokens += sum(len(r.completion_ids) for r in refinements)
        per_group: list[tuple[list, list]] = [([], []) for _ in groups]
        for gen, k in zip(refinements, owner):
            token = inputs[groups[k].start]["token"]
            per_group[k][0].append(gen)
            per_group[k][1].append(self.rollout_scorer.score(token, [gen.text]))
        t3 = time.perf_counter()
        self.step_times["teacher"] += t1 - t0
        self.step_times["refine"] += t2 - t1
        self.step_times["score"] += t3 - t2
        self._feedback_stats(stats, len(requests))
        return per_group

    def _ground_truth(self, token: str) -> tuple[list[Generation], list[ScoredRollouts]]:
        """The `gt` mode's one candidate: the ground-truth answer and its score (fixed per scene, built once)."""
        if token not in self._gt:
            scene = self.rollout_scorer.scene(token)
            text = scene_answer(scene)
            gen = Generation([], encode_completion(self.processing_class, text), text, -1)  # prompt: the slot's
            self._gt[token] = ([gen], [self.rollout_scorer.score(token, [text])])
        return self._gt[token]

    def _slots(self, k: int, n_slots: int, originals: list[Generation], scored: ScoredRollouts,
               cand_gens: list[Generation], cand_scores: list[ScoredRollouts]) -> list[tuple[Generation, np.ndarray, bool]]:
        """Group k's slot rows: (generation with the group's base prompt, reward row, refined?) per slot."""
        own = getattr(scored, self.fb.accept_on)  # [G] PDMS (the paper) or total reward
        values = np.array([getattr(c, self.fb.accept_on)[0] for c in cand_scores])
        rng = np.random.default_rng([self.fb.seed, self.state.global_step, self.accelerator.process_index, k])
        out = []
        for choice in select_refinements(own, values, n_slots, rng):
            if choice.source is None:  # a copy of the best original, trained on-policy
                out.append((originals[choice.best_original], scored.matrix()[choice.best_original], False))
            else:  # scored and trained under the base prompt, whatever prompt it was generated from
                gen = cand_gens[choice.source]._replace(prompt_ids=originals[0].prompt_ids)
                out.append((gen, cand_scores[choice.source].matrix()[0], True))
        return out

    def _feedback_stats(self, stats: FeedbackStats, refinements: int) -> None:
        m = self._metrics["train"]
        m["feedback/teacher_calls"].append(self._sum_over_ranks(stats.teacher_calls))
        m["feedback/fallbacks"].append(self._sum_over_ranks(stats.fallbacks))
        m["feedback/refinements"].append(self._sum_over_ranks(refinements))

    def _log_groups(self, mode: str, scored: list[ScoredRollouts], accepted: np.ndarray) -> None:
        m = self._metrics[mode]
        pdms = np.concatenate([s.pdms for s in scored])
        m["reward/pdms"].append(self._mean_over_ranks(pdms.mean()))
        m["reward/format"].append(self._mean_over_ranks(np.concatenate([s.format for s in scored]).mean()))
        m["reward/goal"].append(self._mean_over_ranks(np.concatenate([s.goal for s in scored]).mean()))
        fails = np.array([group_failures(s.pdms, s.dac, s.nc, self.fb.tau) for s in scored], dtype=float)
        for col, name in enumerate(("all_fail_pdms", "all_fail_dac", "all_fail_nc")):
            m[f"failure/{name}"].append(self._mean_over_ranks(fails[:, col].mean()))
        if mode == "train" and self.fb.mode != "none":
            m["feedback/refined_accepted"].append(self._mean_over_ranks(accepted.mean()))


    def _mean_over_ranks(self, value) -> float:
        t = torch.as_tensor(float(value), device=self.accelerator.device)
        return self.accelerator.gather(t.reshape(1)).mean().item()

    def _sum_over_ranks(self, value) -> float:
        t = torch.as_tensor(float(value), device=self.accelerator.device)
        return self.accelerator.gather(t.reshape(1)).sum().item()


class NonFiniteTrainingError(RuntimeError):
    """Training produced non-finite losses or gradients several steps in a row."""


def _image_block(messages: list[dict]) -> dict:
    """The image block (with its PIL image) of a base prompt's user message."""
    for part in messages[1]["content"]:
        if part.get("type") == "image":
            return part
    raise ValueError("the base prompt's user message has no image block")
