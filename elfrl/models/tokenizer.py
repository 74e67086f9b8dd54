"""A small byte-level BPE tokenizer for the tiny test models, trained locally (no hub).

Real checkpoints bring their own tokenizer; this one exists so the tiny InternVL / Qwen3-VL
models have a vocabulary that looks like theirs where it matters: the same special tokens
under the same names (the processors read `tokenizer.context_image_token`,
`tokenizer.image_token`, ...), a chat template of the same shape, left padding, and a
vocabulary small enough (~1000) for fast tests but trained on driving text and on the student's own
prompt wording (elfrl.data.prompts), so prompts compress about as well as a real tokenizer
compresses English and answers like `<think>...</think><answer>[[1.23, -0.45, 0.01], ...]</answer>`
tokenize compactly. Sequence length is what a CPU step costs (attention is quadratic in it).
Recipe: `reference/offline_models.md` §2a.

Training is deterministic: a fixed corpus (the pose lines come from a seeded generator) and
`tokenizers`' BPE trainer, which breaks count ties by pair id.
"""

from __future__ import annotations

import random
from typing import Literal

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from elfrl.data.prompts import OUTPUT_INSTRUCTION, REFINE_INSTRUCTION, SYSTEM_PROMPT

Family = Literal["internvl", "qwen3_vl"]
VOCAB_SIZE = 1024

# Shared by both families (Qwen2/Qwen3 text models). Order fixes the ids: <|endoftext|> is 0.
BASE_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# InternVL-hf: the processor expands one <IMG_CONTEXT> into <img> + N x <IMG_CONTEXT> + </img>.
INTERNVL_SPECIALS = ["<img>", "</img>", "<IMG_CONTEXT>", "<video>"]
INTERNVL_NAMED = {
    "start_image_token": "<img>",
    "end_image_token": "</img>",
    "context_image_token": "<IMG_CONTEXT>",
    "video_token": "<video>",
}
# Qwen3-VL: the processor expands one <|image_pad|> into one token per merged patch.
QWEN3_VL_SPECIALS = INTERNVL_SPECIALS + ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
QWEN3_VL_NAMED = {
    "image_token": "<|image_pad|>",
    "video_token": "<|video_pad|>",
    "vision_start_token": "<|vision_start|>",
    "vision_end_token": "<|vision_end|>",
}
# The student's output tags: added (not special) tokens, so each is one id and survives
# `skip_special_tokens=True` decoding (like Qwen3's <think>).
TAG_TOKENS = ["<think>", "</think>", "<answer>", "</answer>"]

# The image placeholder each family's chat template writes for one image.
IMAGE_PLACEHOLDER = {"internvl": "<IMG_CONTEXT>\n", "qwen3_vl": "<|vision_start|><|image_pad|><|vision_end|>"}

# ChatML with list-of-parts content (the shape `processor.apply_chat_template` passes).
_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{- '__IMAGE__' -}}"
    "{%- elif part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
CHAT_TEMPLATES = {
    family: _CHAT_TEMPLATE.replace("__IMAGE__", placeholder.replace("\n", "\\n"))
    for family, placeholder in IMAGE_PLACEHOLDER.items()
}

_PHRASES = [
    "You are a driving assistant. Plan the ego vehicle trajectory for the next 4 seconds.",
    "Navigation command: go straight. Navigation command: turn left. Navigation command: turn right.",
    "Ego velocity: 5.20 m/s, acceleration: -0.35 m/s^2. History poses at 2 Hz:",
    "Output 8 poses [x, y, heading] at 0.5 s intervals in the rear-axle frame, x forward, y left.",
    "Meta action: speed decelerate, path keep lane. Meta action: speed accelerate, path turn left.",
    "Meta action: speed maintain, path change lane left. Meta action: speed stop, path turn right.",
    "Key objects: CIPO-1 lead vehicle 12.5 m ahead, lateral offset 0.3 m. CIPO-2 cut-in vehicle.",
    "The lead vehicle is braking, so the ego should decelerate and keep a safe distance.",
    "A pedestrian is crossing at the crosswalk ahead; stop before the stop line.",
    "The traffic light is red. The traffic light is green. Yield to the oncoming vehicle.",
    "Motion interaction agents: a cyclist on the right, a parked car on the left, a truck behind.",
    "Keep lane and maintain speed. Change lane right to overtake the slow vehicle.",
    "The road curves to the left; follow the lane centre. The intersection is clear; turn right.",
    "Feedback: the trajectory leaves the drivable area at 2.5 s. Correct the lateral offset.",
    "Feedback: collision with the lead vehicle at 3.0 s; decelerate to 4.0 m/s.",
    "Time to collision is too short. Ego progress is low. Comfort is violated.",
    "No collision, drivable area compliance, driving direction compliance, ego progress.",
    "The response is correct. Your answer was wrong. Refine your answer.",
]


def _pose_lines(n: int, seed: int = 0) -> list[str]:
    """Seeded answer-format lines: think text plus 8 poses with 2 decimals."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        poses = ", ".join(
            f"[{rng.uniform(0, 40):.2f}, {rng.uniform(-4, 4):.2f}, {rng.uniform(-0.6, 0.6):.2f}]" for _ in range(8)
        )
        think = rng.choice(_PHRASES)
        lines.append(f"<think>{think}</think><answer>[{poses}]</answer>")
    return lines


def _corpus() -> list[str]:
    return _PHRASES * 4 + [SYSTEM_PROMPT, OUTPUT_INSTRUCTION, REFINE_INSTRUCTION] * 4 + _pose_lines(200)


def train_bpe(vocab_size: int = VOCAB_SIZE) -> Tokenizer:
    """Train the byte-level BPE on the built-in corpus; every special of both families is in it."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=BASE_SPECIALS + QWEN3_VL_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer)
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in TAG_TOKENS])
    return tok


def build_tokenizer(family: Family) -> PreTrainedTokenizerFast:
    """The tokenizer for one tiny model family, ready for `save_pretrained`."""
    if family not in CHAT_TEMPLATES:
        raise ValueError(f"unknown model family {family!r}; expected one of {sorted(CHAT_TEMPLATES)}")
    named = INTERNVL_NAMED if family == "internvl" else QWEN3_VL_NAMED
    return PreTrainedTokenizerFast(
        tokenizer_object=train_bpe(),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=named,
        chat_template=CHAT_TEMPLATES[family],
        padding_side="left",
    )
