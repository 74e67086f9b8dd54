"""Reading a model's report: repair what is safely repairable, reject the rest with a reason.

Safe repairs only change the wrapping, never a value: code fences, text around the one JSON
object, trailing commas before a closing bracket. Anything else (truncated JSON, a wrong type,
a value outside the schema) is a `ReportParseError`; the backend retries or falls back.
"""

from __future__ import annotations

import json
import re

from pydantic import ValidationError

from elfrl.feedback import DiagnosticReport

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


class ReportParseError(ValueError):
    """The model's text is not a valid report; the message says why."""


def parse_report(text: str) -> tuple[DiagnosticReport, bool]:
    """The report in `text` and whether it needed a repair."""
    if not isinstance(text, str) or not text.strip():
        raise ReportParseError("empty model output")
    try:
        return DiagnosticReport.model_validate_json(text), False
    except ValidationError as err:
        if not _is_json_error(err):
            raise ReportParseError(f"schema violation: {_first_error(err)}") from None
    body = _outer_object(_FENCE.sub("", text.strip()))
    body = _TRAILING_COMMA.sub(r"\1", body)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as err:
        raise ReportParseError(f"not JSON even after repair: {err.msg} at position {err.pos}") from None
    try:
        return DiagnosticReport.model_validate(data), True
    except ValidationError as err:
        raise ReportParseError(f"schema violation: {_first_error(err)}") from None


def _is_json_error(err: ValidationError) -> bool:
    return any(e["type"] == "json_invalid" for e in err.errors())


def _first_error(err: ValidationError) -> str:
    e = err.errors()[0]
    return f"{'.'.join(str(p) for p in e['loc']) or 'report'}: {e['msg']}"


def _outer_object(text: str) -> str:
    """The first balanced {...} in text (strings respected), or the text itself."""
    start = text.find("{")
    if start < 0:
        return text
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        c = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
            continue
        if c == '"':
            in_string = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return text[start:]
