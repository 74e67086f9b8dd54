"""Batched HF `generate` with the chat template: prompts + images in, completion strings out.

The HF rollout engine builds on this. Each prompt becomes one user turn (its images first,
then the text), rendered with the processor's chat template with the assistant turn opened,
left-padded into one batch. Sampling is pure temperature sampling: the checkpoint's own
top-k / top-p defaults (Qwen3-VL ships top_k=20, top_p=0.8) are switched off, so tokens come
from the policy's distribution, which GRPO's importance ratios assume.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL.Image import Image
from transformers import PreTrainedModel, ProcessorMixin


def build_messages(prompt: str, images: Sequence[Image]) -> list[dict]:
    """One user turn in the list-of-parts form the processors' chat templates read."""
    return [{"role": "user", "content": [{"type": "image"} for _ in images] + [{"type": "text", "text": prompt}]}]


@torch.no_grad()
def generate(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    images: Sequence[Image | Sequence[Image] | None],
    prompts: Sequence[str | list[dict]],
    max_new_tokens: int = 64,
    do_sample: bool = False,
    temperature: float = 1.0,
    seed: int = 0,
) -> list[str]:
    """Generate one completion per prompt; `images[i]` is prompt i's image, list of images, or None.

    A prompt is the user text, or a full list of chat messages whose image placeholders
    `{"type": "image"}` match its images (the form the SFT data is written in).

    Returns the decoded completions only (no prompt, special tokens skipped). `seed` seeds a
    forked RNG, so the caller's RNG state is untouched and a call is reproducible.
    """
    if len(images) != len(prompts):
        raise ValueError(f"got {len(images)} image entries for {len(prompts)} prompts; pass one entry per prompt")
    if do_sample and temperature <= 0:
        raise ValueError(f"temperature must be > 0 when sampling, got {temperature}")
    per_prompt = [[] if im is None else [im] if isinstance(im, Image) else list(im) for im in images]
    texts = [
        processor.apply_chat_template(
            p if isinstance(p, list) else build_messages(p, ims), tokenize=False, add_generation_prompt=True
        )
        for p, ims in zip(prompts, per_prompt)
    ]
    flat = [im for ims in per_prompt for im in ims]
    inputs = processor(text=texts, images=flat or None, padding=True, padding_side="left", return_tensors="pt")
    inputs = inputs.to(model.device)
    if "pixel_values" in inputs:
        inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
    sampling = dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0) if do_sample else dict(do_sample=False)
    devices = [model.device.index or 0] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, **sampling)  # [B, T_prompt + T_new]
    completions = out[:, inputs["input_ids"].shape[1] :]
    return processor.batch_decode(completions, skip_special_tokens=True)
