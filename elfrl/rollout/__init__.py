"""Rollout engines: generate completions from prompts with images, behind one interface."""

from elfrl.rollout.engine import EngineHealth, Generation, GenerationRequest, HFEngine, RolloutEngine

__all__ = ["EngineHealth", "Generation", "GenerationRequest", "HFEngine", "RolloutEngine"]
