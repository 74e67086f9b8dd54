"""Data and prompts: the student output format and its parser."""

from elfrl.data.output import (
    N_POSES,
    ParsedOutput,
    ParseFailure,
    format_output,
    format_poses,
    parse_output,
)

__all__ = ["N_POSES", "ParsedOutput", "ParseFailure", "format_output", "format_poses", "parse_output"]
