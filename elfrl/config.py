"""Strict configs: one pydantic model per stage, loaded from one YAML file plus `--set` overrides.

    cfg = load_config(GRPOConfig, "configs/grpo.yaml", ["scoring.tau=0.8", "rollout.temperatures=[1.0,1.2]"])

Every mistake a person can make in a config (missing file, a top level that is not a mapping,
a misspelt key in the file or in an override, a value of the wrong type) raises one
`ConfigError` that names the file and the key, lists the valid keys and suggests the nearest.
"""

from __future__ import annotations

import argparse
import difflib
import types
import typing
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A config file or override is wrong; the message says where and how to fix it."""


class StrictModel(BaseModel):
    """Base of every config and wire model: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """Add `--config PATH` and repeatable `--set KEY=VALUE` (stored in `args.config`, `args.overrides`)."""
    parser.add_argument("--config", metavar="PATH", default=None, help="YAML config file")
    parser.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override one key, e.g. --set scoring.tau=0.8 (value parsed as YAML); repeatable",
    )


def parse_recipe_args(description: str, example: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Arguments of a `launch/` recipe: `--config PATH` (required) and `--set KEY=VALUE`. The deepspeed
    launcher's `--local_rank=N` is accepted and ignored (transformers reads LOCAL_RANK from the environment)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(parser)
    parser.add_argument("--local_rank", "--local-rank", type=int, default=-1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.config is None:
        parser.error(f"--config is required, e.g. --config {example}")
    return args


def run_recipe(main: Callable[[], object], expected: tuple[type[Exception], ...] = ()) -> None:
    """Run a recipe's `main()`. A ConfigError, or one of the `expected` errors, says what to fix: print its
    message without a traceback and exit with status 2."""
    try:
        main()
    except (ConfigError, *expected) as err:
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True).print(f"[red]error:[/red] {escape(str(err))}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None


def load_config(cls: type[M], path: str | Path | None, overrides: Sequence[str] = ()) -> M:
    """Read `path` (None: all defaults), apply `a.b=value` overrides in order, validate as `cls`."""
    where = str(path) if path is not None else "<no config file>"
    data = _read_yaml(Path(path)) if path is not None else {}
    for item in overrides:
        _apply_override(cls, data, item, where)
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise _config_error(cls, err, where) from None


def dump_config(model: BaseModel) -> str:
    """The model as YAML, in field order; `load_config` reads it back to an equal model."""
    return yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False)


# --- reading -------------------------------------------------------------------------------


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"config {path} is not valid YAML: {err}") from None
    if data is None:  # an empty file means "all defaults"
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config {path} must be a mapping of keys at the top level, got {type(data).__name__}"
        )
    return data


def _apply_override(cls: type[BaseModel], data: dict[str, Any], item: str, where: str) -> None:
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep:
        raise ConfigError(
            f"override {item!r} for {where} has no '='; write it as KEY=VALUE, e.g. scoring.tau=0.8"
        )
    parts = key.split(".")
    if not all(parts):
        raise ConfigError(f"override {item!r} for {where} has an empty key part in {key!r}")
    _check_path(cls, parts, f"in override {item!r} for {where}")
    try:
        # YAML scalars: 3 -> int, 0.1 -> float, true -> bool, [1,2] -> list, null -> None; else str.
        value = yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError as err:
        raise ConfigError(f"override {item!r} for {where}: value is not valid YAML: {err}") from None

    node = data
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            prefix = ".".join(parts[: depth + 1])
            raise ConfigError(
                f"override {item!r} for {where}: {prefix!r} holds a {type(child).__name__}, not a section"
            )
        node = child
    node[parts[-1]] = value


def _check_path(cls: type[BaseModel], parts: Sequence[str], context: str) -> None:
    """Walk `parts` through the nested models of `cls`; raise on the first key that does not exist."""
    model: type[BaseModel] | None = cls
    for depth, part in enumerate(parts):
        if model is None:  # inside a dict-valued field: its keys are data, not schema
            return
        fields = model.model_fields
        if part not in fields:
            raise ConfigError(_unknown_key_message(parts[: depth + 1], list(fields), context))
        annotation = fields[part].annotation
        model = _model_in(annotation)
        if model is None and depth < len(parts) - 1 and not _is_mapping(annotation):
            prefix = ".".join(parts[: depth + 1])
            raise ConfigError(
                f"{prefix!r} is a value, not a section, so {'.'.join(parts)!r} does not exist ({context})"
            )


# --- errors --------------------------------------------------------------------------------


def _unknown_key_message(path: Sequence[str | int], valid: list[str], context: str) -> str:
    bad = str(path[-1])
    message = f"unknown key {_dotted(path)!r} {context}; valid keys: {', '.join(valid)}"
    close = difflib.get_close_matches(bad, valid, n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    return message


def _config_error(cls: type[BaseModel], err: ValidationError, where: str) -> ConfigError:
    lines = []
    for e in err.errors():
        loc = e["loc"]
        if e["type"] == "extra_forbidden":
            parent = _model_at(cls, loc[:-1])
            valid = list(parent.model_fields) if parent is not None else []
            lines.append(_unknown_key_message(loc, valid, f"in {where}"))
        elif e["type"] == "value_error" and (not loc or _model_at(cls, loc) is not None):
            # a model-level check (several keys together): its message names the keys, the input is the section
            section = f"section {_dotted(loc)!r}" if loc else "config"
            lines.append(f"invalid {section} in {where}: {_strip_prefix(e['msg'])}")
        else:
            got = e.get("input")
            lines.append(f"invalid value for {_dotted(loc)!r} in {where}: {e['msg']} (got {got!r})")
    return ConfigError("\n".join(lines))


def _strip_prefix(msg: str) -> str:
    """pydantic prefixes a ValueError raised in a validator with 'Value error, '."""
    return msg.removeprefix("Value error, ")


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# --- walking type annotations ----------------------------------------------------------------


def _model_at(cls: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that validated the value at `loc`, or None if it is not a model."""
    annotation: Any = cls
    for part in loc:
        if isinstance(part, int):  # list / tuple element
            args = [a for a in typing.get_args(_strip_optional(annotation)) if a is not Ellipsis]
            annotation = args[0] if args else None
            continue
        model = _model_in(annotation)
        if model is None or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
    return _model_in(annotation)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    annotation = _strip_optional(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _is_mapping(annotation: Any) -> bool:
    annotation = _strip_optional(annotation)
    origin = typing.get_origin(annotation) or annotation
    return isinstance(origin, type) and issubclass(origin, dict)


def _strip_optional(annotation: Any) -> Any:
    """`X | None` -> X; other unions and plain types unchanged."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation
