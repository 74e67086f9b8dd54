"""Load the student (InternVL) and the teacher (Qwen3-VL) from a local checkpoint directory.

One code path for tiny and real checkpoints: `AutoModelForImageTextToText.from_pretrained(dir)`
+ `AutoProcessor.from_pretrained(dir)`, always with `local_files_only=True` (the behaviour of
`HF_HUB_OFFLINE=1`: elfrl never contacts the hub; download checkpoints beforehand).

Real checkpoints:
- Student: the transformers-native `-hf` repos, e.g. `OpenGVLab/InternVL3-8B-hf`
  (`model_type: internvl`). The original `OpenGVLab/InternVL3-8B` repos are remote-code
  (`model_type: internvl_chat`) and are rejected with a pointer to the `-hf` variant.
  InternVL3's 448-px dynamic tiling (up to 12 tiles + a thumbnail, 256 tokens each) is the
  processor's `crop_to_patches=True`, which `InternVLProcessor` applies by default.
- Teacher: `Qwen/Qwen3-VL-*` (`model_type: qwen3_vl`, or `qwen3_vl_moe` for the A3B/A22B MoE).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor, PreTrainedModel, ProcessorMixin

from elfrl.models.compat import ensure_processor_compat

log = logging.getLogger(__name__)

STUDENT_MODEL_TYPES = ("internvl",)
TEACHER_MODEL_TYPES = ("qwen3_vl", "qwen3_vl_moe")
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_EXAMPLES = {
    "student": "an InternVL `-hf` checkpoint such as OpenGVLab/InternVL3-8B-hf, or one written by "
    "elfrl.models.build_tiny_student",
    "teacher": "a Qwen3-VL checkpoint such as Qwen/Qwen3-VL-32B-Instruct, or one written by "
    "elfrl.models.build_tiny_teacher",
}


class CheckpointError(ValueError):
    """A directory that is not a usable checkpoint for the requested role."""


def load_student(
    path_or_dir: str | Path, dtype: str | torch.dtype = "float32", device: str | torch.device = "cpu"
) -> tuple[PreTrainedModel, ProcessorMixin]:
    """Load an InternVL student and its processor from a local directory (model in eval mode)."""
    return _load(path_or_dir, "student", STUDENT_MODEL_TYPES, dtype, device)


def load_teacher(
    path_or_dir: str | Path, dtype: str | torch.dtype = "float32", device: str | torch.device = "cpu"
) -> tuple[PreTrainedModel, ProcessorMixin]:
    """Load a Qwen3-VL teacher and its processor from a local directory (model in eval mode)."""
    return _load(path_or_dir, "teacher", TEACHER_MODEL_TYPES, dtype, device)


def _load(
    path_or_dir: str | Path,
    role: str,
    model_types: tuple[str, ...],
    dtype: str | torch.dtype,
    device: str | torch.device,
) -> tuple[PreTrainedModel, ProcessorMixin]:
    path = Path(path_or_dir).expanduser()
    _check_checkpoint(path, role, model_types)
    torch_dtype = _dtype(dtype)
    ensure_processor_compat()
    # The processor first: it is cheap, and a broken one should fail before minutes of weight loading.
    processor = AutoProcessor.from_pretrained(path, local_files_only=True)
    if not hasattr(processor, "image_processor"):
        raise CheckpointError(
            f"{role} checkpoint {path} has no image processor (got {type(processor).__name__}); "
            "expected processor_config.json or preprocessor_config.json next to the weights"
        )
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch_dtype, local_files_only=True)
    model = model.to(device).eval()
    n = sum(p.numel() for p in model.parameters())
    log.info("loaded %s %s from %s: %d params, %s on %s", role, type(model).__name__, path, n, torch_dtype, device)
    return model, processor


def load_weights(model: PreTrainedModel, checkpoint: str | Path) -> None:
    """Copy a saved checkpoint's weights into `model` in place (resuming a run).

    Through `from_pretrained`, not a raw `load_state_dict` of model.safetensors: InternVL saves its
    weights under renamed keys (`language_model.model.*`), which a raw load silently skips. Strict:
    a checkpoint that does not cover every weight is an error.
    """
    loaded = type(model).from_pretrained(checkpoint, dtype=next(model.parameters()).dtype, local_files_only=True)
    model.load_state_dict(loaded.state_dict(), strict=True)


def check_student_checkpoint(path: str | Path) -> None:
    """Fail now, with what to fix, if `path` is not a student checkpoint directory (before hours of work
    that would end by loading it)."""
    _check_checkpoint(Path(path).expanduser(), "student", STUDENT_MODEL_TYPES)


def _check_checkpoint(path: Path, role: str, model_types: tuple[str, ...]) -> None:
    """Fail before transformers does, with a message that says what was expected."""
    expected = f"expected {_EXAMPLES[role]} (model_type {' or '.join(model_types)})"
    if not path.exists():
        raise FileNotFoundError(
            f"{role} checkpoint {path} does not exist. elfrl loads local directories only and never "
            f"downloads; {expected}. Download it first, e.g. `hf download <repo> --local-dir DIR`."
        )
    if not path.is_dir():
        raise CheckpointError(f"{role} checkpoint {path} is a file, not a directory; {expected}")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise CheckpointError(
            f"{role} checkpoint {path} has no config.json, so it is not a Hugging Face checkpoint "
            f"directory (save_pretrained layout); {expected}"
        )
    try:
        model_type = json.loads(config_file.read_text()).get("model_type")
    except (json.JSONDecodeError, AttributeError) as err:
        raise CheckpointError(f"{role} checkpoint {config_file} is not a JSON object ({err}); {expected}") from err
    if model_type == "internvl_chat":
        raise CheckpointError(
            f"{role} checkpoint {path} is an original remote-code InternVL checkpoint (model_type "
            "internvl_chat); use the transformers-native `-hf` variant (e.g. OpenGVLab/InternVL3-8B-hf)"
        )
    if model_type not in model_types:
        raise CheckpointError(f"{role} checkpoint {path} has model_type {model_type!r}; {expected}")


def _dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {sorted(_DTYPES)} or a torch.dtype")
    return _DTYPES[dtype]
