"""Data selection scripts, e.g. picking hard and ambiguous scenes from K rollouts per scene."""
