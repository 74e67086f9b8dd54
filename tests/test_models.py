"""Model loading and the tiny factory: tokenizer, save -> from_pretrained parity, processors, generate, errors."""

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import processing_utils
from transformers.utils import is_torchvision_available

from elfrl.models import (
    CheckpointError,
    build_tiny_student,
    build_tiny_teacher,
    build_tokenizer,
    create_tiny_student,
    create_tiny_teacher,
    ensure_processor_compat,
    generate,
    load_student,
    load_teacher,
)
from elfrl.data.prompts import SYSTEM_PROMPT
from elfrl.models.generation import build_messages
from elfrl.models.tokenizer import TAG_TOKENS, train_bpe

ANSWER = (
    "<think>Meta action: speed decelerate, path keep lane. CIPO-1 lead vehicle 12.3 m ahead, "
    "lateral offset -0.4 m.</think><answer>[[1.23, -0.45, 0.01], [2.50, -0.90, 0.02], [3.75, -1.35, 0.03], "
    "[5.00, -1.80, 0.04], [6.25, -2.25, 0.05], [7.50, -2.70, 0.06], [8.75, -3.15, 0.07], [10.00, -3.60, -0.08]]"
    "</answer>"
)
ROLES = ["student", "teacher"]


def _image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {"student": build_tiny_student(root / "student"), "teacher": build_tiny_teacher(root / "teacher")}


@pytest.fixture(scope="module")
def loaded(checkpoints):
    return {"student": load_student(checkpoints["student"]), "teacher": load_teacher(checkpoints["teacher"])}


# ---------------------------------------------------------------- tokenizer


@pytest.mark.parametrize("family", ["internvl", "qwen3_vl"])
@pytest.mark.parametrize(
    "text",
    [ANSWER, "<think>\nstop.\n</think>\n<answer>[[0.00, 0.00, 0.00]]</answer>", "  x = -0.5e-3;  héllo ✓\t\n"],
)
def test_tokenizer_round_trips_exactly(family, text):
    tok = build_tokenizer(family)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    assert tok.decode(ids, skip_special_tokens=True) == text  # the tags are added tokens, not special


def test_tokenizer_is_compact_and_deterministic():
    tok = build_tokenizer("internvl")
    assert 800 <= len(tok) <= 1100
    for tag in TAG_TOKENS:
        assert len(tok(tag, add_special_tokens=False)["input_ids"]) == 1, tag
    assert len(tok(ANSWER, add_special_tokens=False)["input_ids"]) < len(ANSWER) / 2
    # the student's prompt wording is in the corpus: about 4 characters a token, like a real tokenizer on English
    assert len(tok(SYSTEM_PROMPT, add_special_tokens=False)["input_ids"]) < len(SYSTEM_PROMPT) / 3.5
    # Two trainings give the same vocabulary and merges, byte for byte.
    assert train_bpe().to_str() == train_bpe().to_str()
    assert build_tokenizer("internvl").get_vocab() == tok.get_vocab()


def test_tokenizer_specials_and_chat_templates():
    internvl, qwen = build_tokenizer("internvl"), build_tokenizer("qwen3_vl")
    for tok in (internvl, qwen):
        assert (tok.pad_token, tok.eos_token, tok.padding_side) == ("<|endoftext|>", "<|im_end|>", "left")
    assert internvl.convert_ids_to_tokens(internvl.context_image_token_id) == "<IMG_CONTEXT>"
    assert (internvl.start_image_token, internvl.end_image_token) == ("<img>", "</img>")
    assert internvl.video_token == "<video>"
    assert qwen.convert_ids_to_tokens(qwen.image_token_id) == "<|image_pad|>"
    assert (qwen.vision_start_token, qwen.vision_end_token) == ("<|vision_start|>", "<|vision_end|>")

    messages = build_messages("Plan.", [_image(8, 8)])
    expected = "<|im_start|>user\n<IMG_CONTEXT>\nPlan.<|im_end|>\n"
    assert internvl.apply_chat_template(messages, tokenize=False) == expected
    assert qwen.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == (
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Plan.<|im_end|>\n<|im_start|>assistant\n"
    )


# ---------------------------------------------------------------- tiny checkpoints


@pytest.mark.parametrize("role", ROLES)
def test_reload_gives_identical_logits(role, checkpoints, loaded):
    fresh_model, fresh_processor = create_tiny_student() if role == "student" else create_tiny_teacher()
    model, processor = loaded[role]
    assert type(model) is type(fresh_model) and type(processor) is type(fresh_processor)
    assert not model.training

    text = processor.apply_chat_template(build_messages("Plan the trajectory.", [_image(150, 100)]), tokenize=False)
    inputs = processor(text=[text], images=[_image(150, 100)], return_tensors="pt")
    fresh_inputs = fresh_processor(text=[text], images=[_image(150, 100)], return_tensors="pt")
    assert inputs.keys() == fresh_inputs.keys()
    for key in inputs:
        assert torch.equal(inputs[key], fresh_inputs[key]), key
    with torch.no_grad():
        assert torch.equal(model(**inputs).logits, fresh_model(**fresh_inputs).logits)
    assert model.generation_config.eos_token_id == [processor.tokenizer.eos_token_id, processor.tokenizer.pad_token_id]
    assert model.generation_config.pad_token_id == processor.tokenizer.pad_token_id


@pytest.mark.parametrize("role", ROLES)
def test_builder_is_deterministic(role, checkpoints, tmp_path):
    again = build_tiny_student(tmp_path) if role == "student" else build_tiny_teacher(tmp_path)

    def digest(path):
        return hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()

    assert digest(again) == digest(checkpoints[role])
    assert (again / "config.json").read_text() == (checkpoints[role] / "config.json").read_text()


@pytest.mark.parametrize(
    ("size", "tiles"),
    [((64, 64), 1), ((150, 100), 3), ((40, 200), 3)],  # 1 tile; 2 tiles + thumbnail; 1x2 tiles + thumbnail
)
def test_student_processor_tiles_images(size, tiles, loaded):
    model, processor = loaded["student"]
    text = processor.apply_chat_template(build_messages("Go.", [_image(*size)]), tokenize=False)
    inputs = processor(text=[text], images=[_image(*size)], return_tensors="pt")
    assert inputs["pixel_values"].shape == (tiles, 3, 64, 64)
    ids = inputs["input_ids"][0]
    assert int((ids == model.config.image_token_id).sum()) == tiles * model.config.image_seq_length == tiles * 16
    tok = processor.tokenizer
    assert int((ids == tok.start_image_token_id).sum()) == int((ids == tok.end_image_token_id).sum()) == 1


def test_teacher_processor_patches_images(loaded):
    model, processor = loaded["teacher"]
    text = processor.apply_chat_template(build_messages("Go.", [_image(150, 100)]), tokenize=False)
    inputs = processor(text=[text], images=[_image(150, 100)], return_tensors="pt")
    # 150x100 -> 160x96 (multiples of 32) -> a 10x6 grid of 16-px patches, 2x2-merged into 15 tokens.
    assert inputs["image_grid_thw"].tolist() == [[1, 6, 10]]
    assert inputs["pixel_values"].shape == (60, 3 * 2 * 16 * 16)
    assert int((inputs["input_ids"][0] == model.config.image_token_id).sum()) == 15
    assert inputs["mm_token_type_ids"].shape == inputs["input_ids"].shape


# ---------------------------------------------------------------- generate


@pytest.mark.parametrize("role", ROLES)
def test_generate_batch_with_different_prompt_lengths(role, loaded):
    model, processor = loaded[role]
    images = [_image(150, 100), [_image(64, 64, seed=1), _image(100, 150, seed=2)]]
    prompts = ["Plan.", "Plan the ego trajectory for the next 4 seconds; the lead vehicle is braking."]
    sampling = dict(max_new_tokens=6, do_sample=True, temperature=1.2, seed=3)
    sampled = generate(model, processor, images, prompts, **sampling)
    assert len(sampled) == 2 and all(isinstance(s, str) and s for s in sampled)
    assert generate(model, processor, images, prompts, **sampling) == sampled  # seeded
    # Left padding: a prompt's greedy completion does not depend on what it is batched with.
    greedy = generate(model, processor, images, prompts, max_new_tokens=6)
    assert generate(model, processor, images[:1], prompts[:1], max_new_tokens=6) == greedy[:1]
    text_only = generate(model, processor, [None, None], ["a", "b c d"], max_new_tokens=3)
    assert len(text_only) == 2 and all(isinstance(s, str) for s in text_only)


def test_generate_rejects_mismatched_inputs(loaded):
    model, processor = loaded["student"]
    with pytest.raises(ValueError, match="2 image entries for 1 prompts"):
        generate(model, processor, [None, None], ["a"], max_new_tokens=1)


def test_real_layout_with_video_processor_config_loads(checkpoints, tmp_path):
    # Real -hf checkpoints also carry a video processor config; without torchvision it is ignored.
    path = shutil.copytree(checkpoints["student"], tmp_path / "student")
    config = json.loads((path / "processor_config.json").read_text())
    video = {"video_processor_type": "InternVLVideoProcessor", "size": {"height": 64, "width": 64}}
    (path / "processor_config.json").write_text(json.dumps({**config, "video_processor": video}))
    (path / "video_preprocessor_config.json").write_text(json.dumps(video))
    _, processor = load_student(path)
    assert processor.image_processor.crop_to_patches is True


# ---------------------------------------------------------------- loading errors


def test_missing_path_says_local_only(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*never downloads.*InternVL3-8B-hf"):
        load_student(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="Qwen3-VL"):
        load_teacher("Qwen/Qwen3-VL-8B-Instruct")  # a hub id is not a local directory


def test_not_a_checkpoint_directory(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(CheckpointError, match="is a file, not a directory"):
        load_student(tmp_path / "weights.bin")
    with pytest.raises(CheckpointError, match="has no config.json"):
        load_student(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="is not a JSON object"):
        load_student(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "internvl_chat"}))
    with pytest.raises(CheckpointError, match="remote-code InternVL.*-hf"):
        load_student(tmp_path)


def test_wrong_architecture_for_role(checkpoints):
    with pytest.raises(CheckpointError, match="student checkpoint .* model_type 'qwen3_vl'; expected an InternVL"):
        load_student(checkpoints["teacher"])
    with pytest.raises(CheckpointError, match="teacher checkpoint .* model_type 'internvl'; expected a Qwen3-VL"):
        load_teacher(checkpoints["student"])


def test_dtype(checkpoints):
    model, _ = load_teacher(checkpoints["teacher"], dtype="bfloat16")
    assert model.dtype == torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype 'fp8'"):
        load_student(checkpoints["student"], dtype="fp8")


# ---------------------------------------------------------------- compat shim


@pytest.mark.skipif(is_torchvision_available(), reason="the shim only applies without torchvision")
def test_processor_compat_is_idempotent():
    from transformers import InternVLProcessor, Qwen3VLProcessor

    assert ensure_processor_compat() is True
    patched = processing_utils.ProcessorMixin.get_attributes
    assert ensure_processor_compat() is True
    assert processing_utils.ProcessorMixin.get_attributes.__func__ is patched.__func__
    assert InternVLProcessor.get_attributes() == ["image_processor", "tokenizer"]
    assert Qwen3VLProcessor.get_attributes() == ["image_processor", "tokenizer"]
