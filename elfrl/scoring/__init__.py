"""Exact, vectorised NAVSIM PDM scoring: PDMS v1.1 and EPDMS v2 (EC dropped, /14)."""

from elfrl.scoring.scorer import V1_KEYS, V2_KEYS, PDMScorer, SceneScores, TrajectoryError, VersionScores

__all__ = ["V1_KEYS", "V2_KEYS", "PDMScorer", "SceneScores", "TrajectoryError", "VersionScores"]
