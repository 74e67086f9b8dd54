"""Tiny random-weight student (InternVL) and teacher (Qwen3-VL) checkpoints for tests and CPU runs.

Real architectures from transformers' own config classes, shrunk (configs from
`reference/offline_models.md` §2c), with the locally trained tokenizer
(`elfrl.models.tokenizer`). Each builder writes a complete checkpoint directory with
`save_pretrained` (config, weights, generation config, processor, tokenizer, chat template),
so everything downstream loads it with the same `elfrl.models.load_student/load_teacher`
(`from_pretrained(dir)`) that loads the real ones. Weights come from a fixed seed on a forked
RNG: the same arguments give the same checkpoint, and the caller's RNG state is untouched.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    GenerationConfig,
    InternVLConfig,
    InternVLForConditionalGeneration,
    InternVLProcessor,
    InternVLVisionConfig,
    PreTrainedConfig,
    PreTrainedModel,
    ProcessorMixin,
    Qwen2Config,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
    Qwen3VLProcessor,
)
from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from elfrl.models.compat import ensure_processor_compat
from elfrl.models.tokenizer import build_tokenizer

# Both tiny text models: 2 layers, hidden 64, 4 query / 2 KV heads of dim 16. Untied input and
# output embeddings, like InternVL3-8B and Qwen3-VL-8B/32B (with tied random embeddings greedy
# decoding just repeats the last prompt token).
_TEXT = dict(
    tie_word_embeddings=False,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=2048,
)
# InternVL pixel shuffle: each tile of (image_size / patch_size)^2 patches becomes a quarter as many tokens.
_DOWNSAMPLE_RATIO = 0.5


def build_tiny_student(
    out_dir: str | Path, image_size: int = 64, patch_size: int = 8, max_patches: int = 2, seed: int = 0
) -> Path:
    """Write a tiny InternVL student checkpoint to `out_dir` (see `create_tiny_student`); returns the path."""
    return _save(*create_tiny_student(image_size, patch_size, max_patches, seed), out_dir)


def build_tiny_teacher(out_dir: str | Path, seed: int = 0) -> Path:
    """Write a tiny Qwen3-VL teacher checkpoint to `out_dir` (see `create_tiny_teacher`); returns the path."""
    return _save(*create_tiny_teacher(seed), out_dir)


def create_tiny_student(
    image_size: int = 64, patch_size: int = 8, max_patches: int = 2, seed: int = 0
) -> tuple[InternVLForConditionalGeneration, InternVLProcessor]:
    """A tiny InternVL (InternVL3 layout: InternViT + MLP projector + Qwen2 text), in memory.

    Code under test should load `build_tiny_student`'s directory with `load_student` instead,
    so the real loading path is exercised; this exists to check that path against.

    Images are tiled like InternVL3's dynamic preprocessing: `crop_to_patches=True` cuts up to
    `max_patches` tiles of `image_size` px plus a thumbnail; each tile gives
    `image_seq_length = (image_size / patch_size)^2 / 4` image tokens (16 at the defaults).
    """
    if image_size % patch_size or (image_size // patch_size) % 2:
        raise ValueError(
            f"image_size {image_size} must be an even multiple of patch_size {patch_size} "
            "(pixel shuffle halves the patch grid)"
        )
    ensure_processor_compat()
    tok = build_tokenizer("internvl")
    image_seq_length = int((image_size // patch_size) ** 2 * _DOWNSAMPLE_RATIO**2)
    config = InternVLConfig(
        vision_config=InternVLVisionConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            image_size=(image_size, image_size),
            patch_size=(patch_size, patch_size),
        ),
        text_config=Qwen2Config(
            vocab_size=len(tok),
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
            **_TEXT,
        ),
        image_token_id=tok.context_image_token_id,
        image_seq_length=image_seq_length,
        downsample_ratio=_DOWNSAMPLE_RATIO,
        tie_word_embeddings=False,  # InternVLConfig's own flag (default True) decides, not the text config's
    )
    image_processor = GotOcr2ImageProcessorPil(
        size={"height": image_size, "width": image_size},
        image_mean=[0.485, 0.456, 0.406],  # ImageNet statistics, as InternVL3 uses
        image_std=[0.229, 0.224, 0.225],
        crop_to_patches=True,
        min_patches=1,
        max_patches=max_patches,
    )
    processor = InternVLProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        image_seq_length=image_seq_length,
        chat_template=tok.chat_template,
    )
    return _init_model(InternVLForConditionalGeneration, config, seed), processor


def create_tiny_teacher(seed: int = 0) -> tuple[Qwen3VLForConditionalGeneration, Qwen3VLProcessor]:
    """A tiny Qwen3-VL (ViT with 2x2 patch merging + deepstack, Qwen3 text with M-RoPE), in memory.

    Images are resized to multiples of 32 px (patch 16, merge 2) within 32^2..128^2 pixels;
    every 32x32 block is one image token.
    """
    ensure_processor_compat()
    tok = build_tokenizer("qwen3_vl")
    head_dim = _TEXT["hidden_size"] // _TEXT["num_attention_heads"]  # 16
    config = Qwen3VLConfig(
        text_config=dict(
            vocab_size=len(tok),
            head_dim=head_dim,
            # M-RoPE splits the head_dim/2 rotary frequencies over (time, height, width).
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 5e5,
                "mrope_section": [4, 2, 2],
                "mrope_interleaved": True,
            },
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
            **_TEXT,
        ),
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            patch_size=16,
            spatial_merge_size=2,
            temporal_patch_size=2,
            out_hidden_size=_TEXT["hidden_size"],
            num_position_embeddings=64,  # an 8x8 learned grid, interpolated to the image's patch grid
            deepstack_visual_indexes=[0, 1],
        ),
        image_token_id=tok.image_token_id,
        video_token_id=tok.video_token_id,
        vision_start_token_id=tok.vision_start_token_id,
        vision_end_token_id=tok.vision_end_token_id,
        tie_word_embeddings=False,
    )
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=16,
        temporal_patch_size=2,
        merge_size=2,
        size={"shortest_edge": 32 * 32, "longest_edge": 128 * 128},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    processor = Qwen3VLProcessor(image_processor=image_processor, tokenizer=tok, chat_template=tok.chat_template)
    return _init_model(Qwen3VLForConditionalGeneration, config, seed), processor


def _init_model(model_cls: type[PreTrainedModel], config: PreTrainedConfig, seed: int) -> PreTrainedModel:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_cls(config)
    text = config.get_text_config()
    # Like the Qwen checkpoints: stop at <|im_end|> or <|endoftext|>, pad with <|endoftext|>.
    model.generation_config = GenerationConfig(
        eos_token_id=[text.eos_token_id, text.pad_token_id], pad_token_id=text.pad_token_id
    )
    return model.eval()


def _save(model: PreTrainedModel, processor: ProcessorMixin, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
