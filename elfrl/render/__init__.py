"""Pictures of scene packs: a front camera (Pillow) and a bird's-eye view (`elfrl.render.bev`).

Only the camera is imported here, so that rendering frames (e.g. in data workers) does not
import matplotlib; import `plot_bev` / `save_bev` from `elfrl.render.bev`.
"""

from elfrl.render.camera import FRAME_TIMES, render_frames, render_front_camera
from elfrl.render.projection import CameraConfig

__all__ = ["FRAME_TIMES", "CameraConfig", "render_frames", "render_front_camera"]
