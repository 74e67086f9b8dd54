"""Planning on top of the scorer: paths, IDM, the PDM-Closed-style reference planner."""
