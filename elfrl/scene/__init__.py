"""The scene model: scene packs (`elfrl.scene/1`), fixtures, and numpy views for computation."""

from elfrl.scene.arrays import SceneArrays, scene_arrays
from elfrl.scene.io import SceneFormatError, parse_scene, read_manifest, read_scenes, write_scenes
from elfrl.scene.schema import NUM_POSES, Scene, ScoredScene

__all__ = [
    "NUM_POSES",
    "Scene",
    "SceneArrays",
    "SceneFormatError",
    "ScoredScene",
    "parse_scene",
    "read_manifest", "read_scenes",
    "scene_arrays",
    "write_scenes",
]
