"""Read and write scene packs and scoring fixtures (JSON, optionally gzipped, or JSON lines)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Iterable, Sequence

from pydantic import ValidationError

from elfrl.scene.schema import FIXTURE_FORMAT, SCENE_FORMAT, ScoredScene

KNOWN_FORMATS = (SCENE_FORMAT, FIXTURE_FORMAT)


class SceneFormatError(ValueError):
    """A scene file that cannot be read: the message names the file, the scene and the field."""


def _open_text(path: Path, mode: str):
    if path.suffix == ".gz":
        return gzip.open(path, mode + "t", encoding="utf-8")
    return open(path, mode, encoding="utf-8")


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(part) for part in e["loc"]) or "<scene>"
        lines.append(f"  {loc}: {e['msg']}")
    return "\n".join(lines)


def parse_scene(raw: dict, where: str) -> ScoredScene:
    """Validate one scene object; the error names `where` and the scene token."""
    if not isinstance(raw, dict):
        raise SceneFormatError(f"{where}: a scene must be a JSON object, got {type(raw).__name__}")
    token = raw.get("token", "<no token>")
    try:
        return ScoredScene.model_validate(raw)
    except ValidationError as err:
        raise SceneFormatError(f"{where}, scene {token!r} is invalid:\n{_describe(err)}") from None


def _raw_scenes(path: Path) -> list[dict]:
    name = path.name.removesuffix(".gz")
    with _open_text(path, "r") as fh:
        if name.endswith(".jsonl"):
            rows = []
            for lineno, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as err:
                        raise SceneFormatError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
            return rows
        try:
            doc = json.load(fh)
        except json.JSONDecodeError as err:
            raise SceneFormatError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    if isinstance(doc, dict) and "scenes" in doc:
        fmt = doc.get("format")
        if fmt not in KNOWN_FORMATS:
            raise SceneFormatError(f"{path}: unknown format {fmt!r}; expected one of {KNOWN_FORMATS}")
        return doc["scenes"]
    if isinstance(doc, dict):
        return [doc]
    if isinstance(doc, list):
        return doc
    raise SceneFormatError(f"{path}: expected a scene object, a list of scenes or a scene pack")


def read_scenes(path: str | Path) -> list[ScoredScene]:
    """Read every scene of a scene pack, fixture file, single-scene JSON or JSON-lines file."""
    path = Path(path)
    if not path.exists():
        raise SceneFormatError(f"{path}: no such file")
    raw = _raw_scenes(path)
    if not raw:
        raise SceneFormatError(f"{path}: the file holds no scenes")
    scenes = [parse_scene(r, f"{path} [scene {i}]") for i, r in enumerate(raw)]
    tokens = [s.token for s in scenes]
    if len(set(tokens)) != len(tokens):
        dup = sorted({t for t in tokens if tokens.count(t) > 1})
        raise SceneFormatError(f"{path}: duplicate scene tokens {dup[:5]}")
    return scenes


def read_manifest(scene_dir: str | Path) -> list[dict]:
    """The rows of SCENE_DIR/manifest.jsonl (token, split, scene pack path, images, ...), one per scene."""
    path = Path(scene_dir) / "manifest.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: generate scenes with `elfrl scenes generate` or export NAVSIM logs "
            "with elfrl.scene.navsim"
        )
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_scenes(path: str | Path, scenes: Sequence[ScoredScene] | Iterable[ScoredScene]) -> Path:
    """Write a scene pack, one scene per line inside the `scenes` list (gzipped if `.gz`;
    `.jsonl` writes bare scenes, one per line)."""
    path = Path(path)
    scenes = list(scenes)
    fmt = FIXTURE_FORMAT if any(s.expected is not None for s in scenes) else SCENE_FORMAT
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.removesuffix(".gz").endswith(".jsonl"):  # JSON lines: one bare scene per line
        with _open_text(path, "w") as fh:
            fh.writelines(scene.model_dump_json(exclude_none=True) + "\n" for scene in scenes)
        return path
    with _open_text(path, "w") as fh:
        fh.write('{"format": "%s", "scenes": [\n' % fmt)
        for i, scene in enumerate(scenes):
            sep = ",\n" if i < len(scenes) - 1 else "\n"
            fh.write(scene.model_dump_json(exclude_none=True) + sep)
        fh.write("]}\n")
    return path
