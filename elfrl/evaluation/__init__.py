"""Rollout-and-score evaluation: the runner (`runner.py`), per-scene records, metrics, the HTML report
and hard-sample curation. Entry points: `launch/evaluate.py`, `curation/select_hard.py`."""
