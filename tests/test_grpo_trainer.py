"""FeedbackGRPOTrainer's group building, end to end through TRL's own padding, log-prob and advantage code,
with a scripted rollout engine: hand-made groups, real tiny student, real scorer and analytic teacher."""

import json

import numpy as np
import pytest
import torch

from elfrl.data.cot import scene_cot
from elfrl.data.labels import gt_poses
from elfrl.data.output import format_output
from elfrl.models import build_tiny_student, load_student
from elfrl.rewards import RewardWeights
from elfrl.rollout import EngineHealth, Generation
from elfrl.rollout.engine import encode_completion
from elfrl.trainer.config import GRPOFeedbackConfig
from elfrl.trainer.recipe import build_scenes, build_trainer, build_training_args

G = 4


class ScriptedEngine:
    """Answers every base prompt with `original` and every feedback prompt with `refined`; keeps the requests."""

    def __init__(self, processor, original: str, refined: str):
        self.processor, self.original, self.refined = processor, original, refined
        self.requests = []

    def generate(self, requests, *, temperature, max_new_tokens, seed):
        out = []
        for r in requests:
            self.requests.append(r.messages)
            text = self.refined if "Feedback:" in _user_text(r.messages) else self.original
            ids = self.processor.apply_chat_template(r.messages, tokenize=True, return_dict=True,
                                                     add_generation_prompt=True)["input_ids"]
            ids = ids[0] if ids and isinstance(ids[0], list) else ids
            out.append(Generation(list(ids), encode_completion(self.processor, text), text, 0))
        return out

    def update_weights(self, version):
        pass

    def health(self):
        return EngineHealth(ok=True, backend="scripted", policy_version=0)


def _user_text(messages):
    return "".join(p.get("text") or "" for p in messages[1]["content"] if p.get("type") == "text")


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    path = tmp_path_factory.mktemp("student") / "tiny"
    build_tiny_student(path, seed=0)
    return path


@pytest.fixture(scope="module")
def stopped(generated):
    rows = [json.loads(line) for line in (generated / "manifest.jsonl").read_text().splitlines()]
    return next(r for r in rows if r["family"] == "stopped_lead")


def _trainer(student, generated, stopped, tmp_path, mode, original, refined, **extra):
    cfg = GRPOFeedbackConfig(model=student, scenes=generated, split=stopped["split"], output_dir=tmp_path,
                             feedback_mode=mode, group_size=G, num_refinements=1, beta=0.04, use_cpu=True,
                             max_steps=1, **extra)
    args = build_training_args(cfg)
    model, processor = load_student(student)
    scenes, dataset = build_scenes(cfg.scenes, cfg.split)
    engine = ScriptedEngine(processor, original, refined)
    trainer = build_trainer(cfg, args, model, processor, scenes, dataset, None, engine=engine)
    trainer.model.train()
    row = next(dataset[i] for i in range(len(dataset)) if dataset[i]["token"] == stopped["token"])
    return trainer, engine, [dict(row) for _ in range(trainer.num_generations)], scenes[stopped["token"]]


def _crash_and_truth(scene):
    gt = gt_poses(scene)
    crash = gt.copy()
    crash[:, 0] = scene.ego.vx * np.arange(1, 9) * 0.5  # constant velocity into the stopped car
    crash[:, 1:] = 0.0
    return format_output(scene_cot(scene, crash)[0], crash), format_output(scene_cot(scene)[0], gt)


def test_an_all_failing_group_has_zero_advantages_without_feedback(student, generated, stopped, tmp_path):
    trainer, engine, inputs, scene = _trainer(student, generated, stopped, tmp_path, "none", "", "")
    engine.original, _ = _crash_and_truth(scene)
    out = trainer._generate_and_score_completions(inputs)
    assert out["advantages"].shape == (G,)
    assert torch.all(out["advantages"] == 0)
    assert not out["is_refined"].any()
    assert trainer._metrics["train"]["failure/all_fail_pdms"] == [1.0]
    assert all("Feedback:" not in _user_text(m) for m in engine.requests)  # plain GRPO refines nothing


def test_an_accepted_refinement_gives_the_group_an_advantage(student, generated, stopped, tmp_path):
    trainer, engine, inputs, scene = _trainer(student, generated, stopped, tmp_path, "teacher", "", "")
    engine.original, engine.refined = _crash_and_truth(scene)
    out = trainer._generate_and_score_completions(inputs)
    assert out["is_refined"].tolist() == [False] * G + [True]
    adv = out["advantages"]
    assert adv[-1] > 0 and torch.all(adv[:G] < 0)  # z-scored over the merged group of G + 1
    assert torch.allclose(adv[:G], adv[0].expand(G))
    m = trainer._metrics["train"]
    assert m["feedback/refined_accepted"] == [1.0] and m["feedback/teacher_calls"] == [float(G)]
    feedback = [_user_text(r) for r in engine.requests if "Feedback:" in _user_text(r)]
    assert len(feedback) == G and all("Safety: at-fault collision with stopped_car" in t for t in feedback)


def test_refined_log_probs_are_under_the_base_prompt(student, generated, stopped, tmp_path):
    trainer, engine, inputs, scene = _trainer(student, generated, stopped, tmp_path, "teacher", "", "")
    engine.original, engine.refined = _crash_and_truth(scene)
    out = trainer._generate_and_score_completions(inputs)
    # By construction: the refined row carries its group's base prompt ids, not the feedback prompt it came from.
    prompt_ids, mask = out["prompt_ids"], out["prompt_mask"].bool()
    assert torch.equal(prompt_ids[-1][mask[-1]], prompt_ids[0][mask[0]])
    feedback_prompt = next(r for r in engine.requests if "Feedback:" in _user_text(r))
    fb_ids = trainer.processing_class.apply_chat_template(feedback_prompt, tokenize=True, return_dict=True,
                                                          add_generation_prompt=True)["input_ids"][0]
    assert len(fb_ids) > mask[-1].sum()  # the feedback prompt is longer: it holds the response and the report
    # And by an independent forward pass: the reference log-probs TRL computed for the refined row are
    # log pi_ref(o_fb | q_base) of the base prompt + the refined completion.
    base = prompt_ids[-1][mask[-1]]
    completion = out["completion_ids"][-1][out["completion_mask"][-1].bool()]
    ids = torch.cat([base, completion])[None]
    image = inputs[0]["images"][0]
    pixels = trainer.processing_class.image_processor(images=[image], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        logits = trainer.ref_model(input_ids=ids, pixel_values=pixels).logits[0, len(base) - 1 : -1]
    direct = torch.log_softmax(logits / trainer.temperature, -1).gather(1, completion[:, None])[:, 0]
    ref = out["ref_per_token_logps"][-1][: len(completion)]
    assert torch.allclose(ref, direct, atol=1e-5)


def test_gt_mode_injects_the_ground_truth(student, generated, stopped, tmp_path):
    trainer, engine, inputs, scene = _trainer(student, generated, stopped, tmp_path, "gt", "", "")
    engine.original, truth = _crash_and_truth(scene)
    out = trainer._generate_and_score_completions(inputs)
    assert out["is_refined"].tolist() == [False] * G + [True]
    text = trainer.processing_class.tokenizer.decode(out["completion_ids"][-1], skip_special_tokens=True)
    assert text == truth
    assert all("Feedback:" not in _user_text(m) for m in engine.requests)


def test_rule_mode_says_the_score_and_not_why(student, generated, stopped, tmp_path):
    trainer, engine, inputs, scene = _trainer(student, generated, stopped, tmp_path, "rule", "", "")
    engine.original, engine.refined = _crash_and_truth(scene)
    trainer._generate_and_score_completions(inputs)
    feedback = [_user_text(r) for r in engine.requests if "Feedback:" in _user_text(r)]
    assert len(feedback) == G
    assert all("unsafe or inefficient (PDMS 0.00 < 0.80)" in t and "Safety:" not in t for t in feedback)
    assert trainer._metrics["train"]["feedback/teacher_calls"] == [0.0]


def test_reward_weights_reach_trl(student, generated, stopped, tmp_path):
    trainer, *_ = _trainer(student, generated, stopped, tmp_path, "none", "", "",
                           rewards=RewardWeights(pdms=2.0, format=1.0, goal=0.5))
    assert trainer.reward_weights.tolist() == [2.0, 1.0, 0.5]  # pdms, format, goal: TRL sums with these


def test_no_better_refinement_fills_the_slot_with_the_best_original(student, generated, stopped, tmp_path):
    trainer, engine, inputs, scene = _trainer(student, generated, stopped, tmp_path, "teacher", "", "")
    crash, _ = _crash_and_truth(scene)
    engine.original, engine.refined = crash, "no trajectory"
    out = trainer._generate_and_score_completions(inputs)
    assert not out["is_refined"].any()  # a filler is an on-policy copy, trained with the clipped term
    assert torch.equal(out["completion_ids"][-1], out["completion_ids"][0])
    assert torch.all(out["advantages"] == 0)
    assert trainer._metrics["train"]["feedback/refined_accepted"] == [0.0]
