"""Models: the student (InternVL) and teacher (Qwen3-VL) loaders, tiny test checkpoints, generation."""

from elfrl.models.compat import ensure_processor_compat
from elfrl.models.generation import generate
from elfrl.models.loading import CheckpointError, load_student, load_teacher
from elfrl.models.tiny import build_tiny_student, build_tiny_teacher, create_tiny_student, create_tiny_teacher
from elfrl.models.tokenizer import build_tokenizer

__all__ = [
    "CheckpointError",
    "build_tiny_student",
    "build_tiny_teacher",
    "build_tokenizer",
    "create_tiny_student",
    "create_tiny_teacher",
    "ensure_processor_compat",
    "generate",
    "load_student",
    "load_teacher",
]
