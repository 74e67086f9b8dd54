"""Config of the `elfrl score` stage (configs/score.yaml)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from elfrl.config import StrictModel


class ScoreConfig(StrictModel):
    """`elfrl score FILE --out RESULTS.json [--config configs/score.yaml] [--set key=value]`."""

    versions: list[Literal["v1", "v2"]] = Field(
        default=["v1", "v2"], description="v1: NAVSIM v1.1 PDMS; v2: NAVSIM v2 EPDMS without EC (/14)"
    )
    details: bool = Field(default=False, description="also write what decided each sub-metric (for the teacher)")
    cache_size: int = Field(default=256, ge=1, description="scenes whose map, reference and human filter stay cached")

    @field_validator("versions")
    @classmethod
    def _versions(cls, versions: list[str]) -> list[str]:
        if not versions or len(set(versions)) != len(versions):
            raise ValueError(f"versions must list v1 and/or v2 once each, got {versions}")
        return versions
