"""The rollout engine interface and the in-process Hugging Face engine.

    engine.generate(requests, temperature=1.2, max_new_tokens=256, seed=s)  -> [Generation]
    engine.update_weights(version)       # after each optimizer step
    engine.health()                      # EngineHealth(ok, backend, policy_version, detail)

A request is a chat (system + user messages) whose image blocks carry their PIL image
(`{"type": "image", "image": <PIL.Image>}`, TRL's `prepare_multimodal_messages` form), so the same
request goes to any backend. A generation returns the token ids of the prompt and of the
completion: the trainer trains on the generated ids and never re-tokenises decoded text.

`HFEngine` runs `model.generate` on the training model itself (CPU, tests, small GPUs): its weights
are always current, so `update_weights` only stamps the policy version. A vLLM engine (GPU, later)
implements the same three methods and pushes weights in `update_weights`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Callable, NamedTuple, Protocol, Sequence

import torch
from pydantic import BaseModel
from transformers import PreTrainedModel, ProcessorMixin


class GenerationRequest(NamedTuple):
    messages: list[dict]  # chat messages; image blocks hold their PIL image under "image"


class Generation(NamedTuple):
    prompt_ids: list[int]  # the rendered prompt, image tokens expanded
    completion_ids: list[int]  # up to and including the first end-of-turn token
    text: str  # the completion decoded without special tokens
    policy_version: int  # the weights version that produced it


class EngineHealth(BaseModel):
    ok: bool
    backend: str
    policy_version: int
    detail: str = ""


class RolloutEngine(Protocol):
    def generate(
        self, requests: Sequence[GenerationRequest], *, temperature: float, max_new_tokens: int, seed: int
    ) -> list[Generation]: ...

    def update_weights(self, version: int) -> None: ...

    def health(self) -> EngineHealth: ...


class HFEngine:
    """`model.generate` in the training process. `model_context()` yields the model ready to generate
    (the trainer passes TRL's `unwrap_model_for_generation`, which gathers ZeRO-3 shards)."""

    def __init__(
        self,
        processor: ProcessorMixin,
        model_context: Callable[[], AbstractContextManager[PreTrainedModel]],
        batch_size: int = 32,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.processor, self.model_context, self.batch_size = processor, model_context, batch_size
        self.version = 0
        tok = processor.tokenizer
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        image_token = getattr(processor, "image_token_id", None)
        # The policy must never emit an image token: it would desynchronise image features and tokens.
        self.suppress = [image_token] if image_token is not None else None

    def generate(
        self, requests: Sequence[GenerationRequest], *, temperature: float, max_new_tokens: int, seed: int
    ) -> list[Generation]:
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0: greedy), got {temperature}")
        out: list[Generation] = []
        with self.model_context() as model, torch.no_grad():
            eos = _eos_ids(model, self.processor)
            for start in range(0, len(requests), self.batch_size):
                chunk = requests[start : start + self.batch_size]
                out.extend(self._batch(model, chunk, temperature, max_new_tokens, seed + start, eos))
        return out

    def _batch(self, model, chunk, temperature, max_new_tokens, seed, eos) -> list[Generation]:
        inputs = self.processor.apply_chat_template(
            [r.messages for r in chunk], tokenize=True, return_dict=True, add_generation_prompt=True,
            return_tensors="pt", processor_kwargs={"padding": True, "padding_side": "left"},
        ).to(model.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
        if temperature > 0:
            sampling = dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0)
        else:
            sampling = dict(do_sample=False)
        devices = [model.device.index or 0] if model.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # the trainer's RNG stream is left untouched
            torch.manual_seed(seed)
            ids = model.generate(
                **inputs, max_new_tokens=max_new_tokens, pad_token_id=self.pad_id, suppress_tokens=self.suppress,
                **sampling,
            )  # [B, P + T]
        prompt_len = inputs["input_ids"].shape[1]
        result = []
        for row, mask in zip(ids.tolist(), inputs["attention_mask"].tolist()):
            prompt = [t for t, m in zip(row[:prompt_len], mask) if m]
            completion = _until_eos(row[prompt_len:], eos)
            text = self.processor.tokenizer.decode(completion, skip_special_tokens=True)
            result.append(Generation(prompt, completion, text, self.version))
        return result

    def update_weights(self, version: int) -> None:
        self.version = version  # same weights object as the trainer: nothing to copy

    def health(self) -> EngineHealth:
        return EngineHealth(ok=True, backend="hf", policy_version=self.version, detail="in-process model.generate")


def _eos_ids(model, processor) -> set[int]:
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
    if processor.tokenizer.eos_token_id is not None:
        ids.add(processor.tokenizer.eos_token_id)
    return ids


def _until_eos(tokens: list[int], eos: set[int]) -> list[int]:
    for i, t in enumerate(tokens):
        if t in eos:
            return tokens[: i + 1]
    return tokens


def encode_completion(processor: ProcessorMixin, text: str) -> list[int]:
    """Token ids of a completion written by hand (the `gt` mode's ground truth), ending with end-of-turn."""
    tok = processor.tokenizer
    return tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
