"""One shim so image-only VLM processors work without torchvision.

Why: in transformers 5.x every `InternVLProcessor` / `Qwen3VLProcessor` has a `video_processor`
attribute, and transformers' video processors need torchvision. There is no CPU wheel of
torchvision on PyPI (the 0.28 wheel is a CUDA build whose `import` fails against
torch+cpu; `reference/offline_models.md` §1 pitfall 2), so on CPU machines constructing a
processor fails (`VIDEO_PROCESSOR_MAPPING has no attribute _extra_content`) and
`AutoProcessor.from_pretrained(dir)` fails (`Can't load video processor ...`).

The fix (`reference/offline_models.md` §2b): when torchvision is unavailable, drop
`video_processor` from `ProcessorMixin.get_attributes()`. Processors then construct, save
and load as image-only processors; only the video path is unavailable, and elfrl never
uses video. With torchvision installed (GPU machines) nothing is patched.
"""

from __future__ import annotations

import logging

from transformers import processing_utils
from transformers.utils import is_torchvision_available

log = logging.getLogger(__name__)

_MARK = "_elfrl_image_only"  # set on the patched function, so a second call is a no-op


def ensure_processor_compat() -> bool:
    """Apply the shim if torchvision is missing; idempotent. Returns True if the shim is active."""
    if is_torchvision_available():
        return False
    current = processing_utils.ProcessorMixin.get_attributes
    if getattr(current, _MARK, False):
        return True
    original = current.__func__  # the classmethod's underlying function

    def get_attributes(cls) -> list[str]:
        return [name for name in original(cls) if name != "video_processor"]

    setattr(get_attributes, _MARK, True)
    processing_utils.ProcessorMixin.get_attributes = classmethod(get_attributes)
    log.info("torchvision not installed: VLM processors are image-only (video_processor dropped)")
    return True

